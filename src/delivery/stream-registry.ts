// Registry of open long-lived responses (SSE streams, long-polls, webhook loops) so that
// graceful shutdown can tell each to finish and wait until they have.
import { setTimeout as delay } from 'node:timers/promises';

export interface StreamHandle {
  /** What the stream is, for shutdown logs (e.g. "sse topic=orders"). */
  readonly description: string;
  /**
   * Finish now: send a final event, end the response. Called once, on shutdown. The
   * stream must still call its unregister function when it has actually ended.
   */
  close(): void | Promise<void>;
}

export interface StreamRegistry {
  /** Aborted when shutdown begins: long-polls and loops can watch it instead of registering. */
  readonly signal: AbortSignal;
  readonly closing: boolean;
  /** Number of open streams. */
  readonly size: number;
  /** Track a stream; returns the function to call once it has ended. Throws if closing. */
  register(handle: StreamHandle): () => void;
  /**
   * Begin shutdown: abort `signal`, ask every stream to close, and resolve once all have
   * unregistered or timeoutMs has passed. Returns the descriptions of streams still open.
   */
  drain(timeoutMs: number): Promise<string[]>;
}

export function createStreamRegistry(): StreamRegistry {
  const controller = new AbortController();
  const open = new Set<StreamHandle>();
  let emptied: (() => void) | undefined;

  const registry: StreamRegistry = {
    get signal() {
      return controller.signal;
    },
    get closing() {
      return controller.signal.aborted;
    },
    get size() {
      return open.size;
    },
    register(handle) {
      if (controller.signal.aborted) throw new Error('server is shutting down');
      open.add(handle);
      return () => {
        open.delete(handle);
        if (open.size === 0) emptied?.();
      };
    },
    async drain(timeoutMs) {
      if (!controller.signal.aborted) controller.abort(new Error('server is shutting down'));
      const allClosed = new Promise<void>((resolve) => {
        emptied = resolve;
        if (open.size === 0) resolve();
      });
      for (const handle of [...open]) {
        void Promise.resolve()
          .then(() => handle.close())
          .catch(() => {
            // A stream failing to close cleanly is still removed when its socket goes.
          });
      }
      const timer = new AbortController();
      await Promise.race([allClosed, delay(timeoutMs, undefined, { signal: timer.signal }).catch(() => {})]);
      timer.abort();
      return [...open].map((h) => h.description);
    },
  };
  return registry;
}
