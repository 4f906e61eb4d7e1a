// The request pipeline as one middleware instead of a dozen: checks run in order as plain
// calls, and middleware nest directly, so a request pays no promise per layer for the layers
// it merely passes through (hono's compose makes two per layer, and more under async hooks).
import type { Context, MiddlewareHandler, Next } from 'hono';
import type { AppEnv } from '../app-env.js';
import { onError } from '../error-handler.js';

/** A check that refuses a request by throwing (an ApiError), or returns to let it through. */
export type Guard = (c: Context<AppEnv>) => void;

/** Runs `guards` as a middleware: each in order, then the next middleware. */
export function guards(...checks: Guard[]): MiddlewareHandler<AppEnv> {
  return (c, next) => {
    for (const check of checks) check(c);
    return next();
  };
}

/**
 * One middleware running `steps` nested in order, as hono would run them as separate `use()`s,
 * with one difference: an error thrown inside a step's `next()` reaches that step as an
 * exception (hono would already have turned it into `c.res`) and is answered where the chain
 * was registered. So a step may look at `c.res` after `next()` only through `nextAnswered`,
 * and a step may end a request only by throwing (a Response it returns reaches hono only when
 * every step before it returns its `next()` as is).
 */
export function chain(...steps: MiddlewareHandler<AppEnv>[]): MiddlewareHandler<AppEnv> {
  const run = (i: number, c: Context<AppEnv>, next: Next): ReturnType<MiddlewareHandler<AppEnv>> =>
    i === steps.length ? next() : steps[i]!(c, () => run(i + 1, c, next) as Promise<void>);
  return (c, next) => run(0, c, next);
}

/**
 * `next()` with hono's own handling of what it throws (c.error, the error envelope as `c.res`),
 * for a chain step that changes the response afterwards, whatever it is (CORS headers).
 */
export async function nextAnswered(c: Context<AppEnv>, next: Next): Promise<void> {
  try {
    await next();
  } catch (err) {
    if (!(err instanceof Error)) throw err;
    c.error = err;
    c.res = await onError(err, c);
  }
}
