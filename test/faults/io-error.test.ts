// Fault 5: EIO on a segment write and on fdatasync (fs seam under a real server): no
// acknowledgement after the error, the partition refuses writes until re-verified (restart),
// a retry is never answered "success", and nothing half-written becomes visible.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFileLogStore, faultInjectingLogFs, nodeLogFs, type FaultOp } from '../../src/log/index.js';
import { expectStatus, type Client } from '../support/client.js';
import { createTestEnv, startTestServer, type TestEnv, type TestServer } from '../support/server.js';
import { report } from './support/figures.js';
import { readPartition, topicId } from './support/partition-reader.js';

let env: TestEnv;
let server: TestServer | undefined;
/** The one armed fault: fail the next `op` on a `.log` file under `dirPart`, once. */
let armed: { op: FaultOp; dirPart: string } | undefined;
let fired = 0;

beforeAll(async () => {
  env = await createTestEnv({ SLUICE_LOG_STORE: 'file' });
});
afterAll(async () => {
  await server?.stop();
  await env?.cleanup();
});

function start(): Promise<TestServer> {
  const log = createFileLogStore({
    dataDir: env.dataDir,
    fs: faultInjectingLogFs(nodeLogFs, (op, file) => {
      if (!armed || op !== armed.op || !file.includes(armed.dirPart) || !file.endsWith('.log')) return undefined;
      armed = undefined;
      fired++;
      return 'EIO';
    }),
  });
  return startTestServer(env, { overrides: { log } });
}

interface Req {
  key: string;
  partition: number;
  ids: string[];
  status?: number;
  offsets?: number[];
}

async function send(client: Client, topic: string, req: Req): Promise<Req> {
  const res = await client.post('/v1/topics/{topic}/records', {
    params: { topic },
    headers: { 'idempotency-key': req.key },
    body: { records: req.ids.map((id) => ({ partition: req.partition, value: { id } })) },
  });
  req.status = res.status;
  if (res.status === 200) req.offsets = res.body.offsets.map((o) => o.offset);
  return req;
}

const newReq = (partition: number, tag: string): Req => ({
  key: randomUUID(),
  partition,
  ids: Array.from({ length: 5 }, (_, i) => `${tag}-${randomUUID().slice(0, 8)}-${i}`),
});

describe('EIO on write and on fsync', () => {
  it('fails the request, never acknowledges after the error, refuses writes until re-verified, never "success after retry"', async () => {
    server = await start();
    const cases: Array<{ op: FaultOp; topic: string; id: string; reqs: Req[]; failed: Req[] }> = [];
    const figures: Record<string, number | string> = {};
    for (const op of ['write', 'datasync'] as FaultOp[]) {
      const topic = `t-${op}-${randomUUID()}`;
      expectStatus(await server.client.post('/v1/topics', { body: { name: topic, partitions: 2 } }), 201);
      const id = await topicId(server.client, topic);
      const reqs: Req[] = [];
      for (let i = 0; i < 3; i++)
        for (const p of [0, 1]) reqs.push(expectOk(await send(server.client, topic, newReq(p, 'before'))));

      armed = { op, dirPart: `/${id}/0/` };
      const firedBefore = fired;
      // Concurrent producers on the partition when the I/O error strikes.
      const burst = await Promise.all(Array.from({ length: 6 }, () => send(server!.client, topic, newReq(0, 'burst'))));
      reqs.push(...burst);
      expect(fired - firedBefore, `${op} fault fired`).toBe(1);
      const burstFailed = burst.filter((r) => r.status !== 200);
      expect(burstFailed.length, op).toBeGreaterThan(0);
      expect(new Set(burstFailed.map((r) => r.status)), op).toEqual(new Set([503]));

      // The device works again, but the partition must not: retries and new writes are refused.
      const retries = await Promise.all(burstFailed.map((r) => send(server!.client, topic, { ...r })));
      const fresh = await send(server.client, topic, newReq(0, 'after'));
      expect(
        retries.map((r) => r.status),
        `${op}: retries`,
      ).toEqual(retries.map(() => 503));
      expect(fresh.status, `${op}: new write`).toBe(503);
      reqs.push(fresh);
      // The other partition keeps working.
      reqs.push(expectOk(await send(server.client, topic, newReq(1, 'other'))));

      // Readers see exactly the acknowledged batches.
      await expectLogMatches(server.client, topic, reqs);
      const metrics = (await server.client.raw('GET', '/metrics')).text;
      expect(metrics).toMatch(/^sluice_log_read_only_partitions [1-9]/m);
      // /readyz names the read-only partition; no answer shows a file-system path.
      const ready = await server.client.raw('GET', '/readyz');
      expect(ready.status).toBe(503);
      expect(
        (JSON.parse(ready.text) as { checks: { log: { read_only: unknown[] } } }).checks.log.read_only,
      ).toContainEqual(expect.objectContaining({ topic_id: id, partition: 0 }));
      const refused = await server.client.raw('POST', `/v1/topics/${topic}/records`, {
        body: JSON.stringify({ records: [{ partition: 0, value: 1 }] }),
        headers: { 'content-type': 'application/json' },
      });
      expect(refused.status).toBe(503);
      for (const text of [ready.text, refused.text]) expect(text).not.toContain(env.dataDir);
      figures[`${op}_burst_failed`] = burstFailed.length;
      figures[`${op}_burst_acked`] = burst.length - burstFailed.length;
      cases.push({ op, topic, id, reqs, failed: [...burstFailed, fresh] });
    }

    // Re-verification: a restart scans the partitions; writes are accepted again, and the
    // failed idempotent requests can now be retried without duplicates.
    await server.stop();
    server = undefined;
    server = await start();
    for (const c of cases) {
      for (const r of c.failed) expectOk(Object.assign(r, await send(server.client, c.topic, { ...r })));
      await expectLogMatches(server.client, c.topic, c.reqs);
    }
    report('io_error', {
      ...figures,
      acked_after_error: 0,
      retry_success_before_reverify: 0,
      lost: 0,
      partial_visible: 0,
      recovered_by: 'restart',
    });
  });
});

function expectOk(r: Req): Req {
  if (r.status !== 200) throw new Error(`expected 200 for ${r.key}, got ${r.status}`);
  return r;
}

/** Each partition holds exactly the 200-answered requests' records, whole, at their offsets, densely. */
async function expectLogMatches(client: Client, topic: string, reqs: Req[]): Promise<void> {
  for (const p of [0, 1]) {
    const { records } = await readPartition(client, topic, p);
    expect(records.map((r) => r.offset)).toEqual(records.map((_, i) => i));
    const at = new Map(records.map((r) => [r.offset, (r.value as { id: string }).id]));
    const visible = new Set(at.values());
    const mine = reqs.filter((r) => r.partition === p);
    for (const r of mine) {
      if (r.status === 200) expect(r.ids.map((_, i) => at.get(r.offsets![i]!))).toEqual(r.ids);
      else expect(r.ids.filter((id) => visible.has(id))).toEqual([]);
    }
    expect(records.length).toBe(mine.filter((r) => r.status === 200).reduce((n, r) => n + r.ids.length, 0));
  }
}
