// Fits SLUICE_MAX_CONNECTIONS and SLUICE_MAX_OPEN_FILES to the process's open-file limit
// (`ulimit -n`). Both caps exist so that a flood or many partitions cannot exhaust file
// descriptors; set above the limit, they would never be reached and the process would run out of
// descriptors first (accept, segment opens and database connections then fail, and new clients
// wait instead of getting the documented 503). Node raises the soft limit to the hard limit at
// start, so the soft limit read here is what the process really has.
import { readFileSync } from 'node:fs';

/** Descriptors kept for everything else: stdio, the listening socket, PGlite, timers, DNS, TLS files. */
export const FILE_LIMIT_MARGIN = 128;
/** Below this many connections the server is not usable; start-up stops instead. */
const MIN_CONNECTIONS = 64;

/** The soft limit on open files (Linux `/proc/self/limits`), or undefined where it cannot be read or is unlimited. */
export function readOpenFileLimit(limitsText?: string): number | undefined {
  let text = limitsText;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/limits', 'utf8');
    } catch {
      return undefined;
    }
  }
  const m = /^Max open files\s+(\S+)/m.exec(text);
  if (!m) return undefined;
  const soft = Number(m[1]);
  return Number.isSafeInteger(soft) && soft > 0 ? soft : undefined;
}

/** Descriptors the connection cap can take: the cap plus the 10 % (at least 16) accepted past it before accept drops. */
export function connectionDescriptors(maxConnections: number): number {
  return maxConnections + Math.max(16, Math.ceil(maxConnections / 10));
}

/** The largest cap whose connectionDescriptors fit in `available`. */
function connectionsFitting(available: number): number {
  let m = Math.max(0, Math.floor((available * 10) / 11));
  while (m > 0 && connectionDescriptors(m) > available) m--;
  return m;
}

export interface FileBudgetInput {
  openFileLimit: number;
  maxConnections: number;
  maxOpenFiles: number;
  /** Other descriptors the process may hold: database pool, outgoing webhook requests. */
  otherDescriptors: number;
}

export type FileBudget =
  { ok: true; maxConnections: number; maxOpenFiles: number; lowered: boolean } | { ok: false; message: string };

/**
 * Both caps as they fit the limit. Unchanged when they fit; otherwise each is lowered, the
 * segment files to at most half of what is left and the connections to the rest.
 */
export function fitToOpenFileLimit(i: FileBudgetInput): FileBudget {
  const available = i.openFileLimit - i.otherDescriptors - FILE_LIMIT_MARGIN;
  if (i.maxOpenFiles + connectionDescriptors(i.maxConnections) <= available) {
    return { ok: true, maxConnections: i.maxConnections, maxOpenFiles: i.maxOpenFiles, lowered: false };
  }
  const files = Math.min(i.maxOpenFiles, Math.floor(available / 2));
  const connections = Math.min(i.maxConnections, connectionsFitting(available - files));
  if (files < 1 || connections < MIN_CONNECTIONS) {
    return {
      ok: false,
      message:
        `the open-file limit (ulimit -n) is ${i.openFileLimit}, too low to serve: raise it ` +
        `(SLUICE_MAX_CONNECTIONS=${i.maxConnections} and SLUICE_MAX_OPEN_FILES=${i.maxOpenFiles} want about ` +
        `${i.maxOpenFiles + connectionDescriptors(i.maxConnections) + i.otherDescriptors + FILE_LIMIT_MARGIN})`,
    };
  }
  // Give segment files what the lowered connection cap leaves.
  const filesAfter = Math.min(i.maxOpenFiles, available - connectionDescriptors(connections));
  return { ok: true, maxConnections: connections, maxOpenFiles: filesAfter, lowered: true };
}
