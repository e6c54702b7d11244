import { defineConfig } from 'vitest/config';

// Integration and interop tests create network namespaces, daemons and ports:
// run test files one at a time so they never see each other's state.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
