// A records page of more than JSON_SLICES.whole records goes out chunked, slice by slice as it
// is written: the same page as before, cut (never short and well-formed) if writing fails midway.
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JSON_SLICES, type JsonAnswer } from '../src/topics/read-service.js';
import { expectStatus } from './support/client.js';
import { startIsolatedServer, usingKafka, type TestServer } from './support/server.js';

let server: TestServer;
beforeAll(async () => {
  server = await startIsolatedServer();
});
afterAll(async () => {
  await server?.stop();
});

/** A topic holding `count` records whose values are `{"i":…,"pad":…}` of about `valueBytes`. */
async function topicWith(count: number, valueBytes = 20, config: Record<string, unknown> = {}): Promise<string> {
  const name = `t-${randomUUID()}`;
  expectStatus(await server.client.post('/v1/topics', { body: { name, partitions: 1, config } }), 201);
  const pad = 'p'.repeat(Math.max(0, valueBytes - 20));
  const perCall = Math.max(1, Math.min(count, Math.floor((1 << 20) / (valueBytes + 40))));
  for (let from = 0; from < count; from += perCall) {
    const records = Array.from({ length: Math.min(perCall, count - from) }, (_, k) => ({
      partition: 0,
      value: { i: from + k, pad },
    }));
    expectStatus(
      await server.client.post('/v1/topics/{topic}/records', { params: { topic: name }, body: { records } }),
      200,
    );
  }
  return name;
}

interface RawAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** Whether the body ended properly (false: the connection was cut first). */
  complete: boolean;
}

/**
 * GET over a connection of its own, the body collected byte by byte as received. `paused`
 * holds the body after its first chunk until the returned promise's `resume` is called.
 */
function rawGet(path: string, hold?: (resume: () => void) => void): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${server.url}${path}`, { agent: false }, (res) => {
      const chunks: Buffer[] = [];
      let held = false;
      const done = (complete: boolean) =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), complete });
      res.on('data', (c: Buffer) => {
        chunks.push(c);
        if (hold && !held) {
          held = true;
          res.pause();
          hold(() => res.resume());
        }
      });
      res.on('end', () => done(res.complete));
      res.on('error', () => done(false));
      res.on('aborted', () => done(false));
    });
    req.on('error', reject);
  });
}

const recordsPath = (topic: string, query: string) => `/v1/topics/${topic}/partitions/0/records?${query}`;

describe('large pages go out in slices', () => {
  it('answers a page above a slice chunked, with exactly the records and bytes of the same read in one piece', async () => {
    const count = JSON_SLICES.max * 2 + 77;
    const name = await topicWith(count);
    const big = await rawGet(recordsPath(name, `max_records=${count}&max_bytes=${16 << 20}`));
    expect([big.status, big.complete, big.headers['transfer-encoding']]).toEqual([200, true, 'chunked']);
    const page = JSON.parse(big.body.toString('utf8')) as { records: Array<{ offset: number; value: { i: number } }> };
    expect(page.records.map((r) => r.offset)).toEqual(Array.from({ length: count }, (_, i) => i));
    expect(page.records.map((r) => r.value.i)).toEqual(Array.from({ length: count }, (_, i) => i));
    expect(page).toMatchObject({ next_offset: count, end_offset: count });
    // The same read answered whole by the service: the slices add up to exactly its bytes.
    const whole = await server.services.reads.readJson(
      { topic: name, partition: 0, offset: 0, maxRecords: count, maxBytes: 16 << 20, waitMs: 0 },
      { ...JSON_SLICES, whole: Number.MAX_SAFE_INTEGER },
    );
    expect(whole.ok && 'whole' in whole.value && whole.value.whole.equals(big.body)).toBe(true);
    // A page of one slice keeps its Content-Length.
    const small = await rawGet(recordsPath(name, `max_records=${JSON_SLICES.whole}`));
    expect([small.status, small.headers['content-length']]).toEqual([200, String(small.body.length)]);
    expect(small.headers['transfer-encoding']).toBeUndefined();
  });

  it('answers HEAD of a large page with the head alone, and the connection goes on', async () => {
    const count = JSON_SLICES.max + JSON_SLICES.whole;
    const name = await topicWith(count);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const request = (method: string) =>
      new Promise<{ status: number; body: Buffer; headers: http.IncomingHttpHeaders }>((resolve, reject) => {
        const req = http.request(
          `${server.url}${recordsPath(name, `max_records=${count}&max_bytes=${16 << 20}`)}`,
          { method, agent },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () =>
              resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), headers: res.headers }),
            );
            res.on('error', reject);
          },
        );
        req.on('error', reject);
        req.end();
      });
    try {
      const head = await request('HEAD');
      expect([head.status, head.body.length]).toEqual([200, 0]);
      // The same kept-alive connection then carries a whole page.
      const get = await request('GET');
      expect(get.status).toBe(200);
      expect((JSON.parse(get.body.toString('utf8')) as { next_offset: number }).next_offset).toBe(count);
    } finally {
      agent.destroy();
    }
  });

  it('cuts the response when writing fails after the status line: no JSON client can take it for a page', async () => {
    const count = JSON_SLICES.max + JSON_SLICES.whole;
    const name = await topicWith(count);
    const reads = server.services.reads;
    const readJson = reads.readJson.bind(reads);
    // The second slice fails as it is written, after the head and the first slice went out.
    reads.readJson = async (req, slicing) => {
      const r = await readJson(req, slicing);
      if (!r.ok || !('slices' in r.value)) return r;
      const inner = r.value.slices;
      let n = 0;
      const slices: Iterator<Buffer<ArrayBuffer>> = {
        next: () => {
          if (++n === 2) throw new Error('injected: writing the second slice failed');
          return inner.next();
        },
      };
      return { ok: true, value: { slices } satisfies JsonAnswer };
    };
    try {
      const path = recordsPath(name, `max_records=${count}&max_bytes=${16 << 20}`);
      const raw = await rawGet(path);
      expect([raw.status, raw.complete]).toEqual([200, false]);
      expect(raw.body.length).toBeGreaterThan(1000);
      expect(raw.body.includes('next_offset')).toBe(false);
      expect(() => JSON.parse(raw.body.toString('utf8'))).toThrow();
      // fetch (undici) fails the body instead of handing over a truncated text.
      const res = await fetch(`${server.url}${path}`);
      expect(res.status).toBe(200);
      await expect(res.text()).rejects.toThrow();
    } finally {
      reads.readJson = readJson;
    }
    // The server goes on answering.
    const again = await rawGet(recordsPath(name, `max_records=${count}&max_bytes=${16 << 20}`));
    expect([again.status, again.complete]).toEqual([200, true]);
    expect((JSON.parse(again.body.toString('utf8')) as { next_offset: number }).next_offset).toBe(count);
  });

  /** Holds a page of ~16 MB (more than the sockets buffer) after its first chunk and runs `during`. */
  async function heldPage(name: string, count: number, during: () => Promise<void>): Promise<RawAnswer> {
    const reads = server.services.reads;
    const readJson = reads.readJson.bind(reads);
    let taken = 0;
    let finished = false;
    // Counts the slices written, to prove `during` ran while the page was still being sent.
    reads.readJson = async (req, slicing) => {
      const r = await readJson(req, slicing);
      if (!r.ok || !('slices' in r.value)) return r;
      const inner = r.value.slices;
      const counted: Iterator<Buffer<ArrayBuffer>> = {
        next: () => {
          const x = inner.next();
          if (x.done) finished = true;
          else taken++;
          return x;
        },
      };
      return { ok: true, value: { slices: counted } };
    };
    let failed: unknown;
    try {
      const page = await rawGet(recordsPath(name, `max_records=${count}&max_bytes=${64 << 20}`), (resume) => {
        void (async () => {
          // The server stops writing once the sockets are full (it waits for 'drain').
          const deadline = Date.now() + 5000;
          let last = -1;
          while (taken !== last && Date.now() < deadline) {
            last = taken;
            await new Promise((r) => setTimeout(r, 50));
          }
          expect(taken).toBeGreaterThan(0);
          expect(finished).toBe(false);
          await during();
        })()
          .catch((e: unknown) => (failed = e))
          .finally(resume);
      });
      if (failed !== undefined) throw failed;
      return page;
    } finally {
      reads.readJson = readJson;
    }
  }

  it('sends the whole page it read when the topic is deleted while the page is on its way', async () => {
    const count = 4000;
    const name = await topicWith(count, 4000);
    const page = await heldPage(name, count, async () => {
      expectStatus(await server.client.delete('/v1/topics/{topic}', { params: { topic: name } }), 204);
    });
    expect([page.status, page.complete]).toEqual([200, true]);
    const body = JSON.parse(page.body.toString('utf8')) as { records: Array<{ offset: number }>; next_offset: number };
    expect(body.records.map((r) => r.offset)).toEqual(Array.from({ length: count }, (_, i) => i));
    expect(body.next_offset).toBe(count);
    const after = await server.client.get('/v1/topics/{topic}/partitions/{partition}/records', {
      params: { topic: name, partition: 0 },
      query: { offset: count },
    });
    expect(after.status).toBe(404);
  });

  it.skipIf(usingKafka())(
    'sends the whole page it read when retention deletes its segments while it is on its way; the next read is told 416',
    async () => {
      const count = 4000;
      const name = await topicWith(count, 4000, { segment_bytes: 1 << 20, retention_ms: 60_000 });
      // One more record, later: retention keeps the active segment, so the log's start moves past the page.
      const page = await heldPage(name, count, async () => {
        expectStatus(
          await server.client.post('/v1/topics/{topic}/records', {
            params: { topic: name },
            body: { records: [{ partition: 0, value: 'last' }] },
          }),
          200,
        );
        await server.services.log.enforceRetention(Date.now() + 3_600_000);
      });
      expect([page.status, page.complete]).toEqual([200, true]);
      const body = JSON.parse(page.body.toString('utf8')) as {
        records: Array<{ offset: number }>;
        next_offset: number;
      };
      expect(body.records.map((r) => r.offset)).toEqual(Array.from({ length: count }, (_, i) => i));
      const after = await server.client.get('/v1/topics/{topic}/partitions/{partition}/records', {
        params: { topic: name, partition: 0 },
        query: { offset: 0 },
      });
      expect(after.status).toBe(416);
    },
  );
});
