import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 600_000,
    // Two cores: Temporal-heavy files run two at a time at most.
    maxWorkers: 2,
  },
});
