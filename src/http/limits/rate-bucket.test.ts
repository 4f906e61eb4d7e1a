// Unit tests of the byte-rate quota: let through while not in debt, charged afterwards, and
// refused with the time until the debt is paid off.
import { describe, expect, it } from 'vitest';
import { KeyRates, RateBucket } from './rate-bucket.js';

describe('RateBucket', () => {
  it('lets a request through while not in debt, then refuses until the debt is repaid at the rate', () => {
    let t = 0;
    const b = new RateBucket(1000, () => t);
    expect(b.waitMs()).toBe(0);
    b.charge(3000); // one large request: allowed, leaves 2000 bytes of debt
    expect(b.waitMs()).toBe(2000);
    t = 1500;
    expect(b.waitMs()).toBe(500);
    t = 2000;
    expect(b.waitMs()).toBe(0);
    t = 60_000;
    expect(b.idle).toBe(true);
  });

  it('saves up at most one second of rate', () => {
    let t = 0;
    const b = new RateBucket(1000, () => t);
    t = 10_000;
    b.charge(1500);
    expect(b.waitMs()).toBe(500);
  });

  it('keeps one bucket per key', () => {
    const rates = new KeyRates(100, () => 0);
    rates.bucket('a').charge(500);
    expect(rates.bucket('a').waitMs()).toBe(4000);
    expect(rates.bucket('b').waitMs()).toBe(0);
  });

  it('runs each key at its own rate, and takes a changed rate over keeping the debt', () => {
    const rates = new KeyRates(100, () => 0);
    rates.bucket('slow', 10).charge(20);
    expect(rates.bucket('slow', 10).waitMs()).toBe(1000);
    expect(rates.bucket('slow', 20).waitMs()).toBe(500);
    expect(rates.bucket('fast').rate).toBe(100);
  });
});
