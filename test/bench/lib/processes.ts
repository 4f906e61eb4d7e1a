// Child processes for the servers under test: spawn with a raised fd limit, wait until an
// HTTP or TCP endpoint answers, read RSS and the loop probe, stop (SIGTERM or kill -9).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export const BENCH_DIR = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
export const REPO_ROOT = path.resolve(BENCH_DIR, '..', '..');
export const LOOP_PROBE = path.join(BENCH_DIR, 'lib', 'loop-probe.mjs');

export interface ProbeSample {
  rssBytes: number;
  peakRssBytes: number;
  loopDelayP50Ms: number;
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
}

export interface Child {
  readonly name: string;
  readonly proc: ChildProcess;
  /** Last lines of stdout+stderr, for error messages. */
  tail(): string;
  /** Resident set size now (from /proc), or NaN once the process is gone. */
  rssBytes(): number;
  /** Latest loop-probe sample (servers started with `probe: true`). */
  probe(): ProbeSample | null;
  /** Restart the probe's window (event-loop delay histogram and peak RSS). */
  resetProbe(): void;
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<void>;
}

/** Highest fd limit this shell may raise itself to (the hard limit). */
let hardNofile: number | undefined;
async function fdLimit(): Promise<number> {
  if (hardNofile !== undefined) return hardNofile;
  const out = await run('bash', ['-c', 'ulimit -Hn']);
  const n = out.trim() === 'unlimited' ? 65536 : Number(out.trim());
  hardNofile = Math.min(65536, Number.isFinite(n) && n > 0 ? n : 1024);
  return hardNofile;
}

export interface SpawnOptions {
  name: string;
  command: string;
  args: string[];
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Preload the loop probe (Node servers only). */
  probe?: boolean;
}

export async function spawnChild(o: SpawnOptions): Promise<Child> {
  const limit = await fdLimit();
  const probeFile = o.probe
    ? path.join(os.tmpdir(), `bench-probe-${process.pid}-${o.name}-${Date.now()}.json`)
    : undefined;
  const args = o.probe ? ['--import', LOOP_PROBE, ...o.args] : o.args;
  const quoted = [o.command, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  // exec keeps the pid: the server itself is the child we measure and signal.
  const proc = spawn('bash', ['-c', `ulimit -n ${limit} 2>/dev/null; exec ${quoted}`], {
    cwd: o.cwd ?? REPO_ROOT,
    env: { ...cleanEnv(), ...(o.env ?? {}), ...(probeFile ? { BENCH_PROBE_FILE: probeFile } : {}) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const keep = (chunk: Buffer) => {
    lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    if (lines.length > 40) lines.splice(0, lines.length - 40);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  let done = false;
  void exited.then(() => (done = true));
  return {
    name: o.name,
    proc,
    tail: () => lines.slice(-15).join('\n'),
    rssBytes: () => (done || proc.pid === undefined ? NaN : readRss(proc.pid)),
    probe: () => {
      if (!probeFile) return null;
      try {
        return JSON.parse(fs.readFileSync(probeFile, 'utf8')) as ProbeSample;
      } catch {
        return null;
      }
    },
    resetProbe: () => {
      if (!done) proc.kill('SIGUSR2');
    },
    exited,
    stop: async (signal = 'SIGTERM', timeoutMs = 15_000) => {
      if (!done) {
        proc.kill(signal);
        const t = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
        await exited;
        clearTimeout(t);
      }
      if (probeFile) await fsp.rm(probeFile, { force: true });
    },
  };
}

/** The runner's environment minus settings that would point servers elsewhere. */
function cleanEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || k === 'DATABASE_URL' || k.startsWith('SLUICE_') || k === 'NODE_OPTIONS') continue;
    env[k] = v;
  }
  return env;
}

function readRss(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** A port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** Poll `url` until it answers 2xx; throws with the child's output on timeout or exit. */
export async function waitForHttp(url: string, child: Child, timeoutMs = 60_000): Promise<number> {
  const started = performance.now();
  let exited = false;
  void child.exited.then(() => (exited = true));
  for (;;) {
    if (exited) throw new Error(`${child.name} exited before ${url} answered:\n${child.tail()}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.ok) return performance.now() - started;
    } catch {
      /* not up yet */
    }
    if (performance.now() - started > timeoutMs)
      throw new Error(`${child.name}: ${url} not ready after ${timeoutMs} ms:\n${child.tail()}`);
    await sleep(20);
  }
}

export async function waitForTcp(port: number, child: Child, timeoutMs = 60_000): Promise<void> {
  const started = performance.now();
  for (;;) {
    if (child.proc.exitCode !== null) throw new Error(`${child.name} exited:\n${child.tail()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (performance.now() - started > timeoutMs)
      throw new Error(`${child.name}: port ${port} not open after ${timeoutMs} ms:\n${child.tail()}`);
    await sleep(100);
  }
}

/** Run a command to completion and return stdout; rejects with its output on failure. */
export function run(command: string, args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(command, args, { cwd: opts.cwd ?? REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: cleanEnv() });
    let out = '';
    let errOut = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.stderr.on('data', (c: Buffer) => (errOut += c.toString()));
    const t = opts.timeoutMs ? setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs) : undefined;
    p.once('error', reject);
    p.once('exit', (code) => {
      if (t) clearTimeout(t);
      if (code === 0) resolve(out);
      else reject(new Error(`${command} ${args.join(' ')} exited ${code}: ${(errOut || out).slice(-2000)}`));
    });
  });
}

/** CPU time (ms) process `pid` has used so far, all its threads, summed from /proc/<pid>/task/<tid>/schedstat; NaN elsewhere. */
export function processCpuMs(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const dir = `/proc/${pid}/task`;
    let ns = 0;
    for (const tid of fs.readdirSync(dir)) {
      try {
        ns += Number(fs.readFileSync(`${dir}/${tid}/schedstat`, 'utf8').split(' ')[0]);
      } catch {
        // A thread that ended between the listing and the read.
      }
    }
    return ns / 1e6;
  } catch {
    return NaN;
  }
}

/** Bundles a TypeScript entry point for Node with esbuild (dependencies stay external imports). */
export async function bundleNode(entry: string, outfile: string): Promise<void> {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    sourcemap: false,
    logLevel: 'silent',
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function tempDir(prefix: string): Promise<string> {
  return fsp.mkdtemp(path.join(os.tmpdir(), `sluice-bench-${prefix}-`));
}
