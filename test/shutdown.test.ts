// Graceful shutdown of a real server process under load: every request the server accepted
// before SIGTERM gets its full answer (nothing appended goes unacknowledged), and a long-poll
// open at the signal gets a complete 200, before the connections close and the process exits 0.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAllChildren, startChild } from './support/child-server.js';
import { expectStatus } from './support/client.js';
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
    let stop = false;
    const producer = async (w: number) => {
      for (let n = 0; !stop; n++) {
        const value = `w${w}-n${n}`;
        try {
          const res = await fetch(`${first.url}/v1/topics/${name}/records`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ records: [{ value }] }),
          });
          const text = await res.text();
          if (res.status === 200) {
            expect(JSON.parse(text)).toHaveProperty('offsets');
            acked.add(value);
          } else if (res.status !== 503) {
            throw new Error(`unexpected ${res.status}: ${text}`);
          }
        } catch (e) {
          if (e instanceof Error && e.message.startsWith('unexpected')) throw e;
          unanswered.push(value);
          return; // connection refused or cut: the server is going away
        }
      }
    };
    const producers = Array.from({ length: 8 }, (_, w) => producer(w));
    const longPoll = fetch(`${first.url}/v1/topics/${idle}/partitions/0/records?offset=0&wait_ms=20000`).then(
      async (res) => ({ status: res.status, text: await res.text() }),
      (e: unknown) => ({ status: 0, text: String(e) }),
    );
    const deadline = Date.now() + 30_000;
    while (acked.size < 300 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(acked.size).toBeGreaterThanOrEqual(300);

    first.child.kill('SIGTERM');
    const exitCode = new Promise<number | null>((resolve) => {
      if (first.child.exitCode !== null) resolve(first.child.exitCode);
      else first.child.once('exit', (code) => resolve(code));
    });
    const poll = await longPoll;
    stop = true;
    await Promise.all(producers);
    expect(await exitCode).toBe(0);
    expect(poll.status).toBe(200);
    expect(JSON.parse(poll.text)).toMatchObject({ records: [], next_offset: 0 });

    const second = await startChild(env.env);
    try {
      const appended: string[] = [];
      for (let p = 0; p < 2; p++) {
        let offset = 0;
        for (;;) {
          const page = expectStatus(
            await second.client.get('/v1/topics/{topic}/partitions/{partition}/records', {
              params: { topic: name, partition: p },
              query: { offset, max_records: 1000 },
            }),
            200,
          );
          for (const r of page.records) appended.push(r.value as string);
          if (page.records.length === 0 || page.next_offset >= page.end_offset) break;
          offset = page.next_offset;
        }
      }
      const unacknowledged = appended.filter((v) => !acked.has(v));
      expect({ appended: appended.length, unacknowledged }).toEqual({ appended: acked.size, unacknowledged: [] });
    } finally {
      await second.stop();
    }
  }, 120_000);
});
