import { defineConfig } from 'vitest/config';

/**
 * Shared vitest preset: resolve sibling @adx packages to their TypeScript sources through the
 * `@adx/source` export condition, so tests never need a prior build.
 */
export function adxVitest(name: string, extra: { testTimeout?: number; setupFiles?: string[] } = {}) {
  return defineConfig({
    resolve: { conditions: ['@adx/source', 'module', 'import', 'default'] },
    ssr: { resolve: { conditions: ['@adx/source', 'node', 'import', 'default'] } },
    test: {
      name,
      include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
      environment: 'node',
      pool: 'forks',
      testTimeout: extra.testTimeout ?? 120_000,
      hookTimeout: 120_000,
      setupFiles: extra.setupFiles ?? [],
      // Console output plus a JSON report that tools/test-summary.mjs totals for CI.
      reporters: ['default', ['json', { outputFile: 'test-results/vitest.json' }]],
    },
  });
}
