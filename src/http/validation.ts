// Turns zod validation failures into the `bad_request` envelope, naming the field and what
// it accepts, so no request can fail validation with anything but a 400.
import type { Hook } from '@hono/zod-openapi';
import type { z } from 'zod';
import { ApiError } from './errors.js';
import type { AppEnv } from './app-env.js';

const TARGET_LABEL: Record<string, string> = {
  json: 'body',
  query: 'query',
  param: 'path',
  header: 'header',
  form: 'body',
  cookie: 'cookie',
};

/** The value at `path` in what was validated, or undefined when something on the way is absent. */
function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let at = data;
  for (const key of path) {
    if (at === null || typeof at !== 'object') return undefined;
    at = (at as Record<PropertyKey, unknown>)[key];
  }
  return at;
}

/**
 * One `{field, message}` per issue. A field that was left out is named as `required` (zod words it
 * "Invalid input: expected string, received undefined"); an enum adds its values, a schema's own wording follows.
 */
export function describeIssues(
  error: z.core.$ZodError,
  target: string,
  data?: unknown,
): Array<{ field: string; message: string }> {
  return error.issues.map((issue) => {
    const where = [TARGET_LABEL[target] ?? target, ...issue.path.map(String)].join('.');
    const missing = data !== undefined && issue.path.length > 0 && valueAt(data, issue.path) === undefined;
    return { field: where, message: missing ? missingMessage(issue) : issue.message };
  });
}

/** `required`, with what the field accepts when the schema says more than zod's own wording. */
function missingMessage(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_value')
    return `required: one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
  if (issue.message.startsWith('Invalid input')) return 'required';
  return `required: ${issue.message}`;
}

/** defaultHook for OpenAPIHono: throw ApiError('bad_request') listing each invalid field. */
export const validationHook: Hook<unknown, AppEnv, string, unknown> = (result) => {
  if (result.success) return;
  const issues = describeIssues(result.error as z.core.$ZodError, result.target, (result as { data?: unknown }).data);
  const message = issues.map((i) => `${i.field}: ${i.message}`).join('; ');
  throw new ApiError('bad_request', message || 'invalid request', { issues });
};
