// Graceful shutdown of a real server process under load: every request the server accepted
// before SIGTERM gets its full answer (nothing appended goes unacknowledged), and a long-poll
// open at the signal gets a complete 200, before the connections close and the process exits 0.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAllChildren, startChild } from './support/child-server.js';
import { expectStatus } from './support/client.js';
import { readPartition, startProducers } from './support/producers.js';
import { createTestEnv, type TestEnv } from './support/server.js';

let env: TestEnv;

beforeAll(async () => {
  env = await createTestEnv({ SLUICE_LOG_STORE: 'file', SLUICE_SHUTDOWN_TIMEOUT_MS: '10000' });
});
afterAll(async () => {
  killAllChildren();
  await env?.cleanup();
});

describe('SIGTERM under concurrent single-record producers', () => {
  it('answers every request it appended, and the open long-poll, before closing', async () => {
    const first = await startChild(env.env);
    const name = `t-${randomUUID()}`;
    const idle = `t-${randomUUID()}`;
    expectStatus(await first.client.post('/v1/topics', { body: { name, partitions: 2 } }), 201);
    expectStatus(await first.client.post('/v1/topics', { body: { name: idle } }), 201);

    const acked = new Set<string>();
    const unanswered: string[] = [];
    const producers = startProducers(8, async (w, n) => {
      const value = `w${w}-n${n}`;
      let res: Response;
      let text: string;
      try {
        res = await fetch(`${first.url}/v1/topics/${name}/records`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ records: [{ value }] }),
        });
        text = await res.text();
      } catch {
        unanswered.push(value);
        return 'gone'; // connection refused or cut: the server is going away
      }
      if (res.status === 200) {
        expect(JSON.parse(text)).toHaveProperty('offsets');
        acked.add(value);
        return 'acked';
      }
      if (res.status !== 503) throw new Error(`unexpected ${res.status}: ${text}`);
      return 'refused';
    });
    const longPoll = fetch(`${first.url}/v1/topics/${idle}/partitions/0/records?offset=0&wait_ms=20000`).then(
      async (res) => ({ status: res.status, text: await res.text() }),
      (e: unknown) => ({ status: 0, text: String(e) }),
    );
    await producers.untilAcked(300, 30_000);
    expect(acked.size).toBeGreaterThanOrEqual(300);

    first.child.kill('SIGTERM');
    const exitCode = new Promise<number | null>((resolve) => {
      if (first.child.exitCode !== null) resolve(first.child.exitCode);
      else first.child.once('exit', (code) => resolve(code));
    });
    const poll = await longPoll;
    await producers.stop();
    expect(await exitCode).toBe(0);
    expect(poll.status).toBe(200);
    expect(JSON.parse(poll.text)).toMatchObject({ records: [], next_offset: 0 });

    const second = await startChild(env.env);
    try {
      const appended: string[] = [];
      for (let p = 0; p < 2; p++) {
        for (const r of await readPartition(second.client, name, p)) appended.push(r.value as string);
      }
      const unacknowledged = appended.filter((v) => !acked.has(v));
      expect({ appended: appended.length, unacknowledged }).toEqual({ appended: acked.size, unacknowledged: [] });
    } finally {
      await second.stop();
    }
  }, 120_000);
});
