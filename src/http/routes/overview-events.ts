// GET /v1/overview/events — an SSE stream of cluster snapshots (topics, groups and lag, webhooks,
// health, rates), one per SLUICE_OVERVIEW_INTERVAL_MS, each showing only what the caller may describe.
import type { ServerResponse } from 'node:http';
import { createRoute } from '@hono/zod-openapi';
import { retryFrame, shutdownFrame } from '../../delivery/sse-frame.js';
import { nodeResponseSink, webStreamSink } from '../../delivery/sse-sink.js';
import { overviewFor } from '../../overview/overview-service.js';
import type { RouteModule } from '../app-env.js';
import { ApiError, errorResponses } from '../errors.js';
import { sseEvent } from '../schemas/sse.js';

/** A client this far behind skips snapshots (the next one supersedes them) instead of queueing them. */
const MAX_BUFFERED_BYTES = 256 * 1024;

export const overviewEventsRoute = createRoute({
  method: 'get',
  path: '/v1/overview/events',
  tags: ['System'],
  operationId: 'streamOverview',
  summary: 'Stream cluster snapshots (Server-Sent Events)',
  description:
    'What the dashboard at `/ui` shows, for any client: one `event: overview` right away and then every ' +
    'SLUICE_OVERVIEW_INTERVAL_MS (default 1 s), with `data:` `{"at", "interval_ms", "health", "rates", "topics": ' +
    '[{"name", "partitions", "size_bytes", "start_offset", "end_offset", "records_in_per_sec"}], "groups": [{"name", ' +
    '"state", "generation", "members", "total_lag"}], "webhooks": [{"id", "topic", "url", "state", "lag"}], "stale"}` ' +
    '(offsets summed over partitions). Topics, groups and webhooks are those the caller may describe; `health` ' +
    '(as /readyz) and `rates` (this process: records appended and read, bytes in and out per second, SSE streams ' +
    'open) are null without `cluster:describe`. Snapshots are built once per interval for all watchers and only ' +
    'while someone watches; a slow client skips snapshots rather than queueing them. `stale` says when groups and ' +
    'webhooks are the last known because Postgres did not answer. Shutdown ends it with `event: shutdown`.',
  responses: {
    200: {
      description: 'The event stream',
      content: {
        'text/event-stream': {
          schema: sseEvent({ event: 'overview', data: '{"at":1700000000000,"interval_ms":1000,"topics":[]}' }),
        },
      },
    },
    ...errorResponses(401, 503),
  },
});

export const registerOverviewEvents: RouteModule = (app) =>
  app.openapi(overviewEventsRoute, (c) => {
    const services = c.get('services');
    if (services.streams.closing) {
      throw new ApiError('unavailable', 'server is shutting down; reconnect shortly', {}, { 'retry-after': '1' });
    }
    const grants = c.get('principal').grants;
    const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
    const { sink, body } =
      outgoing && typeof outgoing.write === 'function' ? nodeResponseSink(outgoing) : webStreamSink();
    const retryMs = services.config.sseRetryMs;
    sink.write(retryFrame(retryMs));
    let unsubscribe: (() => void) | undefined;
    let unregister: (() => void) | undefined;
    const finish = (): void => {
      unsubscribe?.();
      unregister?.();
    };
    try {
      unregister = services.streams.register({
        description: 'sse overview',
        close: () => {
          unsubscribe?.();
          if (!sink.closed) sink.write(shutdownFrame(retryMs));
          sink.end();
        },
      });
    } catch {
      sink.write(shutdownFrame(retryMs));
      sink.end();
    }
    sink.onClose(finish);
    if (!sink.closed && unregister) {
      unsubscribe = services.overview.subscribe((snapshot) => {
        if (sink.closed || sink.bufferedBytes() > MAX_BUFFERED_BYTES) return;
        sink.write(Buffer.from(`event: overview\ndata: ${JSON.stringify(overviewFor(snapshot, grants))}\n\n`));
      });
    }
    return new Response(body, {
      status: 200,
      headers: {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        'x-accel-buffering': 'no',
      },
    });
  });
