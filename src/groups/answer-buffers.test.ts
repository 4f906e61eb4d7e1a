import { describe, expect, it } from 'vitest';
import { AnswerBuffers } from './answer-buffers.js';

describe('AnswerBuffers', () => {
  it('lends a buffer to one answer at a time and lends it again once given back', () => {
    const pool = new AnswerBuffers({ minBytes: 1024, maxBytes: 1 << 20, maxIdle: 2 });
    const a = pool.take(100_000);
    const b = pool.take(100_000);
    expect(a.length).toBe(100_000);
    expect(b.buffer).not.toBe(a.buffer);
    expect(pool.counts).toEqual({ lent: 2, idle: 0 });
    pool.give(a.subarray(0, 10)); // a view of it, as an answer shorter than asked is
    expect(pool.counts).toEqual({ lent: 1, idle: 1 });
    const c = pool.take(90_000);
    expect(c.buffer).toBe(a.buffer);
    expect(c.length).toBe(90_000);
    expect(pool.take(100_000).buffer).not.toBe(b.buffer); // b is still lent
  });

  it('takes the smallest idle buffer that fits, and a new one when none does', () => {
    const pool = new AnswerBuffers({ minBytes: 1024, maxBytes: 1 << 20, maxIdle: 4 });
    const small = pool.take(5_000);
    const big = pool.take(500_000);
    pool.give(big);
    pool.give(small);
    expect(pool.take(4_000).buffer).toBe(small.buffer);
    const other = pool.take(600_000);
    expect(other.buffer).not.toBe(big.buffer);
    expect(other.length).toBe(600_000);
  });

  it('never keeps answers outside its sizes, foreign buffers, a buffer given twice, or more than maxIdle', () => {
    const pool = new AnswerBuffers({ minBytes: 1024, maxBytes: 1 << 20, maxIdle: 1 });
    const tiny = pool.take(10);
    const huge = pool.take(2 << 20);
    expect(tiny.length).toBe(10);
    expect(huge.length).toBe(2 << 20);
    pool.give(tiny);
    pool.give(huge);
    pool.give(Buffer.alloc(50_000));
    expect(pool.counts).toEqual({ lent: 0, idle: 0 });
    const a = pool.take(50_000);
    const b = pool.take(50_000);
    pool.give(a);
    pool.give(a);
    pool.give(b); // over maxIdle: dropped
    expect(pool.counts).toEqual({ lent: 0, idle: 1 });
    expect(pool.take(50_000).buffer).toBe(a.buffer);
  });

  it('forgets a buffer that will never be given back: no longer lent, never lent again', () => {
    const pool = new AnswerBuffers({ minBytes: 1024, maxBytes: 1 << 20, maxIdle: 2 });
    const a = pool.take(100_000);
    pool.forget(a);
    expect(pool.counts).toEqual({ lent: 0, idle: 0 });
    pool.give(a); // a late give of a forgotten buffer is ignored
    expect(pool.counts).toEqual({ lent: 0, idle: 0 });
    expect(pool.take(100_000).buffer).not.toBe(a.buffer);
  });
});
