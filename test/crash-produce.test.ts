// Crash safety of produce: concurrent producers against a real server process, kill -9
// mid-stream, restart on the same data: every acknowledged record is readable at its offset
// with its value, and offsets are dense.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, expectStatus, type Client } from './support/client.js';
import { createTestEnv, type TestEnv } from './support/server.js';

let env: TestEnv;
const children = new Set<ChildProcess>();

beforeAll(async () => {
  env = await createTestEnv({ SLUICE_LOG_STORE: 'file', SLUICE_LOG_LEVEL: 'info' });
});
afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await env?.cleanup();
});

/** Start `node --import tsx src/main.ts` on port 0; resolves with its URL from the "listening" log line. */
async function startChild(): Promise<{ child: ChildProcess; client: Client }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: process.cwd(),
    env: { ...process.env, ...env.env, PORT: '0', SLUICE_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in 30 s: ${stderr}`)), 30_000);
    child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${stderr}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const entry = JSON.parse(line) as { msg?: string; port?: number };
        if (entry.msg === 'listening' && entry.port) {
          clearTimeout(timer);
          resolve(entry.port);
        }
      } catch {
        // not a log line
      }
    });
  });
  return { child, client: createClient(`http://127.0.0.1:${port}`) };
}

describe('kill -9 during concurrent produce', () => {
  it('keeps every acknowledged record, at its offset, with dense offsets', async () => {
    const first = await startChild();
    const name = `t-${randomUUID()}`;
    const partitions = 3;
    expectStatus(await first.client.post('/v1/topics', { body: { name, partitions } }), 201);

    const acked = new Map<string, string>(); // "partition:offset" → value
    let stop = false;
    const producer = async (w: number) => {
      for (let n = 0; !stop; n++) {
        const records = Array.from({ length: 10 }, (_, i) => ({ key: `w${w}-${n % 7}`, value: `w${w}-n${n}-i${i}` }));
        try {
          const res = await first.client.post('/v1/topics/{topic}/records', {
            params: { topic: name },
            body: { records },
          });
          if (res.status !== 200) continue;
          res.body.offsets.forEach((o, i) => acked.set(`${o.partition}:${o.offset}`, records[i]!.value));
        } catch {
          return; // the server died under us
        }
      }
    };
    const running = [0, 1, 2, 3].map(producer);
    const deadline = Date.now() + 10_000;
    while (acked.size < 400 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    first.child.kill('SIGKILL');
    stop = true;
    await Promise.all(running);
    expect(acked.size).toBeGreaterThanOrEqual(400);

    const second = await startChild();
    try {
      for (let p = 0; p < partitions; p++) {
        let offset = 0;
        for (;;) {
          const page = expectStatus(
            await second.client.get('/v1/topics/{topic}/partitions/{partition}/records', {
              params: { topic: name, partition: p },
              query: { offset, max_records: 1000 },
            }),
            200,
          );
          for (const r of page.records) {
            expect(r.offset).toBe(offset); // dense: no gap, no repeat
            const want = acked.get(`${p}:${r.offset}`);
            if (want !== undefined) expect(r.value).toBe(want);
            acked.delete(`${p}:${r.offset}`);
            offset += 1;
          }
          if (page.records.length === 0 || offset >= page.end_offset) break;
        }
      }
      expect([...acked.keys()]).toEqual([]); // every acknowledged record was found
    } finally {
      second.child.kill('SIGTERM');
      await new Promise((r) => second.child.once('exit', r));
    }
  }, 120_000); // two cold starts of a child process (tsx + embedded Postgres) on a busy machine
});
