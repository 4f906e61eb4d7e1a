// The schema of a `text/event-stream` response: one Server-Sent Event, as a reader parses it (the
// `event`, `data` and `id` fields; comments such as `: keepalive` are not events). OpenAPI tools
// that understand event streams (schemathesis) validate each event received against it.
import { z } from '@hono/zod-openapi';

export interface SseExample {
  event: string;
  data: string;
  id?: string;
}

/** One event of the stream; `example` shows a typical one. */
export const sseEvent = (example: SseExample) =>
  z
    .object({
      event: z.string().optional().openapi({ description: 'The event name (`message` when absent).' }),
      data: z.string().openapi({ description: 'The event payload: JSON text for every event Sluice sends.' }),
      id: z.string().optional().openapi({ description: 'The event id a reconnect sends back as `Last-Event-ID`.' }),
      retry: z.number().int().optional().openapi({ description: 'Reconnect delay in ms (sent once, first).' }),
    })
    .openapi({ description: 'One Server-Sent Event of the stream.', example });
