import { defineConfig } from 'vitest/config';

/**
 * Shared vitest preset: resolve sibling @adx packages to their TypeScript sources through the
 * `@adx/source` export condition, so tests never need a prior build.
 */
/**
 * The JSON report file: `test-results/vitest.json` for the default backends, and
 * `test-results/vitest-<backends>.json` when `ADX_TEST_BACKENDS` narrows them (e.g. the packages'
 * `test:webgpu` scripts), so a webgpu run never overwrites the unit-suite report.
 */
function reportFile(): string {
  const backends = process.env.ADX_TEST_BACKENDS?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return backends?.length ? `test-results/vitest-${backends.join('-')}.json` : 'test-results/vitest.json';
}

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
      reporters: ['default', ['json', { outputFile: reportFile() }]],
    },
  });
}
