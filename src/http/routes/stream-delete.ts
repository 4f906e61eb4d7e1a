// DELETE /v1/stream/{path} — delete a Durable Stream: its topic and data go, open readers end.
import { createRoute } from '@hono/zod-openapi';
import { requestStreamPath, streamApiError } from '../../durable-streams/stream-http.js';
import type { RouteModule } from '../app-env.js';
import { errorResponses } from '../errors.js';
import { requestLogger } from '../middleware/request-context.js';
import { registerStreamRoute, StreamPathParam } from './stream-schemas.js';

export const deleteStreamRoute = createRoute({
  method: 'delete',
  path: '/v1/stream/{path}',
  tags: ['Durable Streams'],
  operationId: 'deleteStream',
  summary: 'Delete a stream',
  description:
    'Deletes the stream’s topic (as DELETE /v1/topics/{topic} does): long-polls on it answer 404, SSE streams end, ' +
    'and offsets issued for it are refused with 410 by a stream created later at the same path.',
  request: { params: StreamPathParam },
  responses: {
    204: { description: 'Deleted' },
    ...errorResponses(400, 404, 410, 503),
  },
});

export const registerDeleteStream: RouteModule = (app) =>
  registerStreamRoute(app, deleteStreamRoute, async (c) => {
    const result = await c.get('services').durableStreams.delete(requestStreamPath(c), requestLogger(c));
    if (!result.ok) throw streamApiError(result.error);
    return c.body(null, 204);
  });
