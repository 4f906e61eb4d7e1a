// Fault 6: Postgres stopped (a real `pg_ctl stop -m immediate` of a private cluster) under
// load: produce and offset reads stay up, group/admin calls answer 503 with Retry-After,
// everything recovers by itself soon after Postgres returns, no committed offset is lost.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, startTestServer, type TestEnv, type TestServer } from '../support/server.js';
import { knob, quantile, report } from './support/figures.js';
import { startPrivatePostgres, postgresBinDir, type PrivatePostgres } from './support/private-postgres.js';

const OUTAGE_MS = knob('FAULTS_PG_OUTAGE_MS', 8_000, 30_000);
const PARTITIONS = 3;

let pg: PrivatePostgres | undefined;
let env: TestEnv;
let server: TestServer | undefined;

beforeAll(async () => {
  pg = await startPrivatePostgres();
  if (!pg) return;
  env = await createTestEnv({ SLUICE_LOG_STORE: 'file', DATABASE_URL: pg.url, SLUICE_DB_CONNECT_TIMEOUT_MS: '1000' });
  server = await startTestServer(env);
});
afterAll(async () => {
  await server?.stop();
  await env?.cleanup();
  await pg?.destroy();
});

interface Sample {
  kind: 'produce' | 'read' | 'admin' | 'group';
  started: number;
  status: number; // 0 = no answer within 10 s
  retryAfter: string | null;
  ms: number;
  what: string;
}

async function call(
  base: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; retryAfter: string | null; json: unknown }> {
  try {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    return {
      status: res.status,
      retryAfter: res.headers.get('retry-after'),
      json: text ? (JSON.parse(text) as unknown) : undefined,
    };
  } catch {
    return { status: 0, retryAfter: null, json: undefined };
  }
}

if (!postgresBinDir()) {
  console.warn(
    'SKIPPED Postgres outage test: no PostgreSQL server binaries in /usr/lib/postgresql/*/bin (install them with: apt-get install -y postgresql)',
  );
}
describe.skipIf(!postgresBinDir())('Postgres outage under load (private PostgreSQL cluster)', () => {
  it(`a ${OUTAGE_MS / 1000} s outage: data path up, 503 + Retry-After for groups/admin, self-recovery, no committed offset lost`, async () => {
    const s = server!;
    const base = s.url;
    const topic = `t-${randomUUID()}`;
    const group = `g-${randomUUID()}`;
    expect((await call(base, 'POST', '/v1/topics', { name: topic, partitions: PARTITIONS })).status).toBe(201);
    for (let p = 0; p < PARTITIONS; p++) {
      const records = Array.from({ length: 20 }, (_, i) => ({ partition: p, value: i }));
      expect((await call(base, 'POST', `/v1/topics/${topic}/records`, { records })).status).toBe(200);
    }
    const join = await call(base, 'POST', `/v1/groups/${group}/members`, {
      topics: [topic],
      session_timeout_ms: 600_000,
    });
    expect(join.status).toBe(201);
    const { member_id, generation } = join.json as { member_id: string; generation: number };
    const committed = Array.from({ length: PARTITIONS }, (_, p) => 5 + p);
    const commit = (offsets: number[]) =>
      call(base, 'POST', `/v1/groups/${group}/offsets`, {
        member_id,
        generation,
        offsets: offsets.map((offset, partition) => ({ topic, partition, offset })),
      });
    expect((await commit(committed)).status).toBe(204);

    const samples: Sample[] = [];
    let stop = false;
    const loop = async (
      kind: Sample['kind'],
      one: (i: number) => [string, Promise<{ status: number; retryAfter: string | null }>],
    ) => {
      for (let i = 0; !stop; i++) {
        const started = Date.now();
        const [what, pending] = one(i);
        const r = await pending;
        samples.push({ kind, started, status: r.status, retryAfter: r.retryAfter, ms: Date.now() - started, what });
        if (kind !== 'produce') await new Promise((res) => setTimeout(res, 50));
      }
    };
    const loops = [
      loop('produce', (i) => [
        'produce',
        call(base, 'POST', `/v1/topics/${topic}/records`, { records: [{ partition: i % PARTITIONS, value: { i } }] }),
      ]),
      loop('produce', (i) => [
        'produce keyed',
        call(base, 'POST', `/v1/topics/${topic}/records`, { records: [{ key: `k${i}`, value: { i } }] }),
      ]),
      loop('read', (i) => [
        'read',
        call(base, 'GET', `/v1/topics/${topic}/partitions/${i % PARTITIONS}/records?offset=0&max_records=50`),
      ]),
      loop('admin', (i) =>
        i % 2
          ? ['list topics', call(base, 'GET', '/v1/topics')]
          : ['create topic', call(base, 'POST', '/v1/topics', { name: `t-${randomUUID()}` })],
      ),
      loop('group', (i) =>
        i % 2 ? ['get group', call(base, 'GET', `/v1/groups/${group}`)] : ['commit', commit(committed)],
      ),
    ];
    const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
    await wait(1_000);
    const downAt = Date.now();
    await pg!.stop('immediate');
    await wait(OUTAGE_MS);
    const startingAt = Date.now();
    await pg!.start();
    const upAt = Date.now();
    // Keep the load on until every kind has answered 200 again (or a generous deadline passes).
    const deadline = upAt + 30_000;
    const recoveredAt = (kind: Sample['kind']) =>
      samples.find((x) => x.kind === kind && x.started >= upAt && x.status === 200)?.started;
    while (Date.now() < deadline && (recoveredAt('admin') === undefined || recoveredAt('group') === undefined))
      await wait(100);
    await wait(1_000); // a second of steady state after recovery
    stop = true;
    await Promise.all(loops);

    if (process.env['FAULTS_DEBUG']) {
      for (const x of samples.filter((y) => y.kind === 'admin' || y.kind === 'group')) {
        process.stdout.write(`debug ${x.started - downAt} +${x.ms} ${x.what} ${x.status}\n`);
      }
      process.stdout.write(`debug up at ${upAt - downAt}\n`);
    }
    // Requests wholly inside the outage: started once the stop had finished, answered before the
    // start began. (`upAt` is when pg_ctl returned, which can be well after the server accepted
    // connections on a loaded machine: CI once saw a create started 0.5 s before it succeed.)
    const during = samples.filter((x) => x.started > downAt + 1_500 && x.started + x.ms < startingAt);
    const after = samples.filter((x) => x.started > upAt + 10_000);
    const byKind = (list: Sample[], kind: Sample['kind']) => list.filter((x) => x.kind === kind);
    const statusCounts = (list: Sample[]) =>
      Object.fromEntries(
        [...new Set(list.map((x) => x.status))].map((st) => [st, list.filter((x) => x.status === st).length]),
      );

    const produceDuring = byKind(during, 'produce');
    const readDuring = byKind(during, 'read');
    const controlDuring = [...byKind(during, 'admin'), ...byKind(during, 'group')];
    expect(produceDuring.length).toBeGreaterThan(0);
    expect(statusCounts(produceDuring), 'produce during the outage').toEqual({ 200: produceDuring.length });
    expect(statusCounts(readDuring), 'offset reads during the outage').toEqual({ 200: readDuring.length });
    expect(controlDuring.length).toBeGreaterThan(0);
    expect(statusCounts(controlDuring), `groups/admin during the outage: ${JSON.stringify(controlDuring)}`).toEqual({
      503: controlDuring.length,
    });
    expect(controlDuring.every((x) => x.retryAfter !== null)).toBe(true);
    // Answered promptly, not after waiting out the outage (generous for a loaded machine).
    expect(Math.max(...controlDuring.map((x) => x.ms))).toBeLessThan(5_000);
    expect(
      samples.filter((x) => x.status >= 500 && x.status !== 503),
      'no 500s ever',
    ).toEqual([]);

    const recoveryMs = Math.max(recoveredAt('admin')! - upAt, recoveredAt('group')! - upAt);
    // Once recovered, it stays recovered.
    expect(after.filter((x) => ![200, 201, 204].includes(x.status))).toEqual([]);

    // No committed offset lost: the group still has exactly what was committed.
    const g = await call(base, 'GET', `/v1/groups/${group}`);
    expect(g.status).toBe(200);
    const parts = (g.json as { partitions: Array<{ partition: number; committed_offset: number | null }> }).partitions;
    expect(parts.map((p) => p.committed_offset)).toEqual(committed);
    expect((await commit(committed.map((c) => c + 1))).status).toBe(204);

    const produceLatency = samples.filter((x) => x.kind === 'produce');
    report('pg_outage', {
      outage_ms: OUTAGE_MS,
      produce_during: produceDuring.length,
      produce_errors_during: produceDuring.filter((x) => x.status !== 200).length,
      reads_during: readDuring.length,
      control_503_during: controlDuring.length,
      control_other_during: controlDuring.filter((x) => x.status !== 503).length,
      recovery_ms: recoveryMs,
      committed_lost: 0,
      control_ms_max_during: Math.max(...controlDuring.map((x) => x.ms)),
      produce_p99_ms: quantile(
        produceLatency.map((x) => x.ms),
        0.99,
      ),
      requests_total: samples.length,
    });
    // DESIGN/issue target: recovered within 5 s of Postgres returning; generous on a loaded machine.
    expect(recoveryMs).toBeLessThan(15_000);
  }, 180_000);
});
