// Final touches on the generated OpenAPI document so it says exactly what the server accepts
// and serves well with generators' default options (openapi-typescript, openapi-fetch,
// schemathesis): required non-null path parameters, no `null` for coerced query numbers,
// request bodies whose defaults stay optional, optional bodies where `{}` is valid, limits
// from the running configuration, and links that chain a created resource into its uses.

type Json = Record<string, unknown>;
type Schema = Json & { $ref?: string; properties?: Record<string, Json>; required?: string[]; type?: unknown };
interface Parameter {
  name: string;
  in: string;
  required?: boolean;
  schema?: Schema;
  description?: string;
}
interface Operation {
  operationId?: string;
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content?: Record<string, { schema?: Schema }> };
  responses?: Record<string, Json & { links?: Record<string, Json> }>;
}
interface Document {
  paths?: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, Schema>; links?: Record<string, Json> };
}

/** Limits of the running server that the document states as schema maxima. */
export interface DocumentLimits {
  maxPartitions: number;
  longPollMaxMs: number;
}

/**
 * Group names as the server accepts them: Kafka's name characters, not starting with the
 * reserved `__` (written without a lookahead so every regex engine can generate from it).
 */
export const GROUP_NAME_JSON_PATTERN = '^(?:[a-zA-Z0-9.-][a-zA-Z0-9._-]{0,248}|_[a-zA-Z0-9.-][a-zA-Z0-9._-]{0,247}|_)$';

/** Query parameters that exclude each other, per operation. */
const EXCLUSIVE: Record<string, Record<string, string>> = {
  readRecords: { offset: 'timestamp', timestamp: 'offset' },
  streamTopicEvents: { from: 'timestamp', timestamp: 'from' },
  streamPartitionEvents: { from: 'timestamp', timestamp: 'from' },
};

const GROUP_CURSOR_PARAMS = new Set(['cursor', 'last_event_id', 'Last-Event-ID', 'last-event-id']);
const GROUP_CURSOR_OPS = new Set(['fetchGroupRecords', 'leaveGroup', 'streamGroupEvents']);

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

function* operations(doc: Document): Generator<[string, string, Operation]> {
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const method of METHODS) {
      const op = item[method];
      if (op) yield [path, method, op];
    }
  }
}

/** `["integer", "null"]` → `"integer"`: a query or path value is never JSON null. */
function dropNull(schema: Schema): void {
  if (Array.isArray(schema.type)) {
    const types = (schema.type as string[]).filter((t) => t !== 'null');
    schema.type = types.length === 1 ? types[0] : types;
  }
}

function hasDefault(schema: unknown, components: Record<string, Schema>, seen = new Set<string>()): boolean {
  if (!schema || typeof schema !== 'object') return false;
  const s = schema as Schema;
  if (typeof s.$ref === 'string') {
    const name = s.$ref.replace('#/components/schemas/', '');
    if (seen.has(name)) return false;
    seen.add(name);
    return hasDefault(components[name], components, seen);
  }
  if ('default' in s) return true;
  return Object.values(s).some((v) =>
    Array.isArray(v) ? v.some((x) => hasDefault(x, components, seen)) : hasDefault(v, components, seen),
  );
}

/**
 * Inline (deeply) every component a request body reaches that carries a `default`: tools place
 * request-body schemas under the operation, where a default keeps the field optional, whereas
 * a shared component's default makes generators (openapi-typescript's defaultNonNullable) mark
 * the field required.
 */
function inlineDefaults(schema: unknown, components: Record<string, Schema>): unknown {
  if (Array.isArray(schema)) return schema.map((x) => inlineDefaults(x, components));
  if (!schema || typeof schema !== 'object') return schema;
  const s = schema as Schema;
  if (typeof s.$ref === 'string' && hasDefault(s, components)) {
    const target = components[s.$ref.replace('#/components/schemas/', '')];
    const { $ref: _ref, ...rest } = s;
    return { ...(inlineDefaults(structuredClone(target), components) as Schema), ...rest };
  }
  return Object.fromEntries(Object.entries(s).map(([k, v]) => [k, inlineDefaults(v, components)]));
}

function collectRefs(value: unknown, into: Set<string>): void {
  if (Array.isArray(value)) value.forEach((v) => collectRefs(v, into));
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === '$ref' && typeof v === 'string') into.add(v.replace('#/components/schemas/', ''));
      else collectRefs(v, into);
    }
  }
}

/** Remove components nothing refers to any more (after inlining). */
function pruneComponents(doc: Document): void {
  const schemas = doc.components?.schemas;
  if (!schemas) return;
  for (;;) {
    const used = new Set<string>();
    collectRefs(doc.paths, used);
    for (const [name, s] of Object.entries(schemas)) if (used.has(name) || name === 'Error') collectRefs(s, used);
    const unused = Object.keys(schemas).filter((n) => !used.has(n) && n !== 'Error');
    if (unused.length === 0) return;
    for (const n of unused) delete schemas[n];
  }
}

function resolve(schema: Schema | undefined, components: Record<string, Schema>): Schema | undefined {
  if (schema?.$ref) return components[schema.$ref.replace('#/components/schemas/', '')];
  return schema;
}

/** A link from a creating operation's response to an operation taking the created name/id. */
interface LinkRule {
  from: string;
  status: string;
  /** Path parameter → runtime expression. */
  parameters: Record<string, string>;
  /** Link only to operations whose path parameters are exactly these (plus ones the link sets). */
  description: string;
}

const LINK_RULES: LinkRule[] = [
  {
    from: 'createTopic',
    status: '201',
    parameters: { topic: '$response.body#/name' },
    description: 'The topic just created',
  },
  {
    from: 'createWebhook',
    status: '201',
    parameters: { id: '$response.body#/id' },
    description: 'The webhook just created',
  },
  {
    from: 'joinGroup',
    status: '201',
    parameters: { group: '$request.path.group', member: '$response.body#/member_id' },
    description: 'The member that just joined',
  },
];

function addLinks(doc: Document): void {
  const ops = [...operations(doc)];
  for (const rule of LINK_RULES) {
    const source = ops.find(([, , op]) => op.operationId === rule.from)?.[2];
    const response = source?.responses?.[rule.status];
    if (!source || !response) continue;
    const links: Record<string, Json> = {};
    for (const [, , op] of ops) {
      if (!op.operationId || op === source) continue;
      const pathParams = (op.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name);
      const keys = Object.keys(rule.parameters);
      // Every path parameter must come from the link, and the link's defining one must be used.
      if (pathParams.length === 0 || !pathParams.every((p) => keys.includes(p))) continue;
      if (!pathParams.includes(keys[keys.length - 1]!)) continue;
      links[op.operationId] = {
        operationId: op.operationId,
        parameters: Object.fromEntries(pathParams.map((p) => [p, rule.parameters[p]])),
        description: `${rule.description}: ${op.operationId}`,
      };
    }
    if (Object.keys(links).length > 0) response.links = { ...response.links, ...links };
  }
}

/** Apply every refinement in place and return the document. */
export function refineOpenApiDocument<D>(document: D, limits: DocumentLimits): D {
  const doc = document as Document;
  const components = doc.components?.schemas ?? {};
  for (const [, , op] of operations(doc)) {
    // Node's HTTP parser refuses a request line plus headers over 32 KiB before any route runs:
    // say so on every operation.
    if (op.responses && !op.responses['431']) {
      op.responses['431'] = {
        description: 'The URL or headers are larger than the server accepts (32 KiB in all); nothing was done.',
        content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
      };
    }
    for (const p of op.parameters ?? []) {
      if (p.in === 'path') p.required = true;
      if (p.schema && (p.in === 'path' || p.in === 'query' || p.in === 'header')) dropNull(p.schema);
      if (p.in === 'query' && p.name === 'wait_ms' && p.schema) p.schema.maximum = limits.longPollMaxMs;
      if (p.in === 'path' && p.name === 'group' && p.schema) p.schema.pattern = GROUP_NAME_JSON_PATTERN;
      // Mutually exclusive query parameters (400 when both are given): said on both sides,
      // as JSON Schema cannot relate two parameters.
      const exclusive = p.in === 'query' && op.operationId ? EXCLUSIVE[op.operationId]?.[p.name] : undefined;
      if (exclusive && p.schema) {
        const text = `Not allowed together with \`${exclusive}\` (400).`;
        const current = p.description ?? (p.schema['description'] as string | undefined) ?? '';
        if (!current.includes(`\`${exclusive}\``)) {
          p.schema['description'] = `${current} ${text}`.trim();
          if (p.description !== undefined) p.description = p.schema['description'] as string;
        }
      }
      // Group cursors are `g1.` + base64url; anything else is refused (400) before it is decoded.
      if (GROUP_CURSOR_PARAMS.has(p.name) && op.operationId && GROUP_CURSOR_OPS.has(op.operationId) && p.schema) {
        p.schema.pattern = '^g1\\.[A-Za-z0-9_-]+$';
      }
    }
    for (const media of Object.values(op.requestBody?.content ?? {})) {
      if (media.schema) media.schema = inlineDefaults(media.schema, components) as Schema;
      const body = resolve(media.schema, components);
      for (const name of ['partitions'] as const) {
        const prop = body?.properties?.[name];
        if (prop && (prop.type === 'integer' || prop.type === 'number')) prop.maximum = limits.maxPartitions;
      }
      // No body is read as `{}`: where that is valid, the body is optional.
      if (op.requestBody && body?.type === 'object' && (body.required ?? []).length === 0) {
        op.requestBody.required = false;
      }
    }
  }
  // `value` is any JSON value including null (zod's unknown), which JSON Schema output leaves
  // optional; the server refuses a record without one.
  const produceRecord = components['ProduceRecord'];
  if (produceRecord?.properties?.['value'] && !(produceRecord.required ?? []).includes('value')) {
    produceRecord.required = [...(produceRecord.required ?? []), 'value'];
  }
  pruneComponents(doc);
  addLinks(doc);
  return document;
}
