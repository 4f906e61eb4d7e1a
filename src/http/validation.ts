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

export function describeIssues(error: z.core.$ZodError, target: string): Array<{ field: string; message: string }> {
  return error.issues.map((issue) => {
    const where = [TARGET_LABEL[target] ?? target, ...issue.path.map(String)].join('.');
    return { field: where, message: issue.message };
  });
}

/** defaultHook for OpenAPIHono: throw ApiError('bad_request') listing each invalid field. */
export const validationHook: Hook<unknown, AppEnv, string, unknown> = (result) => {
  if (result.success) return;
  const issues = describeIssues(result.error as z.core.$ZodError, result.target);
  const message = issues.map((i) => `${i.field}: ${i.message}`).join('; ');
  throw new ApiError('bad_request', message || 'invalid request', { issues });
};
