import { describe, expect, it } from 'vitest';
import { FILE_LIMIT_MARGIN, connectionDescriptors, fitToOpenFileLimit, readOpenFileLimit } from './file-limit.js';

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max processes             95368                95368                processes
Max open files            1024                 4096                 files
`;

describe('fitToOpenFileLimit', () => {
  it('reads the soft limit, and nothing where it is unlimited or absent', () => {
    expect(readOpenFileLimit(LIMITS)).toBe(1024);
    expect(readOpenFileLimit(LIMITS.replace('1024 ', 'unlimited'))).toBeUndefined();
    expect(readOpenFileLimit('Max processes 1 1 processes')).toBeUndefined();
  });

  it('keeps caps that fit', () => {
    const fit = fitToOpenFileLimit({
      openFileLimit: 1_048_576,
      maxConnections: 20_000,
      maxOpenFiles: 1024,
      otherDescriptors: 74,
    });
    expect(fit).toEqual({ ok: true, maxConnections: 20_000, maxOpenFiles: 1024, lowered: false });
  });

  it('lowers both caps so that together they fit the limit', () => {
    for (const openFileLimit of [1024, 4096, 20_000]) {
      const fit = fitToOpenFileLimit({
        openFileLimit,
        maxConnections: 20_000,
        maxOpenFiles: 1024,
        otherDescriptors: 74,
      });
      if (!fit.ok) throw new Error(fit.message);
      expect(fit.lowered).toBe(true);
      expect(fit.maxConnections).toBeLessThan(20_000);
      expect(fit.maxOpenFiles + connectionDescriptors(fit.maxConnections) + 74 + FILE_LIMIT_MARGIN).toBeLessThanOrEqual(
        openFileLimit,
      );
      // Nothing is thrown away: what one cap leaves goes to the other.
      expect(fit.maxOpenFiles + connectionDescriptors(fit.maxConnections) + 74 + FILE_LIMIT_MARGIN).toBeGreaterThan(
        openFileLimit - 3,
      );
    }
  });

  it('lowers only the cap that does not fit', () => {
    const fit = fitToOpenFileLimit({
      openFileLimit: 4096,
      maxConnections: 100,
      maxOpenFiles: 10_000,
      otherDescriptors: 74,
    });
    expect(fit).toEqual({
      ok: true,
      maxConnections: 100,
      maxOpenFiles: 4096 - 74 - FILE_LIMIT_MARGIN - 116,
      lowered: true,
    });
  });

  it('refuses a limit too low to serve, naming it', () => {
    const fit = fitToOpenFileLimit({
      openFileLimit: 256,
      maxConnections: 20_000,
      maxOpenFiles: 1024,
      otherDescriptors: 74,
    });
    expect(fit.ok).toBe(false);
    if (!fit.ok) expect(fit.message).toMatch(/open-file limit \(ulimit -n\) is 256/);
  });
});
