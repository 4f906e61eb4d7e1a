// Counts response bytes of operations that carry records (`sluice_bytes_out_total`) and open SSE
// streams (`sluice_sse_streams_open`), after auth has named the operation.
import type { ServerResponse } from 'node:http';
import type { Context, MiddlewareHandler, Next } from 'hono';
import type { BytesOutMeter } from '../../metrics-traffic.js';
import type { AppEnv } from '../app-env.js';
import { READ_OPERATIONS } from '../limits/limits-middleware.js';
import { nextAnswered } from './chain.js';

export function trafficMeter(meter: BytesOutMeter): MiddlewareHandler<AppEnv> {
  return (c, next) => {
    const operation = c.get('operationId');
    const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
    if (!operation || !outgoing || !READ_OPERATIONS.has(operation)) return next();
    return metered(c, next, outgoing, operation);
  };

  async function metered(c: Context<AppEnv>, next: Next, outgoing: ServerResponse, operation: string): Promise<void> {
    meter.track(outgoing, operation);
    // Answered here whatever happens inside: the stream count looks at the response sent.
    await nextAnswered(c, next);
    if ((c.res.headers.get('content-type') ?? '').startsWith('text/event-stream') && !outgoing.destroyed) {
      meter.streamOpened(outgoing, operation);
    }
  }
}
