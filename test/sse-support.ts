// Helpers for the SSE black-box tests: real EventSource clients that record what they get,
// producing over HTTP, and a TCP proxy whose connections can be cut to force a reconnect.
import net from 'node:net';
import { EventSource } from 'eventsource';

export interface Received {
  type: string;
  data: string;
  id: string;
}

export interface RecordJson {
  topic: string;
  partition: number;
  offset: number;
  key: string | null;
  value: unknown;
  headers: Record<string, string>;
}

/** An EventSource that keeps every named event it receives, in order. */
export interface Listener {
  readonly es: EventSource;
  readonly events: Received[];
  /** Parsed `record` events (and the records inside `records` events). */
  records(): RecordJson[];
  /** Connection opens seen (1 + reconnects). */
  opens: number;
  close(): void;
}

export function listen(url: string, options: { lastEventId?: string; types?: string[] } = {}): Listener {
  const types = options.types ?? ['record', 'records', 'gap', 'error', 'shutdown'];
  const es = new EventSource(url, {
    fetch: (input, init) =>
      fetch(input, {
        ...init,
        headers: {
          ...(init?.headers as Record<string, string>),
          ...(options.lastEventId ? { 'Last-Event-ID': options.lastEventId } : {}),
        },
      }),
  });
  const listener: Listener = {
    es,
    events: [],
    opens: 0,
    records: () =>
      listener.events.flatMap((e) =>
        e.type === 'record'
          ? [JSON.parse(e.data) as RecordJson]
          : e.type === 'records'
            ? (JSON.parse(e.data) as RecordJson[])
            : [],
      ),
    close: () => es.close(),
  };
  es.addEventListener('open', () => listener.opens++);
  for (const type of types) {
    es.addEventListener(type, (event) => {
      // Connection failures also arrive as 'error' (without data): keep only server events.
      if (!('data' in event) || typeof event.data !== 'string') return;
      listener.events.push({ type, data: event.data, id: event.lastEventId });
    });
  }
  return listener;
}

export async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export async function produce(
  baseUrl: string,
  topic: string,
  records: Array<{
    value: unknown;
    key?: string;
    partition?: number;
    headers?: Record<string, string>;
    timestamp?: number;
  }>,
): Promise<Array<{ partition: number; offset: number }>> {
  const res = await fetch(`${baseUrl}/v1/topics/${topic}/records`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ records }),
  });
  const body = (await res.json()) as { offsets: Array<{ partition: number; offset: number }> };
  if (res.status !== 200) throw new Error(`produce failed: ${res.status} ${JSON.stringify(body)}`);
  return body.offsets;
}

export async function createTopic(
  baseUrl: string,
  name: string,
  partitions = 1,
  config: Record<string, unknown> = {},
): Promise<void> {
  const res = await fetch(`${baseUrl}/v1/topics`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name, partitions, config: { durability: 'write', ...config } }),
  });
  if (res.status !== 201) throw new Error(`create topic failed: ${res.status} ${await res.text()}`);
}

/** A TCP proxy to `targetPort` on 127.0.0.1; `cut()` drops every connection (the client sees a network failure). */
export async function startProxy(targetPort: number): Promise<{ port: number; cut(): void; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const cut = (): void => {
    for (const s of sockets) s.destroy();
  };
  return {
    port: (server.address() as net.AddressInfo).port,
    cut,
    close: () =>
      new Promise<void>((resolve) => {
        cut();
        server.close(() => resolve());
      }),
  };
}
