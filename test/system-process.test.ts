// The real entry point as a child process: a bad setting stops start-up with a message
// naming it; SIGTERM drains and exits 0 leaving the clean-shutdown marker.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { CLEAN_SHUTDOWN_MARKER } from '../src/log/index.js';
import { createTestEnv, type TestEnv } from './support/server.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const envs: TestEnv[] = [];
afterAll(async () => {
  for (const e of envs) await e.cleanup();
});

function run(env: Record<string, string>): { child: ChildProcess; output: () => string; exit: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/main.ts')], {
    cwd: ROOT,
    env: { PATH: process.env['PATH'] ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => out, exit };
}

async function waitFor(predicate: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('main process', () => {
  it('exits 2 with a message naming a bad variable', async () => {
    const p = run({ PORT: 'http', SLUICE_LOG_LEVEL: 'silent' });
    expect(await p.exit).toBe(2);
    expect(p.output()).toMatch(/PORT="http" is invalid: expected an integer/);
  });

  it('serves, then drains on SIGTERM and exits 0 with a clean shutdown', async () => {
    const testEnv = await createTestEnv();
    envs.push(testEnv);
    const p = run({ ...testEnv.env, SLUICE_LOG_LEVEL: 'info' });
    await waitFor(() => /"msg":"listening"/.test(p.output()), 30_000);
    const port = Number(
      /"port":(\d+)/.exec(
        p
          .output()
          .split('\n')
          .find((l) => l.includes('"listening"'))!,
      )![1],
    );
    const res = await fetch(`http://127.0.0.1:${port}/v1/topics`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'proc-topic' }),
    });
    expect(res.status).toBe(201);
    p.child.kill('SIGTERM');
    expect(await p.exit).toBe(0);
    const lines = p
      .output()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { msg: string; request_id?: string });
    expect(lines.map((l) => l.msg)).toContain('shut down');
    expect(lines.find((l) => l.msg === 'request completed')?.request_id).toBe(res.headers.get('x-request-id'));
    await expect(fs.access(path.join(testEnv.dataDir, CLEAN_SHUTDOWN_MARKER))).resolves.toBeUndefined();
  });
});
