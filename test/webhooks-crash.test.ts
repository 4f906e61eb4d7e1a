// Crash safety of webhooks: kill -9 a real server process while batches are in flight,
// restart on the same DATA_DIR and database: every record arrives at least once, in order
// per partition, and cut-off batches come again under the same webhook-id with the same body.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestReceiver } from '../src/webhooks/webhooks-test-kit.js';
import { createClient, type Client } from './support/client.js';
import { createTestEnv, type TestEnv } from './support/server.js';

let env: TestEnv;
let receiver: TestReceiver;
const children = new Set<ChildProcess>();

beforeAll(async () => {
  env = await createTestEnv({ SLUICE_LOG_STORE: 'file', SLUICE_WEBHOOK_ALLOW_PRIVATE: 'true' });
  receiver = await TestReceiver.start();
});
afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await receiver?.close();
  await env?.cleanup();
});

/** Start `node --import tsx src/main.ts` on port 0; resolves with a client once it logs "listening". */
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

const json = (body: unknown) => ({ body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });

describe('kill -9 during webhook delivery', () => {
  it('loses nothing and re-sends cut-off batches under the same webhook-id', async () => {
    // The first few batches are accepted; later ones are held unanswered until the crash cuts them off.
    receiver.script = ({ seq }) => (seq < 4 ? { status: 200 } : { status: 200, delayMs: 60_000 });
    const first = await startChild();
    const topic = `t-${randomUUID()}`;
    expect((await first.client.raw('POST', '/v1/topics', json({ name: topic, partitions: 2 }))).status).toBe(201);
    const created = await first.client.raw(
      'POST',
      '/v1/webhooks',
      json({ topic, url: receiver.url, from: 'earliest', batch: { max_records: 3 }, retry: { initial_backoff_ms: 5, max_backoff_ms: 50 } }),
    );
    expect(created.status).toBe(201);
    const records = Array.from({ length: 30 }, (_, i) => ({ partition: i % 2, value: { i } }));
    expect((await first.client.raw('POST', `/v1/topics/${topic}/records`, json({ records }))).status).toBe(200);

    await receiver.waitFor(() => receiver.requests.length >= 6, 15_000, 'deliveries in progress');
    first.child.kill('SIGKILL');
    await new Promise((resolve) => first.child.once('exit', resolve));
    const seen = receiver.requests.length;
    const cut = receiver.requests.filter((r) => !r.accepted).map((r) => ({ id: r.headers['webhook-id'], body: r.body }));
    expect(cut.length).toBeGreaterThan(0);

    receiver.script = () => ({ status: 200 });
    const second = await startChild();
    await receiver.waitFor(() => [...receiver.acceptedOffsets().values()].reduce((s, l) => s + new Set(l).size, 0) === 30, 20_000, 'all 30 records');
    for (const p of [0, 1]) {
      const offsets = receiver.acceptedOffsets().get(p) ?? [];
      expect([...new Set(offsets)]).toEqual(Array.from({ length: 15 }, (_, i) => i));
    }
    const after = receiver.requests.slice(seen);
    for (const c of cut) expect(after.find((r) => r.headers['webhook-id'] === c.id)?.body, c.id).toBe(c.body);
    second.child.kill('SIGTERM');
    await new Promise((resolve) => second.child.once('exit', resolve));
  }, 90_000);
});
