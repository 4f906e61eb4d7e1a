// A real Sluice process (node --import tsx src/main.ts) for crash and fault tests: start on port 0,
// kill -9 or stop it, restart on the same data, and read its recovery report from the log.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { createClient, type Client } from './client.js';

/** What the server logged about recovering its log at start-up ("log recovered"). */
export interface ChildRecovery {
  cleanShutdown: boolean;
  partitions: number;
  truncated: Array<{ topicId: string; partition: number; bytes: number }>;
  quarantined: Array<{ topicId: string; partition: number; reason: string }>;
  durationMs: number;
}

export interface ChildServer {
  readonly child: ChildProcess;
  readonly url: string;
  readonly client: Client;
  readonly recovery: ChildRecovery;
  /** Spawn → "listening", in ms (process start, migrations, log recovery, bind). */
  readonly startMs: number;
  /** The last 500 JSON log lines. */
  readonly logs: Array<Record<string, unknown>>;
  /** The last 4 KiB the process wrote to stderr (a crash's stack trace). */
  stderrTail(): string;
  /** Everything the process wrote to stdout and stderr (only with `captureAll`). */
  output(): string;
  kill9(): Promise<void>;
  /** SIGTERM and wait for a graceful exit. */
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();

/** SIGKILL every child still running (afterAll safety net). */
export function killAllChildren(): void {
  for (const c of live) c.kill('SIGKILL');
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

export interface ChildOptions {
  timeoutMs?: number;
  /** SLUICE_LOG_LEVEL of the process (default info). */
  logLevel?: 'info' | 'debug' | 'trace';
  /** Keep every byte written to stdout and stderr, for output(). */
  captureAll?: boolean;
}

/** Starts a server process with `env` (DATA_DIR etc.); resolves once it is listening. */
export async function startChild(
  env: Record<string, string>,
  timeoutOrOptions: number | ChildOptions = 60_000,
): Promise<ChildServer> {
  const options = typeof timeoutOrOptions === 'number' ? { timeoutMs: timeoutOrOptions } : timeoutOrOptions;
  const timeoutMs = options.timeoutMs ?? 60_000;
  const started = Date.now();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: process.cwd(),
    env: { ...process.env, ...env, PORT: '0', HOST: '127.0.0.1', SLUICE_LOG_LEVEL: options.logLevel ?? 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  child.once('exit', () => live.delete(child));
  let stderr = '';
  const all: Buffer[] = [];
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4096)));
  if (options.captureAll) {
    child.stdout!.on('data', (d: Buffer) => all.push(d));
    child.stderr!.on('data', (d: Buffer) => all.push(d));
  }
  const logs: Array<Record<string, unknown>> = [];
  let recovery: ChildRecovery | undefined;
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not start in ${timeoutMs} ms: ${stderr.slice(-2000)}`));
    }, timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(
        new Error(
          `server exited (${code ?? signal}) before listening: ${stderr.slice(-2000)} ${JSON.stringify(logs.slice(-3))}`,
        ),
      );
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return; // not a log line
      }
      logs.push(entry);
      if (logs.length > 500) logs.splice(0, logs.length - 500); // a long run logs every request
      if (entry['msg'] === 'log recovered') recovery = entry as unknown as ChildRecovery;
      if (entry['msg'] === 'listening' && typeof entry['port'] === 'number') {
        clearTimeout(timer);
        resolve(entry['port']);
      }
    });
  });
  const url = `http://127.0.0.1:${port}`;
  return {
    child,
    url,
    client: createClient(url),
    recovery: recovery ?? { cleanShutdown: true, partitions: 0, truncated: [], quarantined: [], durationMs: 0 },
    startMs: Date.now() - started,
    logs,
    stderrTail: () => stderr,
    output: () => Buffer.concat(all).toString('utf8'),
    kill9: async () => {
      child.kill('SIGKILL');
      await exited(child);
    },
    stop: async () => {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited(child);
      clearTimeout(timer);
    },
  };
}
