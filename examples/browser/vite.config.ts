/**
 * Vite config of the browser demo.
 *
 * - `@adx/*` packages resolve to their TypeScript sources (the `@adx/source` export condition, as
 *   in the tests), so `npm run dev` needs no prior build of the libraries.
 * - Static files that live elsewhere in the repository are served under fixed URLs without copying
 *   them into this package: the demo's trained THOR checkpoint (`examples/demo/weights/thor/model`,
 *   ~0.7 MB) at `/weights/thor/model/…` and tfjs' wasm binaries at `/tfjs-wasm/…`. The dev and
 *   preview servers read them from disk on request; `vite build` emits them into `dist/`.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Connect, type Plugin } from 'vite';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

/** URL prefix (no leading slash) → [source folder, file names]. */
export const STATIC_ASSETS: Record<string, [string, readonly string[]]> = {
  'weights/thor/model/': [join(here, '../demo/weights/thor/model'), ['config.json', 'model.safetensors', 'state.json']],
  'tfjs-wasm/': [
    join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist'),
    ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm'],
  ],
};

const MIME: Record<string, string> = {
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.safetensors': 'application/octet-stream',
};

function lookup(urlPath: string): string | undefined {
  for (const [prefix, [dir, files]] of Object.entries(STATIC_ASSETS)) {
    for (const f of files) if (urlPath.endsWith(`/${prefix}${f}`)) return join(dir, f);
  }
  return undefined;
}

/** Serves (dev, preview) and emits (build) the files of {@link STATIC_ASSETS}. */
function repoAssets(): Plugin {
  const middleware: Connect.NextHandleFunction = (req, res, next) => {
    const file = lookup((req.url ?? '').split('?')[0]!);
    if (!file) return next();
    try {
      const bytes = readFileSync(file);
      const ext = file.slice(file.lastIndexOf('.'));
      res.setHeader('Content-Type', MIME[ext] ?? 'application/octet-stream');
      res.setHeader('Content-Length', String(bytes.length));
      res.end(bytes);
    } catch (e) {
      res.statusCode = 404;
      res.end(`${file}: ${(e as Error).message}`);
    }
  };
  return {
    name: 'adx-repo-assets',
    configureServer(server) {
      server.middlewares.use(middleware);
    },
    configurePreviewServer(server) {
      server.middlewares.use(middleware);
    },
    generateBundle() {
      for (const [prefix, [dir, files]] of Object.entries(STATIC_ASSETS)) {
        for (const f of files) {
          this.emitFile({ type: 'asset', fileName: `${prefix}${f}`, source: readFileSync(join(dir, f)) });
        }
      }
    },
  };
}

export default defineConfig({
  root: here,
  // Relative URLs: the built app works from any sub-path (and from `vite preview`).
  base: './',
  resolve: { conditions: ['@adx/source', 'module', 'browser', 'development|production'] },
  plugins: [repoAssets()],
  build: { target: 'es2022', chunkSizeWarningLimit: 4096 },
  server: { host: '127.0.0.1' },
  preview: { host: '127.0.0.1' },
});
