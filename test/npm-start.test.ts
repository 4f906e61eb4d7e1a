// `npm start` as Docker's `CMD npm start`, systemd or `kill $!` use it: SIGTERM to the npm
// process reaches the server, which drains and closes its port; a second start with an
// up-to-date dist/ does not build again.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestEnv, type TestEnv } from './support/server.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
let testEnv: TestEnv | undefined;
const groups: number[] = [];
afterAll(async () => {
  for (const pid of groups) {
    try {
      process.kill(-pid, 'SIGKILL'); // safety net: whatever is left of that npm's process group
    } catch {
      // already gone
    }
  }
  await testEnv?.cleanup();
});

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function npmStart(env: Record<string, string>) {
  const child: ChildProcess = spawn('npm', ['start'], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // own process group, so the safety net can reach an orphan
  });
  groups.push(child.pid!);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exit = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 180_000; // a fresh clone builds first
  while (!/"msg":"listening"/.test(stdout)) {
    if (Date.now() > deadline || child.exitCode !== null) {
      throw new Error(`npm start did not listen: ${stderr.slice(-2000)} ${stdout.slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, exit, stderr: () => stderr };
}

describe('npm start', () => {
  it('SIGTERM to the npm process stops the server; a fresh dist/ is not rebuilt', async () => {
    testEnv = await createTestEnv();
    const port = await freePort();
    const env = { ...testEnv.env, PORT: String(port), SLUICE_LOG_LEVEL: 'info' };

    for (const round of [1, 2]) {
      const started = await npmStart(env);
      expect(await accepts(port)).toBe(true);
      if (round === 2) expect(started.stderr()).not.toMatch(/building/);
      started.child.kill('SIGTERM'); // the npm process only, as `kill $!` does
      const deadline = Date.now() + 30_000;
      while (await accepts(port)) {
        if (Date.now() > deadline) throw new Error(`port ${port} still open 30 s after SIGTERM to npm`);
        await new Promise((r) => setTimeout(r, 100));
      }
      await started.exit;
    }
  }, 400_000);
});
