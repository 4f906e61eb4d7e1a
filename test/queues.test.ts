// Black-box tests of queues over HTTP: shared receivers, per-lease ack results, redelivery,
// dead letters, ordering by key, retention, topic re-creation, hostile input and restarts.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listen, until } from './sse-support.js';
import { expectStatus } from './support/client.js';
import { createTestEnv, startTestServer, type TestEnv, type TestServer } from './support/server.js';

const ENV = { SLUICE_LONG_POLL_MAX_MS: '5000', SLUICE_QUEUE_SWEEP_INTERVAL_MS: '50' };

let env: TestEnv;
let server: TestServer;
beforeAll(async () => {
  env = await createTestEnv(ENV);
  server = await startTestServer(env);
});
afterAll(async () => {
  await server?.stop();
  await env?.cleanup();
});

const name = (prefix: string) => `${prefix}-${randomUUID()}`;

interface QRecord {
  partition: number;
  offset: number;
  key: string | null;
  value: unknown;
  headers: Record<string, string>;
  lease: string;
  delivery_count: number;
  lock_expires_at: number;
}
type Action = 'accept' | 'release' | 'reject' | 'renew';

async function topic(partitions: number, records: Array<Record<string, unknown>> = [], config = {}): Promise<string> {
  const t = name('t');
  expectStatus(await server.client.post('/v1/topics', { body: { name: t, partitions, config } }), 201);
  await produce(t, records);
  return t;
}

async function produce(t: string, records: Array<Record<string, unknown>>): Promise<void> {
  for (let i = 0; i < records.length; i += 1000)
    expectStatus(
      await server.client.post('/v1/topics/{topic}/records', {
        params: { topic: t },
        body: { records: records.slice(i, i + 1000) as never },
      }),
      200,
    );
}

const putQueue = (t: string, q: string, body: Record<string, unknown>) =>
  server.client.request('put', '/v1/topics/{topic}/queues/{queue}', { params: { topic: t, queue: q }, body });

async function receive(
  t: string,
  q: string,
  query: { max_records?: number; wait_ms?: number; lock_ms?: number } = {},
): Promise<QRecord[]> {
  const res = await server.client.post('/v1/topics/{topic}/queues/{queue}/receive', {
    params: { topic: t, queue: q },
    query,
  });
  return expectStatus(res, 200).records as QRecord[];
}

async function ack(t: string, q: string, acks: Array<{ lease: string; action: Action }>) {
  const res = await server.client.post('/v1/topics/{topic}/queues/{queue}/ack', {
    params: { topic: t, queue: q },
    body: { acks },
  });
  return expectStatus(res, 200).results;
}

const describeQueue = async (t: string, q: string) =>
  expectStatus(await server.client.get('/v1/topics/{topic}/queues/{queue}', { params: { topic: t, queue: q } }), 200);

/** Poll until `check` yields a value or the deadline passes (no blind sleeps). */
async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('condition not met before the deadline');
    await new Promise((r) => setTimeout(r, 25));
  }
}

const values = (n: number, extra: (i: number) => Record<string, unknown> = () => ({})) =>
  Array.from({ length: n }, (_, i) => ({ value: { i }, ...extra(i) }));

describe('queue administration', () => {
  it('creates, updates, describes, lists and deletes a queue', async () => {
    const t = await topic(
      2,
      values(6, (i) => ({ partition: i % 2 })),
    );
    const created = expectStatus(await putQueue(t, 'work', { lock_ms: 5000, max_deliveries: 3 }), 201);
    expect(created).toMatchObject({ name: 'work', start: 'earliest', lock_ms: 5000, max_deliveries: 3, available: 6 });
    expect(created.in_flight).toBe(0);
    const updated = expectStatus(await putQueue(t, 'work', { lock_ms: 7000 }), 200);
    expect(updated).toMatchObject({ lock_ms: 7000, max_deliveries: 5 });
    expectStatus(await putQueue(t, 'work', { start: 'latest' }), 409);
    const latest = expectStatus(await putQueue(t, 'tail', { start: 'latest' }), 201);
    expect(latest.available).toBe(0);
    const list = expectStatus(
      await server.client.get('/v1/topics/{topic}/queues', { params: { topic: t } }),
      200,
    ).queues.map((q) => q.name);
    expect(list).toEqual(['tail', 'work']);
    expectStatus(
      await server.client.delete('/v1/topics/{topic}/queues/{queue}', { params: { topic: t, queue: 'tail' } }),
      204,
    );
    expectStatus(
      await server.client.get('/v1/topics/{topic}/queues/{queue}', { params: { topic: t, queue: 'tail' } }),
      404,
    );
    expectStatus(await putQueue('no-such-topic', 'q', {}), 404);
    expectStatus(await putQueue(t, 'q', { dead_letter_topic: 'no-such-topic' }), 400);
    expectStatus(await putQueue(t, 'q', { dead_letter_topic: t }), 400);
  });

  it('a receive on an unknown queue creates it from earliest; acks answer per lease in order', async () => {
    const t = await topic(1, values(3));
    const got = await receive(t, 'auto', { max_records: 10 });
    expect(got.map((r) => r.offset)).toEqual([0, 1, 2]);
    expect(got.every((r) => r.delivery_count === 1 && typeof r.lease === 'string')).toBe(true);
    const q = await describeQueue(t, 'auto');
    expect(q).toMatchObject({ start: 'earliest', in_flight: 3, available: 0 });
    const results = await ack(t, 'auto', [
      { lease: got[1]!.lease, action: 'accept' },
      { lease: got[1]!.lease, action: 'accept' }, // the same lease again: it no longer holds the record
      { lease: got[0]!.lease, action: 'renew' },
      { lease: got[0]!.lease, action: 'accept' },
    ]);
    expect(results.map((r) => r.status)).toEqual(['ok', 'unknown', 'ok', 'ok']);
    expect(results[2]!.lock_expires_at).toBeGreaterThan(Date.now());
    expect(results.map((r) => r.lease)).toEqual([got[1]!.lease, got[1]!.lease, got[0]!.lease, got[0]!.lease]);
    expect(await describeQueue(t, 'auto')).toMatchObject({ accepted: 2, in_flight: 1 });
    // Counted per action and result in /metrics (one request's acks are counted together).
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const series = (action: string, status: string) =>
      Number(
        new RegExp(
          `^sluice_queue_acks_total\\{[^}]*topic="${t}"[^}]*action="${action}",status="${status}"\\} (\\d+)$`,
          'm',
        ).exec(metrics)?.[1],
      );
    expect([series('accept', 'ok'), series('accept', 'unknown'), series('renew', 'ok')]).toEqual([2, 1, 1]);
    // Acks on another queue of the same topic know nothing of these leases.
    await receive(t, 'other');
    expect((await ack(t, 'other', [{ lease: got[2]!.lease, action: 'accept' }]))[0]!.status).toBe('unknown');
  });

  it('refuses hostile input with 400, never 500', async () => {
    const t = await topic(1, values(2));
    const path = (q: string) => `/v1/topics/${t}/queues/${q}`;
    const raw = (method: string, p: string, body?: unknown) =>
      server.client.raw(
        method,
        p,
        body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } },
      );
    for (const query of [
      'max_records=1000000000',
      'max_records=0',
      'max_records=abc',
      'wait_ms=999999999',
      'lock_ms=1',
      'wait_ms=-1',
    ])
      expect((await raw('POST', `${path('h')}/receive?${query}`)).status).toBe(400);
    await receive(t, 'h');
    for (const lease of [
      '',
      'x',
      '0.0.zzzzzzzzzzzz.1',
      '0.0',
      '99999999.0.abcdefabcdef.1',
      '0.99999999999999999.abcdefabcdef.1',
      '<script>',
    ])
      expect((await raw('POST', `${path('h')}/ack`, { acks: [{ lease, action: 'accept' }] })).status).toBe(400);
    expect((await raw('POST', `${path('h')}/ack`, { acks: [] })).status).toBe(400);
    expect(
      (await raw('POST', `${path('h')}/ack`, { acks: [{ lease: '0.0.abcdefabcdef.1', action: 'eat' }] })).status,
    ).toBe(400);
    expect((await raw('POST', `${path('h')}/ack`, '{"acks":')).status).toBe(400);
    expect((await raw('PUT', path('h'), { lock_ms: 10 ** 12 })).status).toBe(400);
    expect((await raw('PUT', path('h'), { max_deliveries: 0 })).status).toBe(400);
    expect((await raw('PUT', path('bad name!'), {})).status).toBe(400);
    // A well-formed lease that was never issued, on a partition that does not exist: unknown, not an error.
    const ok = await raw('POST', `${path('h')}/ack`, {
      acks: [{ lease: `7.0.abcdefabcdef.${(Date.now() + 60_000).toString(36)}`, action: 'accept' }],
    });
    expect(ok.status).toBe(200);
    expect(ok.json).toEqual({ results: [{ lease: expect.any(String), status: 'unknown' }] });
    // Unknown queue for acks: 404.
    expect(
      (await raw('POST', `${path('never')}/ack`, { acks: [{ lease: '0.0.abcdefabcdef.1', action: 'accept' }] })).status,
    ).toBe(404);
  });

  it('refuses reserved names: "__…" (Sluice\'s own, as for groups) and "." or ".." (as for topics)', async () => {
    const t = await topic(1, values(1));
    // Sent verbatim (fetch would normalise "." and ".." segments away before they left).
    const verbatim = (method: string, path: string, body?: string) =>
      new Promise<{ status: number; json: unknown }>((resolve, reject) => {
        const req = http.request(
          new URL(server.url),
          { method, path, headers: body === undefined ? {} : { 'content-type': 'application/json' } },
          (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (c: string) => (text += c));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text || 'null') as unknown }));
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    for (const q of ['__internal', '__webhook.x', '__']) {
      const put = await verbatim('PUT', `/v1/topics/${t}/queues/${q}`, '{}');
      expect(put.status, `PUT ${q}`).toBe(400);
      expect((put.json as { error: { code: string } }).error.code).toBe('bad_request');
      // A receive would create the queue: refused too, and nothing was created.
      expect((await verbatim('POST', `/v1/topics/${t}/queues/${q}/receive`)).status, `receive ${q}`).toBe(400);
    }
    // "." and "..": the server resolves such segments before routing, so they never name a queue either.
    for (const q of ['.', '..']) {
      expect((await verbatim('PUT', `/v1/topics/${t}/queues/${q}`, '{}')).status, `PUT ${q}`).toBeGreaterThanOrEqual(
        400,
      );
      expect((await verbatim('POST', `/v1/topics/${t}/queues/${q}/receive`)).status).toBeGreaterThanOrEqual(400);
    }
    const list = expectStatus(await server.client.get('/v1/topics/{topic}/queues', { params: { topic: t } }), 200);
    expect(list.queues).toEqual([]);
    // Names that merely contain these characters are fine.
    for (const q of ['_a', 'a__b', '.a', '..a', 'a.', '-'])
      expect((await putQueue(t, q, {})).status, `PUT ${q}`).toBe(201);
  });
});

describe('delivery', () => {
  it('many concurrent receivers on one partition: every record accepted exactly once, none lost', async () => {
    const total = 1500;
    const t = await topic(1, values(total));
    const q = 'shared';
    expectStatus(await putQueue(t, q, { lock_ms: 2000, max_deliveries: 1000 }), 201);
    const acceptedOk = new Map<number, number>();
    let releases = 0;
    const receiver = async (seed: number) => {
      let rnd = seed;
      const next = () => (rnd = (rnd * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
      for (;;) {
        if (acceptedOk.size >= total) return;
        const got = await receive(t, q, { max_records: 25, wait_ms: 200 });
        if (got.length === 0) continue;
        const acks = got.map((r) => {
          const roll = next();
          // Some released, some dropped (their lease expires), most accepted.
          return {
            lease: r.lease,
            action: (roll < 0.1 ? 'release' : roll < 0.13 ? 'drop' : 'accept') as Action | 'drop',
          };
        });
        const sent = acks.filter((a): a is { lease: string; action: Action } => a.action !== 'drop');
        if (sent.length === 0) continue;
        const results = await ack(t, q, sent);
        sent.forEach((a, i) => {
          const offset = Number(a.lease.split('.')[1]);
          if (a.action === 'accept' && results[i]!.status === 'ok')
            acceptedOk.set(offset, (acceptedOk.get(offset) ?? 0) + 1);
          if (a.action === 'release') releases++;
        });
      }
    };
    await Promise.all(Array.from({ length: 12 }, (_, i) => receiver(i + 1)));
    expect(acceptedOk.size).toBe(total);
    expect([...acceptedOk.values()].every((n) => n === 1)).toBe(true);
    expect(releases).toBeGreaterThan(0);
    const desc = await describeQueue(t, q);
    expect(desc).toMatchObject({ accepted: total, available: 0, in_flight: 0 });
    expect(desc.partitions[0]!.start_offset).toBe(total);
    expect(desc.deliveries).toBeGreaterThan(total);
  }, 120_000);

  it('released and expired records come back with a higher delivery_count; a late ack is "expired"', async () => {
    const t = await topic(1, values(2));
    const q = 'again';
    expectStatus(await putQueue(t, q, { lock_ms: 60_000 }), 201);
    const first = await receive(t, q, { max_records: 2, lock_ms: 1500 });
    expect(first.map((r) => r.delivery_count)).toEqual([1, 1]);
    expect((await ack(t, q, [{ lease: first[0]!.lease, action: 'release' }]))[0]!.status).toBe('ok');
    const released = await receive(t, q, { max_records: 2 });
    const expiredAt = first[1]!.lock_expires_at;
    const before = Date.now() < expiredAt;
    expect(released.find((r) => r.offset === 0)?.delivery_count).toBe(2);
    // Offset 1 is never acknowledged: its answer might as well have been lost. It comes back.
    let again = released.filter((r) => r.offset === 1);
    if (before) {
      expect(again).toEqual([]);
      again = await receive(t, q, { max_records: 2, wait_ms: 5000 });
      expect(Date.now()).toBeGreaterThanOrEqual(expiredAt);
      expect(Date.now() - expiredAt).toBeLessThan(2500);
    }
    expect(again.map((r) => [r.offset, r.delivery_count])).toEqual([[1, 2]]);
    expect((await ack(t, q, [{ lease: first[1]!.lease, action: 'accept' }]))[0]!.status).toBe('expired');
    expect((await ack(t, q, [{ lease: again[0]!.lease, action: 'accept' }]))[0]!.status).toBe('ok');
  });

  it('a lease that runs out with no receiver waiting shows as available again within about a second', async () => {
    const t = await topic(1, values(1));
    const q = 'sweep';
    expectStatus(await putQueue(t, q, { lock_ms: 200 }), 201);
    const [r] = await receive(t, q);
    expect((await describeQueue(t, q)).in_flight).toBe(1);
    await eventually(async () => {
      const res = await server.client.get('/metrics');
      const line = String(res.body)
        .split('\n')
        .find(
          (l) =>
            l.startsWith('sluice_queue_records_total{') &&
            l.includes(`topic="${t}"`) &&
            l.includes('outcome="expired"'),
        );
      return line?.endsWith(' 1') ? true : undefined;
    });
    expect(Date.now() - r!.lock_expires_at).toBeLessThan(3000);
    expect(await describeQueue(t, q)).toMatchObject({ in_flight: 0, available: 1 });
  });

  it('a long-poll returns as soon as a record is produced', async () => {
    const t = await topic(2);
    const q = 'poll';
    const started = Date.now();
    const pending = receive(t, q, { wait_ms: 5000 });
    await new Promise((r) => setTimeout(r, 200));
    await produce(t, [{ value: 'hello', partition: 1 }]);
    const got = await pending;
    expect(got.map((r) => r.value)).toEqual(['hello']);
    expect(Date.now() - started).toBeLessThan(4000);
  });
});

describe('SSE receive', () => {
  it('a HEAD request on the stream leases nothing (405, Allow: GET): it could never receive what it leased', async () => {
    const t = await topic(1, values(2));
    expectStatus(await putQueue(t, 'h', { lock_ms: 60_000 }), 201);
    const head = await fetch(`${server.url}/v1/topics/${t}/queues/h/events`, { method: 'HEAD' });
    expect(head.status).toBe(405);
    expect(head.headers.get('allow')).toBe('GET');
    expect(await describeQueue(t, 'h')).toMatchObject({ in_flight: 0, available: 2, deliveries: 0 });
  });

  it('streams leases in events, at most max_in_flight unacknowledged; acks by POST let more through', async () => {
    const t = await topic(
      2,
      values(30, (i) => ({ partition: i % 2 })),
    );
    const q = 'stream';
    const l = listen(`${server.url}/v1/topics/${t}/queues/${q}/events?max_in_flight=5&lock_ms=60000`);
    const leases = () =>
      l.events
        .filter((e) => e.type === 'records')
        .flatMap((e) => (JSON.parse(e.data) as { records: QRecord[] }).records);
    try {
      await until(() => leases().length >= 5, 'the first leases');
      // Nothing more while those five are held.
      await new Promise((r) => setTimeout(r, 300));
      expect(leases()).toHaveLength(5);
      let acked = 0;
      while (acked < 30) {
        await until(() => leases().length > acked, 'more leases', 10_000);
        const batch = leases().slice(acked);
        const results = await ack(
          t,
          q,
          batch.map((r) => ({ lease: r.lease, action: 'accept' as const })),
        );
        expect(results.every((r) => r.status === 'ok')).toBe(true);
        acked += batch.length;
      }
      expect(new Set(leases().map((r) => `${r.partition}/${r.offset}`)).size).toBe(30);
      expect(await describeQueue(t, q)).toMatchObject({ accepted: 30, available: 0, in_flight: 0 });
    } finally {
      l.close();
    }
  });

  it('answers 404 for a missing topic before the stream opens', async () => {
    const res = await server.client.raw('GET', `/v1/topics/${name('none')}/queues/q/events`);
    expect(res.status).toBe(404);
  });
});

describe('dead letters', () => {
  it('a poison record reaches the dead-letter topic after max_deliveries, unchanged and with headers', async () => {
    const dlq = await topic(1);
    const t = await topic(1, [{ key: 'k1', value: { poison: true }, headers: { trace: 'abc' } }, { value: 'fine' }]);
    const q = 'poison';
    expectStatus(await putQueue(t, q, { max_deliveries: 3, dead_letter_topic: dlq }), 201);
    for (let d = 1; d <= 3; d++) {
      const got = await receive(t, q, { max_records: 10 });
      const poison = got.find((r) => r.offset === 0)!;
      expect(poison.delivery_count).toBe(d);
      const fine = got.find((r) => r.offset === 1);
      const acks: Array<{ lease: string; action: Action }> = [{ lease: poison.lease, action: 'release' }];
      if (fine) acks.push({ lease: fine.lease, action: 'accept' });
      expect((await ack(t, q, acks)).every((r) => r.status === 'ok')).toBe(true);
    }
    expect(await receive(t, q)).toEqual([]);
    const read = expectStatus(
      await server.client.get('/v1/topics/{topic}/partitions/{partition}/records', {
        params: { topic: dlq, partition: 0 },
        query: { offset: 0 },
      }),
      200,
    );
    expect(read.records).toHaveLength(1);
    expect(read.records[0]).toMatchObject({
      key: 'k1',
      value: { poison: true },
      headers: {
        trace: 'abc',
        'sluice-source-topic': t,
        'sluice-source-partition': '0',
        'sluice-source-offset': '0',
        'sluice-queue': q,
        'sluice-delivery-count': '3',
        'sluice-last-action': 'released',
      },
    });
    expect(await describeQueue(t, q)).toMatchObject({ dead_lettered: 1, accepted: 1, available: 0, in_flight: 0 });
  });

  it('reject dead-letters at once; without a dead-letter topic records are archived and counted', async () => {
    const dlq = await topic(1);
    const t = await topic(1, values(3));
    expectStatus(await putQueue(t, 'r', { dead_letter_topic: dlq }), 201);
    const got = await receive(t, 'r', { max_records: 1 });
    expect((await ack(t, 'r', [{ lease: got[0]!.lease, action: 'reject' }]))[0]!.status).toBe('ok');
    const read = expectStatus(
      await server.client.get('/v1/topics/{topic}/partitions/{partition}/records', {
        params: { topic: dlq, partition: 0 },
        query: { offset: 0 },
      }),
      200,
    );
    expect(read.records.map((r) => r.headers['sluice-last-action'])).toEqual(['rejected']);

    expectStatus(await putQueue(t, 'a', { max_deliveries: 1, lock_ms: 200 }), 201);
    const two = await receive(t, 'a', { max_records: 2 });
    await ack(t, 'a', [{ lease: two[0]!.lease, action: 'reject' }]);
    // The second one expires after its only delivery: archived by the sweeper.
    const desc = await eventually(async () => {
      const d = await describeQueue(t, 'a');
      return d.archived === 2 ? d : undefined;
    });
    expect(desc).toMatchObject({ dead_lettered: 0, in_flight: 0, available: 1 });
    expect((await receive(t, 'a', { max_records: 5 })).map((r) => r.offset)).toEqual([2]);
  });
});

describe('dead letters the dead-letter topic cannot take as they are', () => {
  it('a record at the source’s max_record_bytes still reaches a dead-letter topic of the same config (the added headers do not count against it)', async () => {
    const dlq = await topic(1, [], { max_record_bytes: 1024 });
    const t = await topic(1, [{ value: 'x'.repeat(1022) }], { max_record_bytes: 1024 });
    expectStatus(await putQueue(t, 'd', { dead_letter_topic: dlq }), 201);
    const got = await receive(t, 'd', { max_records: 1 });
    await ack(t, 'd', [{ lease: got[0]!.lease, action: 'reject' }]);
    const desc = await eventually(async () => {
      const d = await describeQueue(t, 'd');
      return d.dead_lettered === 1 ? d : undefined;
    });
    expect(desc).toMatchObject({ dead_letter_pending: 0, archived: 0 });
    const read = expectStatus(
      await server.client.get('/v1/topics/{topic}/partitions/{partition}/records', {
        params: { topic: dlq, partition: 0 },
        query: { offset: 0 },
      }),
      200,
    );
    expect(read.records.map((r) => String(r.value).length)).toEqual([1022]);
  });

  it('one the dead-letter topic refuses (a smaller max_record_bytes) is archived and counted, not retried forever', async () => {
    const dlq = await topic(1, [], { max_record_bytes: 16 });
    const t = await topic(1, [{ value: 'a'.repeat(100) }, { value: 'ok' }, { value: 'b'.repeat(100) }]);
    expectStatus(await putQueue(t, 's', { dead_letter_topic: dlq }), 201);
    const got = await receive(t, 's', { max_records: 3 });
    expect(got).toHaveLength(3);
    await ack(
      t,
      's',
      got.map((r) => ({ lease: r.lease, action: 'reject' as const })),
    );
    const desc = await eventually(async () => {
      const d = await describeQueue(t, 's');
      return d.dead_letter_pending === 0 ? d : undefined;
    });
    expect(desc).toMatchObject({ archived: 2, dead_lettered: 1, in_flight: 0, available: 0 });
  });

  it('with its dead-letter topic deleted, a dead record is archived and counted, not retried forever', async () => {
    const dlq = await topic(1);
    const t = await topic(1, [{ value: 'a' }]);
    expectStatus(await putQueue(t, 'g', { dead_letter_topic: dlq }), 201);
    expect((await server.client.delete('/v1/topics/{topic}', { params: { topic: dlq } })).status).toBe(204);
    const got = await receive(t, 'g', { max_records: 1 });
    await ack(t, 'g', [{ lease: got[0]!.lease, action: 'reject' }]);
    const desc = await eventually(async () => {
      const d = await describeQueue(t, 'g');
      return d.dead_letter_pending === 0 ? d : undefined;
    });
    expect(desc).toMatchObject({ archived: 1, dead_lettered: 0, in_flight: 0, available: 0 });
  });
});

describe('ordered_by_key', () => {
  it('never has two records of one key in flight, and hands each key out in offset order', async () => {
    const keys = ['a', 'b', 'c', 'd'];
    const t = await topic(
      1,
      values(200, (i) => ({ key: keys[i % keys.length] })),
    );
    const q = 'fifo';
    expectStatus(await putQueue(t, q, { ordered_by_key: true, lock_ms: 5000 }), 201);
    const inFlight = new Map<string, number>();
    const order = new Map<string, number[]>();
    let violations = 0;
    let done = 0;
    const worker = async () => {
      while (done < 200) {
        const got = await receive(t, q, { max_records: 3, wait_ms: 100 });
        for (const r of got) {
          if (inFlight.has(r.key!)) violations++;
          inFlight.set(r.key!, r.offset);
          order.set(r.key!, [...(order.get(r.key!) ?? []), r.offset]);
        }
        await new Promise((res) => setTimeout(res, 2));
        for (const r of got) inFlight.delete(r.key!);
        if (got.length > 0) {
          const results = await ack(
            t,
            q,
            got.map((r) => ({ lease: r.lease, action: 'accept' as const })),
          );
          done += results.filter((x) => x.status === 'ok').length;
        }
      }
    };
    await Promise.all(Array.from({ length: 6 }, worker));
    expect(violations).toBe(0);
    for (const [, offsets] of order) expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
    expect((await describeQueue(t, q)).accepted).toBe(200);
  }, 60_000);
});

describe('seams', () => {
  it('a deleted and re-created topic starts with fresh queues; old leases are unknown', async () => {
    const t = await topic(1, values(2));
    expectStatus(await putQueue(t, 'q', { lock_ms: 60_000 }), 201);
    const old = await receive(t, 'q');
    expectStatus(await server.client.delete('/v1/topics/{topic}', { params: { topic: t } }), 204);
    expectStatus(
      await server.client.get('/v1/topics/{topic}/queues/{queue}', { params: { topic: t, queue: 'q' } }),
      404,
    );
    expectStatus(await server.client.post('/v1/topics', { body: { name: t, partitions: 1 } }), 201);
    expectStatus(
      await server.client.get('/v1/topics/{topic}/queues/{queue}', { params: { topic: t, queue: 'q' } }),
      404,
    );
    await produce(t, [{ value: 'new' }]);
    const fresh = await receive(t, 'q', { max_records: 10 });
    expect(fresh.map((r) => [r.offset, r.value, r.delivery_count])).toEqual([[0, 'new', 1]]);
    expect((await ack(t, 'q', [{ lease: old[0]!.lease, action: 'accept' }]))[0]!.status).toBe('unknown');
    expect((await describeQueue(t, 'q')).lock_ms).toBe(30_000); // defaults: not the old queue's settings
  });

  it('a queue deleted by another node while this one has it cached: receive re-creates it, ack answers 404', async () => {
    const t = await topic(1, values(2));
    const first = await receive(t, 'gone', { max_records: 1 });
    // Another node deletes the queue: this node's cached row now names a queue that is gone.
    const { queues } = await import('../src/metadata/schema.js');
    const { eq } = await import('drizzle-orm');
    await server.services.db.delete(queues).where(eq(queues.name, 'gone'));
    const res = await server.client.post('/v1/topics/{topic}/queues/{queue}/ack', {
      params: { topic: t, queue: 'gone' },
      body: { acks: [{ lease: first[0]!.lease, action: 'accept' }] },
    });
    expect(res.status).toBe(404);
    const again = await receive(t, 'gone', { max_records: 10 });
    expect(again.map((r) => [r.offset, r.delivery_count])).toEqual([
      [0, 1],
      [1, 1],
    ]);
  });

  // Nodes share a Postgres server; embedded PGlite belongs to one process.
  it.skipIf(!process.env['DATABASE_URL'])(
    'two nodes on one database: leases taken on one are acknowledged on the other, each record accepted once',
    async () => {
      const total = 400;
      const t = await topic(1, values(total));
      const q = name('q');
      // A second node: its own queues service (its own cached partition state) on the same database and log.
      const { QueuesService } = await import('../src/queues/queues-service.js');
      const s = server.services;
      const other = new QueuesService({
        db: s.db,
        topics: s.topics,
        logs: s.log,
        producer: s.produce,
        limits: { ...s.queues.limits },
        logger: { warn: () => undefined, info: () => undefined },
      });
      try {
        const accepted = new Map<number, number>();
        let notOk = 0;
        const viaHttp = async () =>
          (await receive(t, q, { max_records: 7 })).map((r) => ({ offset: r.offset, lease: r.lease }));
        const viaOther = async () => {
          const r = await other.receive(t, q, { maxRecords: 7, waitMs: 0 });
          if (!r.ok) throw new Error(r.error.message);
          return r.value.map((x) => ({ offset: (JSON.parse(x.json) as QRecord).offset, lease: x.lease }));
        };
        const ackHttp = async (leases: string[]) =>
          (
            await ack(
              t,
              q,
              leases.map((lease) => ({ lease, action: 'accept' as const })),
            )
          ).map((r) => r.status);
        const ackOther = async (leases: string[]) => {
          const { parseLease } = await import('../src/queues/lease.js');
          const r = await other.ack(
            t,
            q,
            leases.map((text) => ({ lease: parseLease(text)!, text, action: 'accept' as const })),
          );
          if (!r.ok) throw new Error(r.error.message);
          return r.value.map((x) => x.status);
        };
        const deadline = Date.now() + 60_000;
        await Promise.all(
          Array.from({ length: 6 }, async (_, w) => {
            // Receive on one node, acknowledge on the other (half the workers each way).
            const [take, settle] = w % 2 === 0 ? [viaHttp, ackOther] : [viaOther, ackHttp];
            while (accepted.size < total && notOk === 0 && Date.now() < deadline) {
              const got = await take();
              if (got.length === 0) continue;
              const statuses = await settle(got.map((g) => g.lease));
              statuses.forEach((st, i) => {
                if (st !== 'ok') return void notOk++;
                const o = got[i]!.offset;
                accepted.set(o, (accepted.get(o) ?? 0) + 1);
              });
            }
          }),
        );
        expect(notOk).toBe(0);
        expect(accepted.size).toBe(total);
        expect([...accepted.values()].every((n) => n === 1)).toBe(true);
        expect(await describeQueue(t, q)).toMatchObject({ accepted: total, in_flight: 0, available: 0 });
      } finally {
        other.close();
      }
    },
    90_000,
  );

  it('a receiver waiting on a queue that is deleted gets 404 and does not re-create it', async () => {
    const t = await topic(1, values(1));
    expect((await receive(t, 'w', { max_records: 1 })).map((r) => r.offset)).toEqual([0]); // creates it, leases 0
    const queueId = (await server.services.queues.queueFor(server.services.topics.lookup(t)!, 'w', false))!.id;
    const pending = server.client.post('/v1/topics/{topic}/queues/{queue}/receive', {
      params: { topic: t, queue: 'w' },
      query: { wait_ms: 5000 },
    });
    await until(() => server.services.queues.signals.waiting(queueId) > 0, 'the receive waits on the queue');
    expectStatus(
      await server.client.delete('/v1/topics/{topic}/queues/{queue}', { params: { topic: t, queue: 'w' } }),
      204,
    );
    const res = await pending;
    expect(res.status).toBe(404);
    expect(expectStatus(res, 404).error).toMatchObject({
      code: 'queue_not_found',
      message: expect.stringMatching(/deleted while the request waited/),
    });
    // Nothing brought it back (it would start again at offset 0 and deliver it a second time).
    expect(
      expectStatus(await server.client.get('/v1/topics/{topic}/queues', { params: { topic: t } }), 200).queues,
    ).toEqual([]);
  });

  it('an open queue stream ends with event: error queue_not_found when its queue is deleted, even with its leases held', async () => {
    const t = await topic(1, values(3));
    // max_in_flight=1: after the first lease the stream holds its credit, not a waiting receive.
    const l = listen(`${server.url}/v1/topics/${t}/queues/s/events?max_in_flight=1&lock_ms=60000`);
    try {
      await until(() => l.events.some((e) => e.type === 'records'), 'the first lease');
      expectStatus(
        await server.client.delete('/v1/topics/{topic}/queues/{queue}', { params: { topic: t, queue: 's' } }),
        204,
      );
      // Its lease runs out in a minute; the stream must not wait for that and re-create the queue.
      await until(() => l.events.some((e) => e.type === 'error'), 'the error event', 30_000);
      const error = JSON.parse(l.events.find((e) => e.type === 'error')!.data) as Record<string, unknown>;
      expect(error).toMatchObject({ code: 'queue_not_found' });
      expect(l.events.filter((e) => e.type === 'records')).toHaveLength(1);
    } finally {
      l.close();
    }
  });

  it('an open queue stream ends with event: error topic_not_found when its topic is deleted, and never receives from a topic created again under the same name', async () => {
    const t = await topic(1, values(1));
    // max_in_flight=1: after the first lease the stream holds its credit, not a waiting receive.
    const l = listen(`${server.url}/v1/topics/${t}/queues/s/events?max_in_flight=1&lock_ms=60000`);
    const types = () => l.events.map((e) => e.type);
    try {
      await until(() => types().includes('records'), 'the first lease');
      const first = l.events.find((e) => e.type === 'records')!;
      const held = (JSON.parse(first.data) as { records: QRecord[] }).records[0]!;
      expectStatus(await server.client.delete('/v1/topics/{topic}', { params: { topic: t } }), 204);
      // The topic comes back with a queue of the same name and a record; acknowledging the old
      // lease ("unknown") frees the old stream's credit.
      expectStatus(await server.client.post('/v1/topics', { body: { name: t, partitions: 1 } }), 201);
      expectStatus(await putQueue(t, 's', {}), 201);
      await produce(t, [{ value: 'new' }]);
      expect((await ack(t, 's', [{ lease: held.lease, action: 'accept' }]))[0]!.status).toBe('unknown');
      await until(() => types().includes('error') || types().length > 1, 'the stream to end or deliver again');
      // Ended by the topic's deletion itself (topic_not_found), not by its next receive.
      expect(types()).toEqual(['records', 'error']);
      const error = l.events.find((e) => e.type === 'error')!;
      expect(JSON.parse(error.data)).toMatchObject({ code: 'topic_not_found' });
      expect(error.id).toBe(first.id);
    } finally {
      l.close();
    }
  });

  it('an open queue stream whose queue another node deletes and creates again ends with queue_not_found, never receiving from the new queue', async () => {
    const t = await topic(1, values(1));
    const l = listen(`${server.url}/v1/topics/${t}/queues/s/events?max_in_flight=1&lock_ms=60000`);
    const types = () => l.events.map((e) => e.type);
    // Another node: its own queues service on the same database; this node's listeners hear nothing of it.
    const { QueuesService } = await import('../src/queues/queues-service.js');
    const s = server.services;
    const other = new QueuesService({
      db: s.db,
      topics: s.topics,
      logs: s.log,
      producer: s.produce,
      limits: { ...s.queues.limits },
      logger: { warn: () => undefined, info: () => undefined },
    });
    try {
      await until(() => types().includes('records'), 'the first lease');
      const first = l.events.find((e) => e.type === 'records')!;
      const held = (JSON.parse(first.data) as { records: QRecord[] }).records[0]!;
      expect((await other.delete(t, 's')).ok).toBe(true);
      const again = await other.ensure(t, 's');
      if (!again.ok) throw new Error(again.error.message);
      expect(again.value).not.toBe(first.id);
      await produce(t, [{ value: 'new' }]);
      // This node sees the new queue once its cached row runs out.
      await eventually(async () =>
        (await s.queues.queueFor(s.topics.lookup(t)!, 's', false))?.id === again.value ? true : undefined,
      );
      // The old lease is unknown to the new queue; acknowledging it frees the old stream's credit.
      expect((await ack(t, 's', [{ lease: held.lease, action: 'accept' }]))[0]!.status).toBe('unknown');
      await until(() => types().includes('error') || types().length > 1, 'the stream to end or deliver again');
      expect(types()).toEqual(['records', 'error']);
      expect(JSON.parse(l.events.find((e) => e.type === 'error')!.data)).toMatchObject({ code: 'queue_not_found' });
      // The new queue still has both records for its own receivers.
      expect((await describeQueue(t, 's')).available).toBe(2);
    } finally {
      l.close();
      other.close();
    }
  });

  it('an EventSource reconnecting after its queue was deleted gets 404 and does not re-create it', async () => {
    const t = await topic(1, values(3));
    const l = listen(`${server.url}/v1/topics/${t}/queues/gone/events?max_in_flight=1&lock_ms=60000`);
    try {
      await until(() => l.events.some((e) => e.type === 'records'), 'the first lease');
      // The events carry an id, so an EventSource's reconnect says it is one (Last-Event-ID).
      expect(l.events.find((e) => e.type === 'records')!.id).not.toBe('');
      expectStatus(
        await server.client.delete('/v1/topics/{topic}/queues/{queue}', { params: { topic: t, queue: 'gone' } }),
        204,
      );
      await until(() => l.events.some((e) => e.type === 'error'), 'the error event', 30_000);
      // The EventSource reconnects on its own after `retry`; a 404 is what makes it stop.
      await until(() => l.es.readyState === l.es.CLOSED, 'the EventSource to give up', 30_000);
      expect(l.opens).toBe(1);
      expect(
        expectStatus(await server.client.get('/v1/topics/{topic}/queues', { params: { topic: t } }), 200).queues,
      ).toEqual([]);
      // The same answer to a reconnect by hand; a new connection (no Last-Event-ID) still creates it.
      const id = l.events.find((e) => e.type === 'records')!.id;
      const res = await fetch(`${server.url}/v1/topics/${t}/queues/gone/events`, { headers: { 'last-event-id': id } });
      expect(res.status).toBe(404);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('queue_not_found');
    } finally {
      l.close();
    }
  });

  it('a reconnect to a queue deleted and created again under the same name gets 404, not the new queue', async () => {
    const t = await topic(1, values(3));
    const first = await fetch(`${server.url}/v1/topics/${t}/queues/again/events`);
    expect(first.status).toBe(200);
    const reader = first.body!.getReader();
    let text = '';
    const idLine = /(?:^|\n)id: (\S+)\n/;
    const deadline = Date.now() + 5000;
    while (!idLine.test(text) && Date.now() < deadline) {
      const chunk = await reader.read();
      if (chunk.done) break;
      text += new TextDecoder().decode(chunk.value);
    }
    const id = idLine.exec(text)![1]!;
    await reader.cancel();
    expectStatus(
      await server.client.delete('/v1/topics/{topic}/queues/{queue}', { params: { topic: t, queue: 'again' } }),
      204,
    );
    // Created again by a new connection (no Last-Event-ID): another incarnation, another id.
    const fresh = await fetch(`${server.url}/v1/topics/${t}/queues/again/events`);
    expect(fresh.status).toBe(200);
    await fresh.body?.cancel();
    const res = await fetch(`${server.url}/v1/topics/${t}/queues/again/events`, { headers: { 'last-event-id': id } });
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('queue_not_found');
    // The queue a reconnect was reading is still joined by its id.
    const current = await fetch(`${server.url}/v1/topics/${t}/queues/again/events`);
    const currentReader = current.body!.getReader();
    let currentText = '';
    while (!idLine.test(currentText)) {
      const chunk = await currentReader.read();
      if (chunk.done) break;
      currentText += new TextDecoder().decode(chunk.value);
    }
    await currentReader.cancel();
    const currentId = idLine.exec(currentText)![1]!;
    expect(currentId).not.toBe(id);
    const rejoin = await fetch(`${server.url}/v1/topics/${t}/queues/again/events`, {
      headers: { 'last-event-id': currentId },
    });
    expect(rejoin.status).toBe(200);
    await rejoin.body?.cancel();
  });

  it('an EventSource reconnecting after its topic was deleted and created again gets 404, not a new queue', async () => {
    const t = await topic(1, values(1));
    const first = await fetch(`${server.url}/v1/topics/${t}/queues/q1/events`);
    expect(first.status).toBe(200);
    const reader = first.body!.getReader();
    let text = '';
    const idLine = /\nid: (\S+)\n/;
    const deadline = Date.now() + 5000;
    while (!idLine.test(text) && !text.includes('event: records') && Date.now() < deadline) {
      const chunk = await reader.read();
      if (chunk.done) break;
      text += new TextDecoder().decode(chunk.value);
    }
    // The events carry an id, so an EventSource's reconnect says it is one (Last-Event-ID).
    expect(text).toMatch(idLine);
    const id = idLine.exec(text)![1]!;
    await reader.cancel();
    expectStatus(await server.client.delete('/v1/topics/{topic}', { params: { topic: t } }), 204);
    expectStatus(await server.client.post('/v1/topics', { body: { name: t, partitions: 1 } }), 201);
    const res = await fetch(`${server.url}/v1/topics/${t}/queues/q1/events`, { headers: { 'last-event-id': id } });
    expect(res.status).toBe(404);
    await res.body?.cancel();
    expect(
      expectStatus(await server.client.get('/v1/topics/{topic}/queues', { params: { topic: t } }), 200).queues,
    ).toEqual([]);
  });

  it('a receiver waiting on a topic that is deleted gets 404 at once', async () => {
    const t = await topic(1);
    const pending = server.client.post('/v1/topics/{topic}/queues/{queue}/receive', {
      params: { topic: t, queue: 'w' },
      query: { wait_ms: 5000 },
    });
    await eventually(async () =>
      (await server.client.get('/v1/topics/{topic}/queues', { params: { topic: t } })).status === 200
        ? true
        : undefined,
    );
    const started = Date.now();
    expectStatus(await server.client.delete('/v1/topics/{topic}', { params: { topic: t } }), 204);
    expect((await pending).status).toBe(404);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  /** Produce records `from`..`to`-1 of 400 B one per request, so segments roll and retention can remove whole ones. */
  const produceEach = async (t: string, from: number, to: number) => {
    for (let i = from; i < to; i++) await produce(t, [{ value: 'x'.repeat(400) }]);
  };
  /** Run retention now; the partition's new start, past the five records leased first. */
  const retainedStart = async (t: string) => {
    await server.services.log.enforceRetention();
    const logStart = expectStatus(await server.client.get('/v1/topics/{topic}', { params: { topic: t } }), 200)
      .partitions[0]!.start_offset;
    expect(logStart).toBeGreaterThan(5);
    return logStart;
  };

  it('records removed by retention while available or in flight are counted as skipped, not delivered', async () => {
    const t = await topic(1, [], { segment_bytes: 1024, retention_bytes: 1 });
    // One record per request, so segments roll and retention can remove whole ones. The
    // first five are leased before the rest is produced: the server's own periodic retention
    // may run at any moment from here on, and only does what the explicit call below does.
    const q = 'ret';
    await produceEach(t, 0, 5);
    const held = await receive(t, q, { max_records: 5 });
    expect(held.map((r) => r.offset)).toEqual([0, 1, 2, 3, 4]);
    await ack(t, q, [{ lease: held[0]!.lease, action: 'accept' }]);
    await produceEach(t, 5, 60);
    const logStart = await retainedStart(t);
    const desc = await describeQueue(t, q);
    // Offset 0 was accepted; 1–4 were in flight and everything up to the log start available.
    expect(desc.skipped).toBe(logStart - 1);
    expect(desc.accepted).toBe(1);
    const next = await receive(t, q, { max_records: 1000 });
    expect(next[0]!.offset).toBe(logStart);
    expect(next).toHaveLength(60 - logStart);
    expect((await ack(t, q, [{ lease: held[1]!.lease, action: 'accept' }]))[0]!.status).toBe('unknown');
    expect((await describeQueue(t, q)).skipped).toBe(logStart - 1);
  });

  it('an ack of a lease whose record retention removed answers unknown, as the queue counts it skipped (no receive in between)', async () => {
    const t = await topic(1, [], { segment_bytes: 1024, retention_bytes: 1 });
    const q = 'ret-ack';
    await produceEach(t, 0, 5);
    const held = await receive(t, q, { max_records: 5, lock_ms: 300_000 });
    expect(held).toHaveLength(5);
    await produceEach(t, 5, 60);
    const logStart = await retainedStart(t);
    const before = await describeQueue(t, q);
    expect(before.skipped).toBe(logStart);
    expect(before.in_flight).toBe(0);
    // A reject would dead-letter a record the log no longer has; an accept would count it twice.
    const acks = await ack(t, q, [
      ...held.slice(0, 4).map((r) => ({ lease: r.lease, action: 'accept' as const })),
      { lease: held[4]!.lease, action: 'reject' as const },
    ]);
    expect(acks.map((a) => a.status)).toEqual(['unknown', 'unknown', 'unknown', 'unknown', 'unknown']);
    const after = await describeQueue(t, q);
    expect(after.skipped).toBe(logStart);
    expect(after.accepted).toBe(0);
    expect(after.dead_lettered + after.archived).toBe(0);
  });
});

describe('restart', () => {
  it('keeps every acknowledgement and redelivers what was in flight', async () => {
    const restartEnv = await createTestEnv(ENV);
    let s = await startTestServer(restartEnv);
    const prev = server;
    try {
      server = s;
      const t = await topic(
        2,
        values(20, (i) => ({ partition: i % 2 })),
      );
      const q = 'durable';
      // Long enough that the eight acknowledgements below come within it on a loaded machine
      // (they must all be 'ok'); the four left in flight come back once it has run out.
      expectStatus(await putQueue(t, q, { lock_ms: 2_000 }), 201);
      const got = await receive(t, q, { max_records: 12 });
      const accepted = got.slice(0, 8);
      expect(
        (
          await ack(
            t,
            q,
            accepted.map((r) => ({ lease: r.lease, action: 'accept' as const })),
          )
        ).every((r) => r.status === 'ok'),
      ).toBe(true);
      await s.stop();
      s = await startTestServer(restartEnv);
      server = s;
      const seen = new Map<string, number>();
      await eventually(async () => {
        const batch = await receive(t, q, { max_records: 50, wait_ms: 500, lock_ms: 30_000 });
        for (const r of batch) seen.set(`${r.partition}/${r.offset}`, r.delivery_count);
        if (batch.length > 0) {
          const results = await ack(
            t,
            q,
            batch.map((r) => ({ lease: r.lease, action: 'accept' as const })),
          );
          expect(results.every((r) => r.status === 'ok')).toBe(true);
        }
        return seen.size >= 12 ? true : undefined;
      }, 20_000);
      const acceptedKeys = new Set(accepted.map((r) => `${r.partition}/${r.offset}`));
      expect([...seen.keys()].filter((k) => acceptedKeys.has(k))).toEqual([]);
      expect(seen.size).toBe(12);
      const redelivered = got.slice(8).map((r) => `${r.partition}/${r.offset}`);
      for (const k of redelivered) expect(seen.get(k)).toBe(2);
      expect((await describeQueue(t, q)).accepted).toBe(20);
    } finally {
      server = prev;
      await s.stop();
      await restartEnv.cleanup();
    }
  }, 60_000);
});
