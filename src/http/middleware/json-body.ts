// Keeps the parser's reason (with its position) when a JSON body is malformed: hono's
// validator replaces it with a fixed "Malformed JSON" text, so the error handler reads it here.
import type { HonoRequest } from 'hono';
import type { Guard } from './chain.js';

const parseErrors = new WeakMap<Request, Error>();

/** The JSON.parse error of this request's body, if parsing it failed. */
export function jsonParseError(request: Request): Error | undefined {
  return parseErrors.get(request);
}

/** c.req.json() that remembers its parse error; one function for every request (it reads `this`). */
async function jsonRememberingErrors<T>(this: HonoRequest): Promise<T> {
  const text = await this.text();
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    parseErrors.set(this.raw, e as Error);
    throw e;
  }
}

/** Replaces c.req.json() with a parse that remembers its error; the body is read only if a route asks. */
export function rememberJsonErrors(): Guard {
  return (c) => {
    c.req.json = jsonRememberingErrors;
  };
}
