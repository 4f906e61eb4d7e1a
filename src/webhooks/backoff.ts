// Retry timing for webhook deliveries: exponential backoff with full jitter, and the
// receiver's Retry-After (seconds or an HTTP date), which is honoured up to a ceiling.
/** Longest Retry-After honoured: a receiver cannot park a partition for longer than this. */
export const MAX_RETRY_AFTER_MS = 3_600_000;

export interface RetryPolicy {
  maxAttempts: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
}

/**
 * Delay before the attempt after failed attempt number `attempt` (1-based): uniformly random
 * in [0, min(max, initial·2^(attempt-1))] ("full jitter"), so many failing partitions do not
 * retry in lockstep. Once `max_attempts` is spent without a dead-letter topic the webhook
 * keeps retrying every `max_backoff_ms` (no jitter), so a recovered endpoint is found promptly.
 */
export function backoffMs(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  if (attempt >= policy.maxAttempts) return policy.maxBackoffMs;
  const ceiling = Math.min(policy.maxBackoffMs, policy.initialBackoffMs * 2 ** Math.min(attempt - 1, 40));
  return Math.floor(random() * (ceiling + 1));
}

/**
 * Parse a Retry-After header (RFC 9110: delay-seconds or an HTTP-date) into ms from `now`;
 * undefined when absent or unparseable. Capped at MAX_RETRY_AFTER_MS.
 */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  let ms: number;
  if (/^\d+$/.test(v)) ms = Number(v) * 1000;
  else {
    const at = Date.parse(v);
    if (Number.isNaN(at)) return undefined;
    ms = at - now;
  }
  return Math.min(Math.max(0, ms), MAX_RETRY_AFTER_MS);
}

/** The wait before the next attempt: the backoff, but never earlier than Retry-After asks. */
export function nextDelayMs(
  attempt: number,
  policy: RetryPolicy,
  retryAfterMs: number | undefined,
  random?: () => number,
): number {
  const backoff = backoffMs(attempt, policy, random);
  return retryAfterMs === undefined ? backoff : Math.max(backoff, retryAfterMs);
}

/** Resolve after `ms`, or at once when `signal` aborts (resolving false). */
export function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (completed: boolean) => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      resolve(completed);
    };
    const onAbort = () => done(false);
    const timer = setTimeout(() => done(true), ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
