// Grants (Kafka's ACL model): what a key or token may do, on which names. Deny by default:
// a request is allowed only if some grant covers its resource, name and action.
import { z } from '@hono/zod-openapi';

export const Resource = z.enum(['topic', 'group', 'webhook', 'key', 'cluster']);
export type Resource = z.infer<typeof Resource>;

export const Action = z.enum(['read', 'write', 'create', 'delete', 'alter', 'describe']);
export type Action = z.infer<typeof Action>;

export const Grant = z
  .strictObject({
    resource: Resource,
    name: z
      .string()
      .min(1)
      .max(249)
      // Stored in PostgreSQL (jsonb), which cannot hold NUL; no name Sluice has contains a control character.
      .regex(/^[^\u0000-\u001f\u007f]+$/, 'must not contain control characters')
      .openapi({
        description:
          'The topic, group or key name (a webhook is named by its topic; the cluster by `cluster`). ' +
          '`*` with `literal` matches every name.',
        example: 'orders',
      }),
    pattern: z.enum(['literal', 'prefixed']).default('literal').openapi({
      description: '`literal`: exactly `name` (or every name for `*`); `prefixed`: every name starting with `name`.',
    }),
    actions: z
      .array(Action)
      .min(1)
      .max(6)
      .openapi({ description: 'Allowed actions on the matching names.', example: ['read', 'describe'] }),
  })
  .openapi('Grant');
export type Grant = z.output<typeof Grant>;

export const Grants = z.array(Grant).max(100);

/** The name cluster-wide operations are checked against (`*` and `cluster` literal match it). */
export const CLUSTER_NAME = 'cluster';

/** Every action on every name: the admin key and open (unauthenticated) access. */
export const ALL_GRANTS: readonly Grant[] = Resource.options.map((resource) => ({
  resource,
  name: '*',
  pattern: 'literal' as const,
  actions: [...Action.options],
}));

function nameMatches(grant: Grant, name: string): boolean {
  if (grant.pattern === 'prefixed') return name.startsWith(grant.name);
  return grant.name === '*' || grant.name === name;
}

/** Whether `grants` allow `action` on the resource called `name`. */
export function allows(grants: readonly Grant[], resource: Resource, name: string, action: Action): boolean {
  for (const g of grants) {
    if (g.resource === resource && g.actions.includes(action) && nameMatches(g, name)) return true;
  }
  return false;
}

/** Whether `grants` allow `action` on at least one name of `resource` (list operations, then filtered). */
export function allowsSome(grants: readonly Grant[], resource: Resource, action: Action): boolean {
  return grants.some((g) => g.resource === resource && g.actions.includes(action));
}

/** Whether every name `inner` matches is matched by `outer`. */
function nameSetCovers(outer: Grant, inner: Grant): boolean {
  if (outer.pattern === 'literal' && outer.name === '*') return true;
  if (inner.pattern === 'literal' && inner.name === '*') return false;
  if (outer.pattern === 'literal') return inner.pattern === 'literal' && inner.name === outer.name;
  return inner.name.startsWith(outer.name); // outer prefixed: a literal or a longer prefix inside it
}

/**
 * Whether `held` covers everything `requested` allows (no escalation: a key creates keys and
 * tokens only with grants it holds itself). Returns the first grant not covered, narrowed to
 * the actions it lacks, or null.
 */
export function uncovered(held: readonly Grant[], requested: readonly Grant[]): Grant | null {
  for (const r of requested) {
    // Narrowed to the actions not held, so a message names only what is missing.
    const missing = r.actions.filter(
      (action) => !held.some((h) => h.resource === r.resource && h.actions.includes(action) && nameSetCovers(h, r)),
    );
    if (missing.length > 0) return { ...r, actions: missing };
  }
  return null;
}

/** `topic:read on "orders"` — for error messages and docs. */
export function describeGrant(g: Pick<Grant, 'resource' | 'name' | 'pattern' | 'actions'>): string {
  const name =
    g.pattern === 'prefixed' ? `names starting with "${g.name}"` : g.name === '*' ? 'every name' : `"${g.name}"`;
  return `${g.resource}:${g.actions.join('+')} on ${name}`;
}
