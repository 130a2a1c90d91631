import { defineConfig, type Options } from 'tsup';

/**
 * Shared build preset for every publishable package: ESM + CJS + .d.ts/.d.cts, source maps,
 * ES2022. Dependencies and peers stay external (tsup's default), so tfjs-core is never bundled.
 */
export function adxPreset(entry: Record<string, string> | string[] = ['src/index.ts'], extra: Options = {}) {
  return defineConfig({
    entry,
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'es2022',
    outDir: 'dist',
    treeshake: true,
    splitting: false,
    ...extra,
  });
}
