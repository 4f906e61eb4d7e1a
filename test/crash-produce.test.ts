// Crash safety of produce: concurrent producers against a real server process, kill -9
// mid-stream, restart on the same data: every acknowledged record is readable at its offset
// with its value, and offsets are dense.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAllChildren, startChild } from './support/child-server.js';
import { expectStatus } from './support/client.js';
import { readPartition, startProducers } from './support/producers.js';
import { createTestEnv, type TestEnv } from './support/server.js';

let env: TestEnv;

beforeAll(async () => {
  env = await createTestEnv({ SLUICE_LOG_STORE: 'file', SLUICE_LOG_LEVEL: 'info' });
});
afterAll(async () => {
  killAllChildren();
  await env?.cleanup();
});

describe('kill -9 during concurrent produce', () => {
  it('keeps every acknowledged record, at its offset, with dense offsets', async () => {
    const first = await startChild(env.env);
    const name = `t-${randomUUID()}`;
    const partitions = 3;
    expectStatus(await first.client.post('/v1/topics', { body: { name, partitions } }), 201);

    const acked = new Map<string, string>(); // "partition:offset" → value
    const producers = startProducers(4, async (w, n) => {
      const records = Array.from({ length: 10 }, (_, i) => ({ key: `w${w}-${n % 7}`, value: `w${w}-n${n}-i${i}` }));
      try {
        const res = await first.client.post('/v1/topics/{topic}/records', {
          params: { topic: name },
          body: { records },
        });
        if (res.status !== 200) return 'refused';
        res.body.offsets.forEach((o, i) => acked.set(`${o.partition}:${o.offset}`, records[i]!.value));
        return 'acked';
      } catch {
        return 'gone'; // the server died under us
      }
    });
    await producers.untilAcked(40, 10_000); // 400 records
    first.child.kill('SIGKILL');
    await producers.stop();
    expect(acked.size).toBeGreaterThanOrEqual(400);

    const second = await startChild(env.env);
    try {
      for (let p = 0; p < partitions; p++) {
        const records = await readPartition(second.client, name, p);
        records.forEach((r, i) => {
          expect(r.offset).toBe(i); // dense: no gap, no repeat
          const want = acked.get(`${p}:${r.offset}`);
          if (want !== undefined) expect(r.value).toBe(want);
          acked.delete(`${p}:${r.offset}`);
        });
      }
      expect([...acked.keys()]).toEqual([]); // every acknowledged record was found
    } finally {
      second.child.kill('SIGTERM');
      await new Promise((r) => second.child.once('exit', r));
    }
  }, 120_000); // two cold starts of a child process (tsx + embedded Postgres) on a busy machine
});
