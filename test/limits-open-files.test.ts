// The connection cap against the process's open-file limit: under a low `ulimit -n` the real
// entry point lowers SLUICE_MAX_CONNECTIONS (and SLUICE_MAX_OPEN_FILES) to fit, so a flood of
// idle connections meets the documented refusal instead of exhausting descriptors and leaving
// every client waiting.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { rawConnect } from './support/raw-http.js';
import { createTestEnv, type TestEnv } from './support/server.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const envs: TestEnv[] = [];
const children: ChildProcess[] = [];
const sockets: net.Socket[] = [];
afterAll(async () => {
  for (const s of sockets) s.destroy();
  for (const c of children) c.kill('SIGKILL');
  for (const e of envs) await e.cleanup();
});

/** A request that settles (answered or refused) within `ms`, or 'hung'. */
async function probe(url: string, ms: number): Promise<number | 'refused' | 'hung'> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(ms) });
    await res.arrayBuffer();
    return res.status;
  } catch (e) {
    return (e as Error).name === 'TimeoutError' ? 'hung' : 'refused';
  }
}

describe('open-file limit', () => {
  it('a flood of idle connections under ulimit -n 1024 leaves descriptors for the log and the database', async () => {
    const env = await createTestEnv();
    envs.push(env);
    const child = spawn('bash', ['-c', `ulimit -n 1024 && exec "${process.execPath}" --import tsx src/main.ts`], {
      cwd: ROOT,
      env: { PATH: process.env['PATH'] ?? '', ...env.env, SLUICE_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const deadline = Date.now() + 30_000;
    while (!/"msg":"listening"/.test(out)) {
      if (Date.now() > deadline) throw new Error(`no start: ${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const warning = out.split('\n').find((l) => l.includes('lowered to fit the open-file limit'));
    expect(warning).toBeDefined();
    const { max_connections: cap, open_file_limit: limit } = JSON.parse(warning!) as {
      max_connections: number;
      open_file_limit: number;
    };
    expect(limit).toBe(1024);
    const port = Number(/"port":(\d+)/.exec(out.split('\n').find((l) => l.includes('"listening"'))!)![1]);
    const base = `http://127.0.0.1:${port}`;

    // Clients already connected before the flood.
    const held = [await rawConnect(base), await rawConnect(base)];
    // More idle connections than the process has descriptors, each holding a partial request.
    const opened = await Promise.all(
      Array.from(
        { length: 1100 },
        () =>
          new Promise<void>((resolve) => {
            const s = net.connect({ host: '127.0.0.1', port }, () => {
              s.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n');
              resolve();
            });
            s.on('error', () => resolve());
            sockets.push(s);
          }),
      ),
    );
    expect(opened).toHaveLength(1100);
    await new Promise((r) => setTimeout(r, 500));
    // Those past the cap are answered or dropped; none waits on a descriptor that never comes.
    expect(await probe(`${base}/healthz`, 3000)).not.toBe('hung');
    // A client already connected can still create a topic (segment files, database writes) and produce to it.
    const request = (method: string, target: string, body: string) =>
      `${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    held[0]!.write(request('POST', '/v1/topics', JSON.stringify({ name: 'during-flood', partitions: 4 })));
    expect((await held[0]!.response(5000)).status).toBe(201);
    held[1]!.write(
      request('POST', '/v1/topics/during-flood/records', JSON.stringify({ records: [{ value: 1 }, { value: 2 }] })),
    );
    expect((await held[1]!.response(5000)).status).toBe(200);

    for (const s of sockets) s.destroy();
    for (const h of held) h.destroy();
    await new Promise((r) => setTimeout(r, 500));
    expect(await probe(`${base}/healthz`, 3000)).toBe(200);
    const res = await fetch(`${base}/v1/topics`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'after-flood' }),
    });
    expect(res.status).toBe(201);
    expect(cap).toBeLessThan(1024);
  }, 60_000);
});
