// Vitest configuration: unit tests live beside the code, black-box tests under test/.
// Benchmarks under test/bench are scripts, never collected as tests; the fault-injection suite
// (test/faults) runs on its own with `npm run test:faults` (vitest.faults.config.ts).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    exclude: ['test/bench/**', 'test/faults/**', 'node_modules/**'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
