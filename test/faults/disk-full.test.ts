// Fault 4: the disk fills under concurrent producers (DATA_DIR on a small tmpfs when this
// process may mount one, else ENOSPC from the fs seam): 507, no partial batch, recovery, 0 lost.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFileLogStore, faultInjectingLogFs, nodeLogFs } from '../../src/log/index.js';
import { expectStatus } from '../support/client.js';
import { createTestEnv, startTestServer, type TestEnv, type TestServer } from '../support/server.js';
import { pollUntil, report } from './support/figures.js';
import { readPartition } from './support/partition-reader.js';
import { mountSmallFs, type SmallFs } from './support/small-fs.js';

const MiB = 1024 * 1024;
const PARTITIONS = 3;

let env: TestEnv;
let small: SmallFs | undefined;
let server: TestServer | undefined;
let injectFull = false;

beforeAll(async () => {
  small = await mountSmallFs(16 * MiB);
  if (small) {
    // Only the log lives on the small disk: embedded Postgres data (DATA_DIR/meta) is bind-mounted from elsewhere.
    await small.keepOutside('meta');
    env = await createTestEnv({ SLUICE_LOG_STORE: 'file', DATA_DIR: small.dir });
  } else {
    env = await createTestEnv({ SLUICE_LOG_STORE: 'file' });
  }
});
afterAll(async () => {
  await server?.stop();
  await env?.cleanup();
  await small?.unmount();
});

/** Start the server; without a mount, its log store fails writes with ENOSPC while `injectFull`. */
async function start(): Promise<TestServer> {
  if (small) return startTestServer(env);
  const log = createFileLogStore({
    dataDir: env.dataDir,
    fs: faultInjectingLogFs(nodeLogFs, (op, file) =>
      injectFull && (op === 'write' || op === 'open') && !file.includes('/meta/') ? 'ENOSPC' : undefined,
    ),
  });
  return startTestServer(env, { overrides: { log } });
}

interface Sent {
  partition: number;
  ids: string[];
  status: number;
  offsets?: number[];
}

describe('disk full', () => {
  it('answers 507, shows no partial batch, loses nothing acknowledged, and takes writes again once space frees', async () => {
    server = await start();
    const topic = `t-${randomUUID()}`;
    expectStatus(await server.client.post('/v1/topics', { body: { name: topic, partitions: PARTITIONS } }), 201);
    if (small) await small.fill(1 * MiB);

    const sent: Sent[] = [];
    const pad = 'd'.repeat(2000);
    let n = 0;
    const producer = async (partition: number) => {
      const deadline = Date.now() + 60_000;
      let mine = 0;
      while (Date.now() < deadline && mine < 4) {
        const ids = Array.from({ length: 10 }, () => `r${n++}`);
        if (!small && n > 300) injectFull = true; // the seam's "disk" fills after ~300 records
        const res = await server!.client.post('/v1/topics/{topic}/records', {
          params: { topic },
          body: { records: ids.map((id) => ({ partition, value: { id, pad } })) },
        });
        const entry: Sent = { partition, ids, status: res.status };
        if (res.status === 200) entry.offsets = res.body.offsets.map((o) => o.offset);
        else {
          mine++;
        }
        sent.push(entry);
      }
    };
    await Promise.all(Array.from({ length: PARTITIONS }, (_, p) => producer(p)));
    const statuses = new Map<number, number>();
    for (const s of sent) statuses.set(s.status, (statuses.get(s.status) ?? 0) + 1);
    expect(
      [...statuses.keys()].every((s) => s === 200 || s === 503 || s === 507),
      JSON.stringify([...statuses]),
    ).toBe(true);
    expect(statuses.get(507) ?? 0).toBeGreaterThan(0);
    const acked = sent.filter((s) => s.status === 200);
    expect(acked.length).toBeGreaterThan(0);

    // What readers see while the disk is full: exactly the acknowledged batches, whole.
    const check = async (phase: string) => {
      let lost = 0;
      let partial = 0;
      let unacked = 0;
      for (let p = 0; p < PARTITIONS; p++) {
        const { records } = await readPartition(server!.client, topic, p);
        const at = new Map(records.map((r) => [r.offset, (r.value as { id: string }).id]));
        const visible = new Set(at.values());
        for (const s of sent.filter((x) => x.partition === p)) {
          const shown = s.ids.filter((id) => visible.has(id)).length;
          if (shown > 0 && shown < s.ids.length) partial++;
          if (s.status === 200) lost += s.ids.filter((id, i) => at.get(s.offsets![i]!) !== id).length;
          else if (shown > 0) unacked++;
        }
        expect(
          records.map((r) => r.offset),
          phase,
        ).toEqual(records.map((_, i) => i));
      }
      return { lost, partial, unacked };
    };
    const whileFull = await check('while full');
    expect(whileFull).toEqual({ lost: 0, partial: 0, unacked: 0 });

    // Space frees: does the partition take writes again by itself, or after re-verification (restart)?
    if (small) await small.free();
    injectFull = false;
    const freedAt = Date.now();
    const probe = async () =>
      (
        await server!.client.post('/v1/topics/{topic}/records', {
          params: { topic },
          body: { records: [{ partition: 0, value: { id: 'probe' } }] },
        })
      ).status === 200;
    const selfRecovered = await pollUntil(
      'writes after space frees',
      async () => ((await probe()) ? true : undefined),
      5_000,
      250,
    ).catch(() => false);
    if (!selfRecovered) {
      await server.stop();
      server = undefined;
      server = await start();
    }
    const recoveredMs = Date.now() - freedAt;
    for (let p = 0; p < PARTITIONS; p++) {
      const res = await server.client.post('/v1/topics/{topic}/records', {
        params: { topic },
        body: { records: [{ partition: p, value: { id: `after-${p}` } }] },
      });
      expect(res.status).toBe(200);
    }
    const afterRecovery = await check('after recovery');
    expect(afterRecovery).toEqual({ lost: 0, partial: 0, unacked: 0 });

    report('disk_full', {
      mode: small ? 'tmpfs' : 'injected',
      requests: sent.length,
      acked_records: acked.length * 10,
      status_507: statuses.get(507) ?? 0,
      status_503: statuses.get(503) ?? 0,
      lost: afterRecovery.lost,
      partial_visible: whileFull.partial + afterRecovery.partial,
      recovered_by: selfRecovered ? 'itself' : 'restart',
      recovery_ms: recoveredMs,
      truncated_bytes: server.services.recovery.truncated.reduce((a, t) => a + t.bytes, 0),
    });
  });
});
