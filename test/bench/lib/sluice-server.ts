// Starts Sluice as a child process the way `npm start` runs it (src/main.ts, embedded
// database under a temp DATA_DIR), bundled once per run with esbuild so in-progress type
// errors elsewhere in the tree don't block a benchmark.
import fsp from 'node:fs/promises';
import path from 'node:path';
import { bundleNode, freePort, REPO_ROOT, spawnChild, tempDir, waitForHttp, type Child } from './processes.js';

/** Two levels under the repo root, so `../../migrations/` resolves as it does from dist/. */
const BUNDLE = path.join(REPO_ROOT, '.bench-results', 'build', 'main.js');
let bundled: Promise<string> | undefined;

function bundleOnce(): Promise<string> {
  bundled ??= bundleNode(path.join(REPO_ROOT, 'src', 'main.ts'), BUNDLE).then(() => BUNDLE);
  return bundled;
}

export interface SluiceServer {
  readonly url: string;
  readonly dataDir: string;
  readonly child: Child;
  /** Milliseconds from spawn until /readyz answered 200. */
  readonly readyMs: number;
}

export interface SluiceOptions {
  /** Reuse a data directory (restart); a fresh temp dir otherwise. */
  dataDir?: string;
  env?: Record<string, string>;
}

export async function startSluice(o: SluiceOptions = {}): Promise<SluiceServer> {
  const main = await bundleOnce();
  const dataDir = o.dataDir ?? (await tempDir('sluice'));
  const port = await freePort();
  const child = await spawnChild({
    name: 'sluice',
    command: process.execPath,
    args: [
      ...(process.env['BENCH_CPU_PROF_DIR']
        ? ['--cpu-prof', `--cpu-prof-dir=${process.env['BENCH_CPU_PROF_DIR']}`]
        : []),
      main,
    ],
    probe: true,
    env: {
      HOST: '127.0.0.1',
      PORT: String(port),
      DATA_DIR: dataDir,
      SLUICE_LOG_LEVEL: 'warn',
      SLUICE_SHUTDOWN_TIMEOUT_MS: '3000',
      // The bench's clients all share one identity (anonymous): the per-key stream quota (default
      // 1,000) would refuse the fan-out's 5k and 10k subscribers with 429. The global limit stays.
      SLUICE_KEY_MAX_STREAMS: '20000',
      // The Kafka peer runs with group.initial.rebalance.delay.ms=0 (peers/kafka.ts); the group
      // scenario's fresh-group joins get the same zero wait here instead of the 100 ms default.
      SLUICE_GROUP_REBALANCE_DELAY_MS: '0',
      ...o.env,
    },
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    const readyMs = await waitForHttp(`${url}/readyz`, child, 180_000);
    return { url, dataDir, child, readyMs };
  } catch (e) {
    await child.stop('SIGKILL');
    throw e;
  }
}

export async function stopSluice(s: SluiceServer, opts: { removeData?: boolean } = {}): Promise<void> {
  await s.child.stop('SIGTERM');
  if (opts.removeData ?? true) await fsp.rm(s.dataDir, { recursive: true, force: true });
}
