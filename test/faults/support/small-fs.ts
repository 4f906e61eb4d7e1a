// A size-limited file system for disk-full tests: a tmpfs mounted for the test when the
// process may mount (root on Linux); callers fall back to the fault-injecting fs seam otherwise.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface SmallFs {
  readonly dir: string;
  /** Fill the file system with a ballast file until only about `headroomBytes` are free. */
  fill(headroomBytes: number): Promise<void>;
  /** Remove the ballast: space frees up. */
  free(): Promise<void>;
  /** Make `<dir>/<name>` a bind mount of a fresh directory on the ordinary disk (kept off the small one). */
  keepOutside(name: string): Promise<void>;
  unmount(): Promise<void>;
}

/** Mounts a tmpfs of `sizeBytes` on a fresh temp dir, or undefined when mounting is not allowed here. */
export async function mountSmallFs(sizeBytes: number): Promise<SmallFs | undefined> {
  if (process.platform !== 'linux' || process.getuid?.() !== 0 || process.env['FAULTS_NO_MOUNT']) return undefined;
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-smallfs-'));
  try {
    await run('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes}`, 'tmpfs', dir]);
  } catch {
    await fs.rmdir(dir);
    return undefined;
  }
  const ballast = path.join(dir, 'ballast');
  const binds: Array<{ at: string; source: string }> = [];
  return {
    dir,
    fill: async (headroomBytes) => {
      const { stdout } = await run('df', ['-B1', '--output=avail', dir]);
      const avail = Number(stdout.trim().split('\n').pop());
      const size = Math.max(0, avail - headroomBytes);
      const fh = await fs.open(ballast, 'w');
      try {
        const chunk = Buffer.alloc(1024 * 1024, 0xba);
        for (let done = 0; done < size; done += chunk.length)
          await fh.write(chunk, 0, Math.min(chunk.length, size - done));
      } finally {
        await fh.close();
      }
    },
    free: () => fs.rm(ballast, { force: true }),
    keepOutside: async (name) => {
      const source = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-outside-'));
      const at = path.join(dir, name);
      await fs.mkdir(at);
      await run('mount', ['--bind', source, at]);
      binds.push({ at, source });
    },
    unmount: async () => {
      for (const b of binds) {
        await run('umount', ['-l', b.at]).catch(() => undefined);
        await fs.rm(b.source, { recursive: true, force: true });
      }
      await run('umount', ['-l', dir]).catch(() => undefined);
      await fs.rmdir(dir).catch(() => undefined);
    },
  };
}

/** Bytes available on the file system holding `dir`. */
export async function availableBytes(dir: string): Promise<number> {
  const { stdout } = await run('df', ['-B1', '--output=avail', dir]);
  return Number(stdout.trim().split('\n').pop());
}
