// What the key may do, judged in the page exactly as the server does (src/auth/grants.ts), so
// buttons for refused actions are disabled with the reason instead of failing after a click.
export type Resource = 'topic' | 'group' | 'webhook' | 'key' | 'cluster';
export type Action = 'read' | 'write' | 'create' | 'delete' | 'alter' | 'describe';

export interface Grant {
  resource: Resource;
  name: string;
  pattern: 'literal' | 'prefixed';
  actions: Action[];
}

const matches = (g: Grant, name: string): boolean =>
  g.pattern === 'prefixed' ? name.startsWith(g.name) : g.name === '*' || g.name === name;

export function allows(grants: readonly Grant[], resource: Resource, name: string, action: Action): boolean {
  return grants.some((g) => g.resource === resource && g.actions.includes(action) && matches(g, name));
}

export function allowsSome(grants: readonly Grant[], resource: Resource, action: Action): boolean {
  return grants.some((g) => g.resource === resource && g.actions.includes(action));
}

/** The reason shown on a disabled control. */
export const needs = (resource: Resource, action: Action, name?: string): string =>
  `your key lacks ${resource}:${action}${name === undefined ? '' : ` on ${JSON.stringify(name)}`}`;
