import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Separate processes: the leak checks read this process's handles, and the
    // 1,000-connection test needs its own descriptor budget.
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Socket-heavy suites compete for two cores; run files one at a time so no
    // test's deadline (e.g. "closed within 100 ms") depends on its neighbours.
    fileParallelism: false,
    // Every file ends holding no more sockets, servers or child processes than it began with.
    setupFiles: ['test/helpers/leak-check.setup.ts'],
  },
});
