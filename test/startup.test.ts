// Start-up as a newcomer sees it, on the real entry point: a port in use is one clear line
// before any migration or recovery runs; a brand-new data directory is reported as new, not
// as an unclean shutdown.
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestEnv, type TestEnv } from './support/server.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const envs: TestEnv[] = [];
afterAll(async () => {
  for (const e of envs) await e.cleanup();
});

function run(env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/main.ts')], {
    cwd: ROOT,
    env: { PATH: process.env['PATH'] ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, stdout: () => stdout, stderr: () => stderr, exit };
}

async function waitFor(predicate: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('start-up', () => {
  it('a port already in use stops start-up with one line, before migrations and recovery', async () => {
    const testEnv = await createTestEnv();
    envs.push(testEnv);
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const p = run({ ...testEnv.env, PORT: String(port), SLUICE_LOG_LEVEL: 'info' });
      expect(await p.exit).toBe(1);
      expect(p.stderr().trim().split('\n')).toEqual([
        `sluice: cannot listen on 127.0.0.1:${port}: the port is already in use (another Sluice or program is running there; stop it or set PORT)`,
      ]);
      expect(p.stdout()).not.toMatch(/metadata migrated|log recovered|EADDRINUSE/);
    } finally {
      blocker.close();
    }
  });

  it('a brand-new data directory is reported as new, not as an unclean shutdown', async () => {
    const testEnv = await createTestEnv();
    envs.push(testEnv);
    const p = run({ ...testEnv.env, SLUICE_LOG_LEVEL: 'info' });
    try {
      await waitFor(() => /"msg":"listening"/.test(p.stdout()), 60_000);
      expect(p.stdout()).toMatch(/"msg":"new data directory: nothing to recover"/);
      expect(p.stdout()).not.toMatch(/cleanShutdown/);
    } finally {
      p.child.kill('SIGTERM');
      await p.exit;
    }
    // The second start of the same directory reports the clean shutdown as before.
    const again = run({ ...testEnv.env, SLUICE_LOG_LEVEL: 'info' });
    try {
      await waitFor(() => /"msg":"listening"/.test(again.stdout()), 60_000);
      expect(again.stdout()).toMatch(/"cleanShutdown":true/);
    } finally {
      again.child.kill('SIGTERM');
      await again.exit;
    }
  }, 120_000);
});
