// The route a request matched (its method and template, `/v1/topics/:topic`), looked up once per
// request and shared by the middleware that need it (metrics, auth, stream limits, audit).
import type { Context } from 'hono';
import { matchedRoutes } from 'hono/route';

export interface MatchedRoute {
  method: string;
  path: string;
}

const cache = new WeakMap<Context, MatchedRoute | null>();

/** The last matched route that is not middleware (`ALL`), or null for 404/405. */
export function matchedRoute(c: Context): MatchedRoute | null {
  let found = cache.get(c);
  if (found !== undefined) return found;
  found = null;
  const routes = matchedRoutes(c);
  for (let i = routes.length - 1; i >= 0; i--) {
    const r = routes[i]!;
    if (r.method !== 'ALL') {
      found = r;
      break;
    }
  }
  cache.set(c, found);
  return found;
}
