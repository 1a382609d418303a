import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Builds the dtrain executable first: spawned CLI processes run packages/cli/dist, never stale.
    globalSetup: ['test/global-setup.ts'],
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    pool: 'forks',
    // Multi-process tests spawn workers of their own; two test files at a time fill 2 cores.
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
