// Keeps the parser's reason (with its position) when a JSON body is malformed: hono's
// validator replaces it with a fixed "Malformed JSON" text, so the error handler reads it here.
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../app-env.js';

const parseErrors = new WeakMap<Request, Error>();

/** The JSON.parse error of this request's body, if parsing it failed. */
export function jsonParseError(request: Request): Error | undefined {
  return parseErrors.get(request);
}

/** Replaces c.req.json() with a parse that remembers its error; the body is read only if a route asks. */
export function rememberJsonErrors(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const req = c.req;
    req.json = async <T>() => {
      const text = await req.text();
      try {
        return JSON.parse(text) as T;
      } catch (e) {
        parseErrors.set(req.raw, e as Error);
        throw e;
      }
    };
    await next();
  };
}
