// fast-check arbitraries from the OpenAPI 3.1 document's JSON Schemas: values that follow
// a schema, and the same values broken in the ways clients break them (types, extras, holes).
import fc from 'fast-check';

export type JsonSchema = {
  $ref?: string;
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  minItems?: number;
  maxItems?: number;
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  minLength?: number;
  maxLength?: number;
  format?: string;
};

/** Strings that tend to break parsers, paths and databases. */
export const nastyString = fc.oneof(
  fc.constantFrom(
    '',
    ' ',
    '0',
    '-1',
    'null',
    'true',
    '{}',
    '[]',
    '../..',
    '%00',
    '\u0000',
    'é',
    '😀',
    "'; drop table topics;--",
    '${x}',
    'a'.repeat(300),
    '\uD800',
  ),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
);

/** Numbers at and beyond the edges (as JSON can carry them). */
export const nastyNumber = fc.oneof(
  fc.constantFrom(0, -1, 1, 2 ** 31, -(2 ** 31), 2 ** 53, 2 ** 63, -(2 ** 63), 1e308, -1e308, 0.5, 1e-9),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);

export class SchemaArbitraries {
  constructor(private readonly components: Record<string, JsonSchema>) {}

  private resolve(schema: JsonSchema): JsonSchema {
    let s = schema;
    for (let depth = 0; s.$ref && depth < 16; depth++)
      s = this.components[s.$ref.replace('#/components/schemas/', '')] ?? {};
    return s;
  }

  /** Values that follow `schema` (bounded in size and depth). */
  valid(schema: JsonSchema, depth = 0): fc.Arbitrary<unknown> {
    const s = this.resolve(schema);
    if (s.const !== undefined) return fc.constant(s.const);
    if (s.enum) return fc.constantFrom(...s.enum);
    const alts = s.anyOf ?? s.oneOf;
    if (alts) return fc.oneof(...alts.map((a) => this.valid(a, depth + 1)));
    if (s.allOf) return this.valid(Object.assign({}, ...s.allOf.map((a) => this.resolve(a))) as JsonSchema, depth + 1);
    const types = Array.isArray(s.type) ? s.type : s.type ? [s.type] : [];
    if (types.length === 0) return depth > 3 ? fc.constant(null) : fc.jsonValue({ maxDepth: 2 });
    return fc.oneof(...types.map((t) => this.ofType(t, s, depth)));
  }

  private ofType(type: string, s: JsonSchema, depth: number): fc.Arbitrary<unknown> {
    switch (type) {
      case 'string':
        return fc.string({ minLength: s.minLength ?? 0, maxLength: Math.min(s.maxLength ?? 24, 24) });
      case 'integer': {
        const min = s.minimum ?? (s.exclusiveMinimum !== undefined ? s.exclusiveMinimum + 1 : -1000);
        return fc.integer({ min: Math.max(min, -(2 ** 31)), max: Math.min(s.maximum ?? min + 10_000, 2 ** 31) });
      }
      case 'number':
        return fc.double({ min: s.minimum ?? -1e6, max: s.maximum ?? 1e6, noNaN: true });
      case 'boolean':
        return fc.boolean();
      case 'null':
        return fc.constant(null);
      case 'array':
        if (depth > 4) return fc.constant([]);
        return fc.array(this.valid(s.items ?? {}, depth + 1), {
          minLength: s.minItems ?? 0,
          maxLength: Math.min(s.maxItems ?? 4, 4),
        });
      case 'object': {
        if (depth > 4) return fc.constant({});
        const props = s.properties ?? {};
        const required = new Set(s.required ?? []);
        const record = fc.record(
          Object.fromEntries(Object.entries(props).map(([k, v]) => [k, this.valid(v, depth + 1)])),
          { requiredKeys: Object.keys(props).filter((k) => required.has(k)) },
        );
        if (typeof s.additionalProperties === 'object' && Object.keys(props).length === 0) {
          return fc.dictionary(fc.string({ maxLength: 12 }), this.valid(s.additionalProperties, depth + 1), {
            maxKeys: 3,
          });
        }
        return record;
      }
      default:
        return fc.constant(null);
    }
  }

  /** Like `valid`, but with one break: a wrong type, an unknown field, a missing required field, or junk. */
  broken(schema: JsonSchema, depth = 0): fc.Arbitrary<unknown> {
    const s = this.resolve(schema);
    const junk = fc.oneof(
      nastyString,
      nastyNumber,
      fc.constant(null),
      fc.boolean(),
      fc.jsonValue({ maxDepth: 3 }),
      fc.constant([]),
      fc.constant({}),
    );
    const types = Array.isArray(s.type) ? s.type : s.type ? [s.type] : [];
    if (types.includes('object') && s.properties && depth < 4) {
      const keys = Object.keys(s.properties);
      return fc.oneof(
        // one field broken recursively, the rest valid
        fc
          .tuple(this.valid(s, depth + 1), fc.constantFrom(...keys))
          .chain(([v, k]) => this.broken(s.properties![k]!, depth + 1).map((b) => ({ ...(v as object), [k]: b }))),
        // an unknown field
        fc
          .tuple(this.valid(s, depth + 1), fc.string({ minLength: 1, maxLength: 10 }), junk)
          .map(([v, k, j]) => ({ [`x_${k}`]: j, ...(v as object) })),
        // a required field missing
        this.valid(s, depth + 1).map((v) => {
          const copy = { ...(v as Record<string, unknown>) };
          const req = s.required ?? [];
          if (req.length > 0) delete copy[req[0]!];
          return copy;
        }),
        junk,
      );
    }
    if (types.includes('array') && s.items && depth < 4) {
      return fc.oneof(fc.array(this.broken(s.items, depth + 1), { minLength: 1, maxLength: 3 }), junk);
    }
    return junk;
  }
}
