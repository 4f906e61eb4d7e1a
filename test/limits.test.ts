// Process-wide limits against a real server: slow clients are cut by the header and request
// timeouts (streams are not), and the caps on streams, connections and buffered body bytes
// answer a clear 503 and free their slot when the holder goes.
import fs from 'node:fs';
import net from 'node:net';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAllChildren, startChild } from './support/child-server.js';
import { rawConnect, type RawConnection } from './support/raw-http.js';
import { startIsolatedServer, type TestServer } from './support/server.js';
import { createTopic, produce, until } from './sse-support.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const name = () => `t-${randomUUID()}`;

/** Write a request and read until the server closes (curl and python-requests read as they send). */
async function sendAndRead(url: string, data: string | Buffer): Promise<{ text: string; error?: string }> {
  const { hostname, port } = new URL(url);
  const socket = net.connect({ host: hostname, port: Number(port) });
  const chunks: Buffer[] = [];
  let error: string | undefined;
  socket.on('error', (e) => (error = e.message));
  socket.on('data', (d: Buffer) => chunks.push(d));
  socket.write(data);
  await new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { text: Buffer.concat(chunks).toString('latin1'), ...(error === undefined ? {} : { error }) };
}

function request(method: string, path: string, headers: Record<string, string | number> = {}): string {
  const lines = [
    `${method} ${path} HTTP/1.1`,
    'Host: 127.0.0.1',
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ];
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** Race `promise` against a deadline; a still-pending promise yields 'pending'. */
function within<T>(promise: Promise<T>, ms: number): Promise<T | 'pending'> {
  return Promise.race([promise, new Promise<'pending'>((r) => setTimeout(() => r('pending'), ms).unref())]);
}

describe('client timeouts', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startIsolatedServer({
      SLUICE_HEADERS_TIMEOUT_MS: '1000',
      SLUICE_REQUEST_TIMEOUT_MS: '2000',
      SLUICE_KEEP_ALIVE_TIMEOUT_MS: '500',
    });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('a client dribbling its headers (slowloris) is answered 408 and cut at SLUICE_HEADERS_TIMEOUT_MS', async () => {
    const conn = await rawConnect(server.url);
    conn.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    const dribble = setInterval(() => conn.write(`X-Slow-${Date.now()}: y\r\n`), 100);
    try {
      const before = (await gauge(server.url, 'sluice_limit_refusals_total{limit="headers_timeout_ms"}')) ?? 0;
      const closed = await within(conn.closed, 10_000);
      expect(closed, 'connection still open 10 s later').not.toBe('pending');
      expect(conn.received()).toMatch(/^HTTP\/1\.1 408/);
      // It names the limit it hit and its one variable, and is counted like every other refusal.
      expect(envelopeOf(conn.received())).toMatchObject({
        error: { code: 'request_timeout', limit: 'headers_timeout_ms' },
      });
      expect(envelopeOf(conn.received()).error.message).toMatch(/SLUICE_HEADERS_TIMEOUT_MS/);
      expect(envelopeOf(conn.received()).error.message).not.toMatch(/SLUICE_REQUEST_TIMEOUT_MS/);
      expect(await gauge(server.url, 'sluice_limit_refusals_total{limit="headers_timeout_ms"}')).toBe(before + 1);
    } finally {
      clearInterval(dribble);
      conn.destroy();
    }
  }, 20_000);

  it('a client dribbling its body is answered 408 and cut at SLUICE_REQUEST_TIMEOUT_MS', async () => {
    const conn = await rawConnect(server.url);
    conn.write(request('POST', '/v1/topics', { 'content-type': 'application/json', 'content-length': 10_000 }));
    const dribble = setInterval(() => conn.write(' '), 100);
    try {
      const before = (await gauge(server.url, 'sluice_limit_refusals_total{limit="request_timeout_ms"}')) ?? 0;
      const closed = await within(conn.closed, 12_000);
      expect(closed, 'connection still open 12 s later').not.toBe('pending');
      expect(conn.received()).toMatch(/^HTTP\/1\.1 408/);
      expect(envelopeOf(conn.received())).toMatchObject({
        error: { code: 'request_timeout', limit: 'request_timeout_ms' },
      });
      expect(envelopeOf(conn.received()).error.message).toMatch(/SLUICE_REQUEST_TIMEOUT_MS/);
      expect(await gauge(server.url, 'sluice_limit_refusals_total{limit="request_timeout_ms"}')).toBe(before + 1);
    } finally {
      clearInterval(dribble);
      conn.destroy();
    }
  }, 20_000);

  it('an idle keep-alive connection is closed after SLUICE_KEEP_ALIVE_TIMEOUT_MS', async () => {
    const conn = await rawConnect(server.url);
    conn.write(request('GET', '/healthz'));
    expect((await conn.response()).status).toBe(200);
    const closed = await within(conn.closed, 3_000);
    expect(closed, 'idle connection still open 3 s later').not.toBe('pending');
    conn.destroy();
  }, 15_000);

  it('a long-poll and an SSE stream outlive the request timeout (it covers receiving the request only)', async () => {
    const topic = name();
    await createTopic(server.url, topic);
    const sse = await rawConnect(server.url);
    sse.write(request('GET', `/v1/topics/${topic}/events?from=earliest`, { accept: 'text/event-stream' }));
    await until(() => sse.status() === 200, 'SSE stream open');
    const started = Date.now();
    const poll = await fetch(`${server.url}/v1/topics/${topic}/partitions/0/records?wait_ms=3000`);
    expect(poll.status).toBe(200);
    expect(((await poll.json()) as { records: unknown[] }).records).toEqual([]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(2_900);
    await produce(server.url, topic, [{ value: 'after the timeout' }]);
    await until(() => sse.received().includes('after the timeout'), 'record on the SSE stream');
    expect(sse.socket.destroyed).toBe(false);
    sse.destroy();
  }, 20_000);
});

// A separate process, as in production: in-process, client and server share one event loop and
// the server reads the whole request before it closes, which hides the reset.
describe('requests the parser refuses (real process)', () => {
  let server: Awaited<ReturnType<typeof startChild>>;
  let dataDir: string;
  beforeAll(async () => {
    dataDir = fs.mkdtempSync('/tmp/sluice-limits-');
    server = await startChild({ DATA_DIR: dataDir, SLUICE_LOG_LEVEL: 'warn' });
  });
  afterAll(async () => {
    await server?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  // A client sends its whole request before it reads (curl, requests, fetch do). If the server
  // answers 431 and closes while most of a 1 MiB URL is still unread, the kernel resets the
  // connection and the client loses the answer (schemathesis saw `Connection reset by peer`).
  it.each([
    ['a 1 MiB URL', `/v1/topics/t/events?last_event_id=${'x'.repeat(MiB)}`, {}],
    ['1 MiB of headers', '/healthz', { 'x-big': 'y'.repeat(MiB) }],
  ])(
    '%s is answered 431 with a JSON error, not reset, although the client sent it all',
    async (_, path, headers) => {
      const counted = () => gauge(server.url, 'sluice_limit_refusals_total{limit="max_header_bytes"}');
      const before = (await counted()) ?? 0;
      for (let i = 0; i < 5; i++) {
        const answer = await sendAndRead(server.url, request('GET', path, headers));
        expect(answer.error, 'the connection was reset').toBeUndefined();
        expect(answer.text).toMatch(/^HTTP\/1\.1 431 /);
        const body = answer.text.slice(answer.text.indexOf('\r\n\r\n') + 4);
        const parsed = JSON.parse(body) as { error: { request_id: string } };
        expect(parsed).toMatchObject({ error: { code: 'headers_too_large', limit: 'max_header_bytes' } });
        // Every response carries x-request-id (README), this one too: the id its body names.
        expect(/\r\nx-request-id: ([^\r]+)\r\n/i.exec(answer.text)?.[1]).toBe(parsed.error.request_id);
      }
      expect(await counted()).toBe(before + 5);
    },
    60_000,
  );

  it('a malformed request line is answered 400 and the server keeps serving', async () => {
    const conn = await rawConnect(server.url);
    conn.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header Name: x\r\n\r\n');
    await within(conn.closed, 10_000);
    expect(conn.received()).toMatch(/^HTTP\/1\.1 400 /);
    conn.destroy();
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  }, 20_000);

  it.each([['a b'], ['[::ffff:127.0.0.1]'], ['exa mple.com:80']])(
    'a Host header no URL can hold (%s) is answered 400 in the API error shape with a request id',
    async (host) => {
      const conn = await rawConnect(server.url);
      conn.write(`GET /healthz HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
      await within(conn.closed, 10_000);
      const text = conn.received();
      conn.destroy();
      expect(text).toMatch(/^HTTP\/1\.1 400 /);
      const parsed = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as {
        error: { code: string; message: string; request_id: string };
      };
      expect(parsed.error).toMatchObject({ code: 'bad_request' });
      expect(parsed.error.message).toContain('Host');
      expect(/\r\nx-request-id: ([^\r]+)\r\n/i.exec(text)?.[1]).toBe(parsed.error.request_id);
    },
    20_000,
  );
});

// The same reset, for refusals the app makes before it reads the body: the body budget's 503 and
// the declared-length 413 are answered while most of a multi-MiB body is still on its way.
describe('refusals before the body is read (real process)', () => {
  let server: Awaited<ReturnType<typeof startChild>>;
  let dataDir: string;
  beforeAll(async () => {
    dataDir = fs.mkdtempSync('/tmp/sluice-limits-');
    server = await startChild({
      DATA_DIR: dataDir,
      SLUICE_LOG_LEVEL: 'warn',
      SLUICE_MAX_BODY_BYTES: String(8 * MiB),
      SLUICE_MAX_BUFFERED_BODY_BYTES: String(8 * MiB),
    });
  });
  afterAll(async () => {
    await server?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  /** A produce request with its whole body, sent before anything is read. */
  const produceRequest = (topic: string, body: Buffer, headers: Record<string, string> = {}) =>
    Buffer.concat([
      Buffer.from(
        request('POST', `/v1/topics/${topic}/records`, {
          'content-type': 'application/json',
          'content-length': body.length,
          ...headers,
        }),
      ),
      body,
    ]);

  const envelope = (text: string) => JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as { error: unknown };

  it('a body refused by SLUICE_MAX_BUFFERED_BODY_BYTES is answered 503 with a JSON error, not reset', async () => {
    const topic = name();
    await createTopic(server.url, topic);
    const body = recordsBody(8 * MiB);
    // One upload holds the whole budget, so every further body is refused before it is read.
    const holder = await rawConnect(server.url);
    try {
      holder.write(produceRequest(topic, body).subarray(0, 4 * KiB));
      await untilAsync(
        async () => (await gauge(server.url, 'sluice_buffered_body_bytes')) === 8 * MiB,
        'the holder admitted',
      );
      for (let i = 0; i < 5; i++) {
        const answer = await sendAndRead(server.url, produceRequest(topic, body));
        expect(answer.error, `attempt ${i}: the connection was reset`).toBeUndefined();
        expect(answer.text).toMatch(/^HTTP\/1\.1 503 /);
        expect(envelope(answer.text)).toMatchObject({
          error: { code: 'unavailable', limit: 'max_buffered_body_bytes' },
        });
      }
    } finally {
      holder.destroy();
      // The server frees the holder's budget when it sees the close: the next test's requests
      // would otherwise be refused by what this one left held (seen once in a full run).
      await untilAsync(
        async () => (await gauge(server.url, 'sluice_buffered_body_bytes')) === 0,
        'the holder released',
      );
    }
  }, 60_000);

  it.each([
    ['keep-alive', {}],
    ['Connection: close', { connection: 'close' }],
  ])(
    'a body over SLUICE_MAX_BODY_BYTES by its Content-Length is answered 413 with a JSON error, not reset (%s)',
    async (_, headers) => {
      const topic = name();
      await createTopic(server.url, topic);
      const body = recordsBody(12 * MiB);
      for (let i = 0; i < 5; i++) {
        const answer = await sendAndRead(server.url, produceRequest(topic, body, headers));
        expect(answer.error, `attempt ${i}: the connection was reset`).toBeUndefined();
        expect(answer.text).toMatch(/^HTTP\/1\.1 413 /);
        expect(envelope(answer.text)).toMatchObject({ error: { code: 'payload_too_large', limit: 'max_body_bytes' } });
      }
    },
    60_000,
  );

  it('an NDJSON body over SLUICE_MAX_BODY_BYTES by its Content-Length is answered 413 at once, as JSON is', async () => {
    // Not after waiting for the body (or SLUICE_REQUEST_TIMEOUT_MS) to find out as it streams in.
    const topic = name();
    await createTopic(server.url, topic);
    const head = request('POST', `/v1/topics/${topic}/records`, {
      'content-type': 'application/x-ndjson',
      'content-length': 12 * MiB,
    });
    const answer = await within(sendAndRead(server.url, head), 5_000);
    expect(answer, 'no answer before any body byte was sent').not.toBe('pending');
    if (answer === 'pending') return;
    expect(answer.error).toBeUndefined();
    expect(answer.text).toMatch(/^HTTP\/1\.1 413 /);
    expect(envelope(answer.text)).toMatchObject({ error: { code: 'payload_too_large', limit: 'max_body_bytes' } });
  }, 60_000);

  it('an NDJSON body found over SLUICE_MAX_BODY_BYTES as it streams in is answered 413, not reset', async () => {
    const topic = name();
    await createTopic(server.url, topic);
    const line = `{"value":"${'x'.repeat(1000)}"}\n`;
    const body = Buffer.from(line.repeat(Math.ceil((12 * MiB) / line.length)));
    for (let i = 0; i < 5; i++) {
      const answer = await sendAndRead(
        server.url,
        Buffer.concat([
          Buffer.from(
            request('POST', `/v1/topics/${topic}/records`, {
              'content-type': 'application/x-ndjson',
              'content-length': body.length,
            }),
          ),
          body,
        ]),
      );
      expect(answer.error, `attempt ${i}: the connection was reset`).toBeUndefined();
      expect(answer.text).toMatch(/^HTTP\/1\.1 413 /);
      expect(envelope(answer.text)).toMatchObject({ error: { code: 'payload_too_large', limit: 'max_body_bytes' } });
    }
  }, 60_000);
});

describe('stream cap (SLUICE_MAX_STREAMS)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startIsolatedServer({ SLUICE_MAX_STREAMS: '3' });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('beyond the cap SSE and long-polls get 503 max_streams with Retry-After; a closed stream frees its slot', async () => {
    const topic = name();
    await createTopic(server.url, topic);
    const streams: RawConnection[] = [];
    try {
      await holdConnections(server.url, 3, streams, async (conn, i) => {
        conn.write(request('GET', `/v1/topics/${topic}/events`));
        await until(() => conn.status() === 200, `stream ${i} open`);
      });
      const sse = await fetch(`${server.url}/v1/topics/${topic}/events`);
      expect(sse.status).toBe(503);
      expect(sse.headers.get('retry-after')).toBe('5');
      const body = (await sse.json()) as { error: Record<string, unknown> };
      expect(body.error).toMatchObject({ code: 'unavailable', limit: 'max_streams', max_streams: 3 });
      expect(body.error['message']).toMatch(/SLUICE_MAX_STREAMS/);
      const poll = await fetch(`${server.url}/v1/topics/${topic}/partitions/0/records?wait_ms=1000`);
      expect(poll.status).toBe(503);
      await poll.body?.cancel();
      // Requests that do not hold a stream are unaffected.
      expect((await fetch(`${server.url}/v1/topics/${topic}/partitions/0/records`)).status).toBe(200);

      streams.shift()!.destroy();
      const status = await statusOnceFreed(() =>
        statusOf(fetch(`${server.url}/v1/topics/${topic}/partitions/0/records?wait_ms=10`)),
      );
      expect(status).toBe(200);
    } finally {
      for (const s of streams) s.destroy();
    }
  }, 30_000);
});

describe('stream cap: Durable Streams live reads', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startIsolatedServer({ SLUICE_MAX_STREAMS: '3' });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('live=sse and live=long-poll reads of /v1/stream/* hold a stream slot like SSE and long-polls', async () => {
    const path = `/v1/stream/s-${randomUUID()}`;
    const created = await fetch(`${server.url}${path}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
    });
    expect(created.status).toBe(201);
    const sse = `${server.url}${path}?offset=now&live=sse`;
    const streams: RawConnection[] = [];
    try {
      await holdConnections(server.url, 3, streams, async (conn, i) => {
        conn.write(request('GET', `${path}?offset=now&live=sse`));
        await until(() => conn.status() === 200, `stream ${i} open`);
      });
      const refused = await fetch(sse);
      expect(refused.status).toBe(503);
      expect(((await refused.json()) as { error: Record<string, unknown> }).error).toMatchObject({
        code: 'unavailable',
        limit: 'max_streams',
      });
      expect(await statusOf(fetch(`${server.url}${path}?offset=now&live=long-poll`))).toBe(503);
      // A catch-up read (no `live`) holds nothing.
      expect(await statusOf(fetch(`${server.url}${path}?offset=-1`))).toBe(200);

      // A waiting long-poll takes the slot a closed stream frees.
      const open = async () => {
        const text = await (await fetch(`${server.url}/metrics`)).text();
        return Number(/^sluice_open_streams (\d+)$/m.exec(text)?.[1]);
      };
      const deadline = Date.now() + 10_000;
      const openBecomes = async (n: number) => {
        while ((await open()) !== n) {
          if (Date.now() > deadline) throw new Error(`sluice_open_streams never became ${n}`);
          await new Promise((r) => setTimeout(r, 10));
        }
      };
      streams.shift()!.destroy();
      await openBecomes(2);
      const poll = await rawConnect(server.url);
      streams.push(poll);
      poll.write(request('GET', `${path}?offset=now&live=long-poll`));
      await openBecomes(3);
      expect(await statusOf(fetch(sse))).toBe(503);
      expect(poll.received()).toBe(''); // still waiting
    } finally {
      for (const s of streams) s.destroy();
    }
  }, 30_000);
});

describe('connection cap (SLUICE_MAX_CONNECTIONS)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startIsolatedServer({ SLUICE_MAX_CONNECTIONS: '4' });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('a connection beyond the cap gets 503 max_connections and is closed; a closed one frees its place', async () => {
    const held: RawConnection[] = [];
    try {
      await holdConnections(server.url, 4, held, async (conn) => {
        conn.write(request('GET', '/healthz'));
        expect((await conn.response()).status).toBe(200);
      });
      const extra = await rawConnect(server.url);
      extra.write(request('GET', '/healthz'));
      const refused = await extra.response();
      expect(refused.status).toBe(503);
      expect(refused.headers['retry-after']).toBe('1');
      expect(refused.headers['connection']).toBe('close');
      expect(JSON.parse(refused.body)).toMatchObject({
        error: { code: 'unavailable', limit: 'max_connections', max_connections: 4 },
      });
      expect(await within(extra.closed, 5_000)).not.toBe('pending');

      held.shift()!.destroy();
      const status = await statusOnceFreed(async () => {
        const conn = await rawConnect(server.url);
        conn.write(request('GET', '/healthz', { connection: 'close' }));
        const answer = (await conn.response()).status;
        conn.destroy();
        await within(conn.closed, 1_000);
        return answer;
      });
      expect(status).toBe(200);
    } finally {
      for (const c of held) c.destroy();
    }
  }, 30_000);
});

describe('buffered body bytes (SLUICE_MAX_BUFFERED_BODY_BYTES)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startIsolatedServer({
      SLUICE_MAX_BODY_BYTES: String(MiB),
      SLUICE_MAX_BUFFERED_BODY_BYTES: String(MiB),
    });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('bodies beyond the budget get 503 max_buffered_body_bytes before being read; finishing one frees its bytes', async () => {
    const topic = name();
    await createTopic(server.url, topic);
    const half = 512 * KiB;
    const body = recordsBody(half);
    const uploads: RawConnection[] = [];
    try {
      await holdConnections(server.url, 2, uploads, async (conn) => {
        conn.write(
          request('POST', `/v1/topics/${topic}/records`, {
            'content-type': 'application/json',
            'content-length': half,
          }),
        );
        conn.write(body.subarray(0, 100));
      });
      // Once both uploads hold their half (as /metrics shows), any further body is refused.
      await untilAsync(
        async () => (await gauge(server.url, 'sluice_buffered_body_bytes')) === MiB,
        'both uploads admitted',
      );
      const small = JSON.stringify({ records: [{ value: 1 }] });
      const post = () =>
        fetch(`${server.url}/v1/topics/${topic}/records`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: small,
        });
      const refused = await post();
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('1');
      const error = ((await refused.json()) as { error: Record<string, unknown> }).error;
      expect(error).toMatchObject({ code: 'unavailable', limit: 'max_buffered_body_bytes', max_bytes: MiB });
      expect(error['message']).toMatch(/SLUICE_MAX_BUFFERED_BODY_BYTES/);

      // Finish one upload: it is appended, and its bytes are free again.
      uploads[0]!.write(body.subarray(100));
      expect((await uploads[0]!.response()).status).toBe(200);
      expect(await statusOnceFreed(() => statusOf(post()))).toBe(200);
    } finally {
      for (const u of uploads) u.destroy();
    }
  }, 30_000);
});

describe('streamed NDJSON counts against the body budget', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startIsolatedServer({
      SLUICE_MAX_BODY_BYTES: String(MiB),
      SLUICE_MAX_BUFFERED_BODY_BYTES: String(MiB),
    });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('a chunked NDJSON produce holds SLUICE_MAX_BODY_BYTES of the budget while it streams in', async () => {
    const topic = name();
    await createTopic(server.url, topic);
    const upload = await rawConnect(server.url);
    try {
      upload.write(
        request('POST', `/v1/topics/${topic}/records`, {
          'content-type': 'application/x-ndjson',
          'transfer-encoding': 'chunked',
        }),
      );
      const line = '{"value":1}\n';
      upload.write(`${line.length.toString(16)}\r\n${line}\r\n`);
      await untilAsync(async () => (await gauge(server.url, 'sluice_buffered_body_bytes')) === MiB, 'upload admitted');
      const other = await fetch(`${server.url}/v1/topics/${topic}/records`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-ndjson' },
        body: line,
      });
      expect(other.status).toBe(503);
      expect(((await other.json()) as { error: { limit: string } }).error.limit).toBe('max_buffered_body_bytes');
      upload.write('0\r\n\r\n');
      expect((await upload.response()).status).toBe(200);
      await untilAsync(async () => (await gauge(server.url, 'sluice_buffered_body_bytes')) === 0, 'budget released');
    } finally {
      upload.destroy();
    }
  }, 30_000);
});

describe('concurrent huge bodies (real process)', () => {
  afterAll(() => killAllChildren());

  /** 32 concurrent 14 MiB produce bodies against a fresh server with this buffered-body budget. */
  async function hugeBodies(budgetBytes: number) {
    const dataDir = fs.mkdtempSync('/tmp/sluice-limits-');
    const child = await startChild({
      DATA_DIR: dataDir,
      SLUICE_LOG_LEVEL: 'warn',
      SLUICE_MAX_BUFFERED_BODY_BYTES: String(budgetBytes),
    });
    try {
      const topic = name();
      await createTopic(child.url, topic);
      const body = recordsBody(14 * MiB);
      const pid = child.child.pid!;
      const before = rssMiB(pid);
      let peak = before;
      const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(pid))), 10);
      const outcomes = await Promise.all(
        Array.from({ length: 32 }, async () => {
          const conn = await rawConnect(child.url);
          conn.write(
            request('POST', `/v1/topics/${topic}/records`, {
              'content-type': 'application/json',
              'content-length': body.length,
              connection: 'close',
            }),
          );
          conn.write(body);
          await conn.closed;
          return conn.status() ?? 0;
        }),
      );
      clearInterval(sampler);
      peak = Math.max(peak, rssMiB(pid));
      const count = (s: number) => outcomes.filter((o) => o === s).length;
      console.log(
        `budget ${budgetBytes / MiB} MiB: RSS ${before} MiB before, peak ${peak} MiB; ` +
          `outcomes 200×${count(200)} 503×${count(503)} reset×${count(0)}`,
      );
      return { growth: peak - before, count };
    } finally {
      await child.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }

  it('32 concurrent 14 MiB produce bodies: beyond a 64 MiB budget they are refused and RSS stays bounded', async () => {
    const capped = await hugeBodies(64 * MiB);
    // Each admitted body is appended; the rest are refused (503, or a reset while still sending).
    expect(capped.count(200)).toBeGreaterThanOrEqual(1);
    expect(capped.count(200) + capped.count(503) + capped.count(0)).toBe(32);
    expect(capped.count(503)).toBeGreaterThanOrEqual(8);
    // The same load with the budget out of the way, in the same run, is the baseline: RSS after a
    // parse of an admitted body depends on the runtime and the database driver (+15 to +180 MiB
    // seen for the capped run), so the bound is relative to what admitting all 32 costs here.
    const uncapped = await hugeBodies(16 * 1024 * MiB);
    expect(uncapped.count(200)).toBe(32);
    expect(capped.growth).toBeLessThan(uncapped.growth * 0.6);
  }, 240_000);
});

/** A valid produce body of exactly `bytes` bytes (records of < 1 MiB each). */
function recordsBody(bytes: number): Buffer {
  const perRecord = 1_000_000;
  const records: string[] = [];
  const frame = (n: number) =>
    `{"records":[${records.join(',')}${records.length ? ',' : ''}{"value":"${'x'.repeat(n)}"}]}`;
  let left = bytes - 2 - '{"records":[]}'.length;
  while (left > perRecord + 20) {
    records.push(`{"value":"${'x'.repeat(perRecord)}"}`);
    left -= perRecord + 14;
  }
  let text = frame(0);
  text = frame(bytes - text.length);
  if (Buffer.byteLength(text) !== bytes) throw new Error(`body is ${Buffer.byteLength(text)} bytes, not ${bytes}`);
  return Buffer.from(text);
}

function rssMiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
}

/** A gauge's value from /metrics. */
async function gauge(url: string, metric: string): Promise<number | undefined> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${metric} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

/** The JSON envelope of a raw HTTP answer. */
function envelopeOf(text: string): { error: { message: string } & Record<string, unknown> } {
  return JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as {
    error: { message: string } & Record<string, unknown>;
  };
}

async function untilAsync(condition: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Open `count` raw connections, each started by `start`, into `held` (which the caller destroys). */
async function holdConnections(
  url: string,
  count: number,
  held: RawConnection[],
  start: (conn: RawConnection, i: number) => Promise<void>,
): Promise<void> {
  for (let i = 0; i < count; i++) {
    const conn = await rawConnect(url);
    held.push(conn);
    await start(conn, i);
  }
}

/** Repeat `attempt` until it answers 200 or 10 s pass; the last status. */
async function statusOnceFreed(attempt: () => Promise<number>): Promise<number> {
  let status = 0;
  const deadline = Date.now() + 10_000;
  while (status !== 200 && Date.now() < deadline) status = await attempt();
  return status;
}

/** A fetch's status, its body discarded. */
async function statusOf(res: Promise<Response>): Promise<number> {
  const r = await res;
  await r.body?.cancel();
  return r.status;
}
