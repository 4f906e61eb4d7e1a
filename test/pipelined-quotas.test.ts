// Read quotas and the bytes-out meter for responses pipelined on one connection: each waits for
// the socket until the one before it is written, and what it sends then is charged all the same.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawConnect } from './support/raw-http.js';
import { startIsolatedServer, type TestServer } from './support/server.js';
import { createTopic } from './sse-support.js';

const RATE = 20_000;

/**
 * A server started with `env` for the describe block, with a one-partition topic (holding ten
 * records of 6 KB when `seeded`), stopped after it.
 */
function serverWithTopic(env: Record<string, string>, seeded = true): { readonly server: TestServer; topic: string } {
  const ctx = { server: undefined as TestServer | undefined, topic: `t-${randomUUID()}` };
  beforeAll(async () => {
    ctx.server = await startIsolatedServer(env);
    await createTopic(ctx.server.url, ctx.topic, 1);
    if (!seeded) return;
    const value = 'x'.repeat(6_000);
    const res = await fetch(`${ctx.server.url}/v1/topics/${ctx.topic}/records`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ records: Array.from({ length: 10 }, () => ({ value })) }),
    });
    expect(res.status).toBe(200);
  });
  afterAll(async () => {
    await ctx.server?.stop();
  });
  return {
    get server() {
      return ctx.server!;
    },
    topic: ctx.topic,
  };
}

/** `reads` pipelined GETs of the seeded partition from its start, as one write. */
const pipelinedReads = (topic: string, reads: number) =>
  `GET /v1/topics/${topic}/partitions/0/records?offset=0 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`.repeat(reads);

describe('pipelined reads against SLUICE_KEY_READ_BYTES_PER_SEC', () => {
  const s = serverWithTopic({ SLUICE_KEY_READ_BYTES_PER_SEC: String(RATE) });

  it('every pipelined read is charged with what it sent, not only the first', async () => {
    const { server, topic } = s;
    const reads = 6;
    const conn = await rawConnect(server.url);
    conn.write(pipelinedReads(topic, reads));
    const deadline = Date.now() + 15_000;
    const answered = () => conn.received().split('HTTP/1.1 200 OK').length - 1;
    while (answered() < reads && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(answered()).toBe(reads);
    const sent = conn.received().length;
    conn.destroy();
    // In debt by about everything sent beyond one second's worth: refused for that long.
    const refused = await fetch(`${server.url}/v1/topics/${topic}/partitions/0/records?offset=0&max_records=1`);
    expect(refused.status).toBe(429);
    const { error } = (await refused.json()) as { error: { retry_after_ms: number } };
    expect(error.retry_after_ms).toBeGreaterThan((0.8 * (sent - 2 * RATE) * 1000) / RATE);
    // …and charged once: no response's bytes are counted again for the one before it.
    expect(error.retry_after_ms).toBeLessThan((1.1 * sent * 1000) / RATE);
  });
});

describe('pipelined reads in sluice_bytes_out_total', () => {
  const s = serverWithTopic({});

  const bytesOut = async () => {
    const text = await (await fetch(`${s.server.url}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith('sluice_bytes_out_total{operation="readRecords"}'));
    return Number(line?.split(' ')[1] ?? 0);
  };

  it('counts what every pipelined read sent', async () => {
    const { server, topic } = s;
    const before = await bytesOut();
    const reads = 6;
    const conn = await rawConnect(server.url);
    conn.write(pipelinedReads(topic, reads) + `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
    await conn.closed;
    expect(conn.received().split('HTTP/1.1 200 OK').length - 1).toBe(reads + 1);
    const sent = conn.received().lastIndexOf('HTTP/1.1 200 OK');
    expect((await bytesOut()) - before).toBe(sent);
  });
});

describe('a chunked produce pipelined before other requests, against SLUICE_KEY_PRODUCE_BYTES_PER_SEC', () => {
  const PRODUCE_RATE = 1_000;
  const s = serverWithTopic({ SLUICE_KEY_PRODUCE_BYTES_PER_SEC: String(PRODUCE_RATE) }, false);

  it('is charged its body, not the bytes of the requests behind it (JSON, read by the body limit; NDJSON, streamed)', async () => {
    const { server, topic } = s;
    const bodies = {
      'application/json': JSON.stringify({ records: [{ value: 'x'.repeat(3_000) }] }),
      'application/x-ndjson': `${JSON.stringify({ value: 'y'.repeat(3_000) })}\n`,
    };
    for (const [type, body] of Object.entries(bodies)) {
      const half = Math.floor(body.length / 2);
      const chunk = (s: string) => `${s.length.toString(16)}\r\n${s}\r\n`;
      // Requests behind it, read from the socket with its last chunk: ~24 KB of headers.
      const behind = Array.from(
        { length: 6 },
        () => `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: ${'p'.repeat(4_000)}\r\n\r\n`,
      ).join('');
      const conn = await rawConnect(server.url);
      conn.write(
        `POST /v1/topics/${topic}/records HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${type}\r\n` +
          `Transfer-Encoding: chunked\r\n\r\n${chunk(body.slice(0, half))}`,
      );
      await new Promise((r) => setTimeout(r, 50));
      conn.write(`${chunk(body.slice(half))}0\r\n\r\n${behind}`);
      const bodySent = Date.now(); // the body is charged after this
      const deadline = Date.now() + 15_000;
      const answered = () => conn.received().split('HTTP/1.1 200 OK').length - 1;
      while (answered() < 7 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(answered(), type).toBe(7);
      conn.destroy();
      // In debt by its body less one second's worth: refused for (at most) that long.
      const refused = await fetch(`${server.url}/v1/topics/${topic}/records`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ records: [{ value: 1 }] }),
      });
      const refusedAt = Date.now(); // the refusal's retry_after_ms was worked out before this
      expect(refused.status, type).toBe(429);
      const { error } = (await refused.json()) as { error: { retry_after_ms: number } };
      const owed = ((body.length - PRODUCE_RATE) * 1000) / PRODUCE_RATE;
      expect(error.retry_after_ms, type).toBeLessThanOrEqual(Math.ceil(owed));
      // Less only by what refilled between the charge and the refusal, however slow the machine.
      expect(error.retry_after_ms, type).toBeGreaterThanOrEqual(Math.floor(owed - (refusedAt - bodySent)));
      // Out of debt (and back to a full second's worth) before the next one.
      await new Promise((r) => setTimeout(r, error.retry_after_ms + 1_100));
    }
  });
});
