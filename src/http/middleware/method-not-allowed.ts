// Distinguishes "no such path" (404) from "path exists, wrong method" (405 with Allow)
// by matching the request path against every registered route template.
import type { Hono } from 'hono';

interface Template {
  regex: RegExp;
  method: string;
}

/** Build a function returning the methods registered for a path (empty: unknown path). */
export function allowedMethodsResolver(app: Hono<never>): (path: string) => string[] {
  let templates: Template[] | undefined;
  return (path) => {
    templates ??= app.routes
      .filter((r) => r.method !== 'ALL')
      .map((r) => ({ method: r.method.toUpperCase(), regex: templateToRegex(r.path) }));
    const methods = new Set<string>();
    for (const t of templates) if (t.regex.test(path)) methods.add(t.method);
    if (methods.has('GET')) methods.add('HEAD');
    return [...methods].sort();
  };
}

function templateToRegex(template: string): RegExp {
  const parts = template.split('/').map((segment) => {
    if (segment === '*') return '.*';
    if (segment.startsWith(':')) return '[^/]+';
    return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  });
  return new RegExp(`^${parts.join('/')}/?$`);
}
