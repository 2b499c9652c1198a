import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // e2e tests build network namespaces; running their files in parallel would race on names and CPU.
    fileParallelism: true,
    pool: 'forks',
  },
});
