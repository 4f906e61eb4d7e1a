// Counts response bytes of operations that carry records (`sluice_bytes_out_total`) and open SSE
// streams (`sluice_sse_streams_open`), after auth has named the operation.
import type { ServerResponse } from 'node:http';
import type { MiddlewareHandler } from 'hono';
import type { BytesOutMeter } from '../../metrics-traffic.js';
import type { AppEnv } from '../app-env.js';
import { READ_OPERATIONS } from '../limits/limits-middleware.js';

export function trafficMeter(meter: BytesOutMeter): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const operation = c.get('operationId');
    const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
    if (!operation || !outgoing || !READ_OPERATIONS.has(operation)) return next();
    meter.track(outgoing, operation);
    await next();
    if ((c.res.headers.get('content-type') ?? '').startsWith('text/event-stream') && !outgoing.destroyed) {
      meter.streamOpened(outgoing, operation);
    }
  };
}
