// Unit tests of webhook retry timing: full-jitter exponential backoff, the max-backoff
// plateau after max_attempts, and Retry-After parsing (seconds and HTTP dates).
import { describe, expect, it } from 'vitest';
import { backoffMs, MAX_RETRY_AFTER_MS, nextDelayMs, parseRetryAfter } from './backoff.js';

const policy = { maxAttempts: 5, initialBackoffMs: 100, maxBackoffMs: 1_000 };

describe('backoffMs', () => {
  it('is uniformly jittered under an exponentially growing, capped ceiling', () => {
    expect([1, 2, 3, 4].map((a) => backoffMs(a, policy, () => 0.999999))).toEqual([100, 200, 400, 800]);
    expect(backoffMs(3, policy, () => 0)).toBe(0);
    const big = { ...policy, maxAttempts: 100 };
    expect(backoffMs(60, big, () => 0.999999)).toBe(1_000);
  });

  it('plateaus at max_backoff_ms once attempts are spent', () => {
    expect(backoffMs(5, policy, () => 0)).toBe(1_000);
    expect(backoffMs(50, policy, () => 0.5)).toBe(1_000);
  });
});

describe('Retry-After', () => {
  it('parses delay-seconds and HTTP dates, capped, ignoring junk', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('3', now)).toBe(3_000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:10 GMT', now)).toBe(10_000);
    expect(parseRetryAfter('Wed, 31 Dec 2025 00:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('999999', now)).toBe(MAX_RETRY_AFTER_MS);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });

  it('is never undercut by a shorter backoff', () => {
    expect(nextDelayMs(1, policy, 5_000, () => 0.5)).toBe(5_000);
    expect(nextDelayMs(5, policy, 10, () => 0.5)).toBe(1_000);
  });
});
