// Vitest configuration of the bounded fault suite (npm run test:faults): test/faults only,
// one file at a time (crash cycles and latency figures must not compete with each other).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/faults/**/*.test.ts'],
    testTimeout: 300_000,
    hookTimeout: 120_000,
    pool: 'forks',
    fileParallelism: false,
    // The one-line `faults: …` reports go to stdout: show them even when tests pass.
    silent: false,
    reporters: ['default'],
  },
});
