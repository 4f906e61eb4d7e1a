// Counts response bytes of operations that carry records (`sluice_bytes_out_total`) and open SSE
// streams of every kind (`sluice_sse_streams_open`), after auth has named the operation.
import type { ServerResponse } from 'node:http';
import type { Context, MiddlewareHandler, Next } from 'hono';
import type { BytesOutMeter } from '../../metrics-traffic.js';
import type { AppEnv } from '../app-env.js';
import { READ_OPERATIONS } from '../limits/limits-middleware.js';
import { nextAnswered } from './chain.js';

/**
 * Operations that may answer with an SSE stream but carry no topic records of their own kind of
 * read: the overview stream and a Durable Stream read with `live=sse`. Their streams are counted
 * open like the others (an operator's "open SSE streams" means all of them); their bytes are not
 * in `sluice_bytes_out_total`.
 */
const OTHER_SSE_OPERATIONS: ReadonlySet<string> = new Set(['streamOverview', 'readStream']);

export function trafficMeter(meter: BytesOutMeter): MiddlewareHandler<AppEnv> {
  return (c, next) => {
    const operation = c.get('operationId');
    const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
    if (!operation || !outgoing) return next();
    if (READ_OPERATIONS.has(operation)) return metered(c, next, outgoing, operation, true);
    if (OTHER_SSE_OPERATIONS.has(operation)) return metered(c, next, outgoing, operation, false);
    return next();
  };

  async function metered(
    c: Context<AppEnv>,
    next: Next,
    outgoing: ServerResponse,
    operation: string,
    bytes: boolean,
  ): Promise<void> {
    if (bytes) meter.track(outgoing, operation);
    // Answered here whatever happens inside: the stream count looks at the response sent.
    await nextAnswered(c, next);
    if ((c.res.headers.get('content-type') ?? '').startsWith('text/event-stream') && !outgoing.destroyed) {
      meter.streamOpened(outgoing, operation);
    }
  }
}
