// The small set of file operations the file store uses, as a seam: production passes
// node:fs/promises through; tests wrap it to inject EIO/ENOSPC on chosen writes or syncs.
import * as fsp from 'node:fs/promises';

/** An open file: positional reads/writes only, so no shared file cursor exists. */
export interface LogFileHandle {
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  write(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesWritten: number }>;
  datasync(): Promise<void>;
  sync(): Promise<void>;
  truncate(length: number): Promise<void>;
  stat(): Promise<{ size: number }>;
  close(): Promise<void>;
}

export interface LogFs {
  /** `flags` as fs.open takes them ('r', 'r+', 'wx+', …). */
  open(path: string, flags: string): Promise<LogFileHandle>;
  /** Creates the directory and missing parents; no error if it exists. */
  mkdir(path: string): Promise<void>;
  /** Entry names of a directory. */
  readdir(path: string): Promise<string[]>;
  stat(path: string): Promise<{ size: number; isDirectory(): boolean }>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  /** Recursive, and no error if missing. */
  rmTree(path: string): Promise<void>;
  /** fsync a directory so entries created, renamed or deleted in it are durable. */
  syncDir(path: string): Promise<void>;
}

/** The real file system (node:fs/promises, libuv thread pool: never blocks the event loop). */
export const nodeLogFs: LogFs = {
  open: (path, flags) => fsp.open(path, flags),
  mkdir: async (path) => {
    await fsp.mkdir(path, { recursive: true });
  },
  readdir: (path) => fsp.readdir(path),
  stat: (path) => fsp.stat(path),
  rename: (from, to) => fsp.rename(from, to),
  unlink: (path) => fsp.unlink(path),
  rmTree: (path) => fsp.rm(path, { recursive: true, force: true }),
  syncDir: async (path) => {
    const handle = await fsp.open(path, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  },
};

/** Reads exactly `length` bytes at `position` (fewer only at end of file). */
export async function readAt(handle: LogFileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(buf, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done === length ? buf : buf.subarray(0, done);
}

/** Writes all of `buf` at `position`, looping over short writes. */
export async function writeAt(handle: LogFileHandle, buf: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await handle.write(buf, done, buf.length - done, position + done);
    done += bytesWritten;
  }
}

/** Writes a small file atomically and durably: tmp → fsync → rename → fsync dir. */
export async function writeFileAtomic(fs: LogFs, dir: string, name: string, data: Buffer): Promise<void> {
  const tmp = `${dir}/${name}.tmp`;
  const handle = await fs.open(tmp, 'w');
  try {
    await writeAt(handle, data, 0);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fs.rename(tmp, `${dir}/${name}`);
  await fs.syncDir(dir);
}

/** Reads a whole small file, or undefined when it does not exist. */
export async function readSmallFile(fs: LogFs, path: string): Promise<Buffer | undefined> {
  let handle: LogFileHandle;
  try {
    handle = await fs.open(path, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const { size } = await handle.stat();
    return await readAt(handle, 0, size);
  } finally {
    await handle.close();
  }
}

export type FaultOp = 'write' | 'datasync' | 'sync' | 'truncate' | 'open' | 'rename' | 'unlink';

/**
 * Wraps a LogFs so `decide(op, path)` can fail an operation with an errno code
 * ('EIO', 'ENOSPC', …) — the seam for fault-injection tests of the layers above, too.
 */
export function faultInjectingLogFs(base: LogFs, decide: (op: FaultOp, path: string) => string | undefined): LogFs {
  const fault = (op: FaultOp, path: string): void => {
    const code = decide(op, path);
    if (code) throw Object.assign(new Error(`${code}: injected ${op} failure on ${path}`), { code });
  };
  return {
    ...base,
    open: async (path, flags) => {
      fault('open', path);
      const h = await base.open(path, flags);
      return {
        read: (b, o, l, p) => h.read(b, o, l, p),
        write: async (b, o, l, p) => {
          fault('write', path);
          return h.write(b, o, l, p);
        },
        datasync: async () => {
          fault('datasync', path);
          return h.datasync();
        },
        sync: async () => {
          fault('sync', path);
          return h.sync();
        },
        truncate: async (len) => {
          fault('truncate', path);
          return h.truncate(len);
        },
        stat: () => h.stat(),
        close: () => h.close(),
      };
    },
    rename: async (from, to) => {
      fault('rename', to);
      return base.rename(from, to);
    },
    unlink: async (path) => {
      fault('unlink', path);
      return base.unlink(path);
    },
  };
}
