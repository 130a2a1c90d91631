/**
 * End to end: build the browser demo, serve it on 127.0.0.1, open it in headless Chromium (Debian's
 * `chromium` + playwright-core, WebGPU on SwiftShader) and check that the anomaly map THOR computes
 * in the page equals the map the same `thor()` call computes in Node on the cpu backend (same
 * checkpoint, same input, same seed and options) — on WebGPU and on the wasm fallback.
 *
 * Needs /usr/bin/chromium (or $ADX_CHROMIUM) with SwiftShader; `. tools/webgpu-env.sh` installs it.
 * Set ADX_SKIP_BROWSER=1 to skip explicitly; a missing browser is a failure, never a silent skip.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build, preview, type PreviewServer } from 'vite';
import { chromium, type Browser, type Page } from 'playwright-core';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend, type DiffusionModelUNet } from '@adx/diffusion-core';
import { loadCheckpoint } from '@adx/diffusion-core/node';
import { thor } from '@adx/guidance-thor';
import { extractSlices, generatePhantomVolume, gzip, prepareSlice, readNifti, writeNifti } from '@adx/io-medical';
import { detect, normalizeScan, phantomSlice, thorOptions, type Detection, type ThorSettings } from './core.js';
import type { AdxPageResult } from './main.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RESULTS = join(ROOT, 'test-results');
const WEIGHTS = fileURLToPath(new URL('../../demo/weights/thor/model', import.meta.url));
const CHROMIUM = process.env.ADX_CHROMIUM ?? '/usr/bin/chromium';
const SWIFTSHADER = process.env.ADX_SWIFTSHADER_DIR ?? '/usr/lib/chromium';
const SKIP = process.env.ADX_SKIP_BROWSER === '1';

/** Chromium flags for WebGPU without a GPU: Dawn on SwiftShader's Vulkan (and WebGL on SwiftShader for NiiVue). */
const CHROMIUM_ARGS = [
  '--headless=new',
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan,WebGPU',
  '--use-vulkan=swiftshader',
  '--use-webgpu-adapter=swiftshader',
  '--enable-unsafe-swiftshader',
];

/**
 * A fixed phantom slice (the model's 32×32 grid) and THOR at the paper's t_start = 350 with a
 * stride-50 chain: 8 UNet calls (t = 350, 300, …, 0), every one a map step of the published
 * schedule (multiples of 50) and the harmonisation steps 300, 150, 50 among them. Stride 50, not
 * less, because SwiftShader is a software GPU: each step takes seconds on a loaded 2-core machine.
 */
const SETTINGS: ThorSettings = { tStart: 350, stride: 50, seed: 3 };
const PAGE_QUERY = `source=phantom&seed=${SETTINGS.seed}&tStart=${SETTINGS.tStart}&stride=${SETTINGS.stride}&slices=1&autorun=1`;

/**
 * Tolerances on max |page map − Node cpu map| (maps lie in [0, 0.999]). Both sides start from
 * bit-identical inputs and noise (the seeded noise is drawn in JS and uploaded), so every
 * difference is float32 rounding inside the kernels (summation order, fused multiply-add, WGSL
 * sin/cos in the timestep embedding), fed back through the 8-step chain, the per-image
 * max-normalisation and the harmonic mean of 8 maps. Measured on this phantom slice (stride-50
 * chain, printed by this test): 3.5e-6 on WebGPU/SwiftShader and 4.8e-6 on wasm. 5e-5 leaves ~10× headroom for other Chromium /
 * SwiftShader builds while still catching any real divergence (a wrong step, mask or seed shows
 * up at ≥ 1e-2).
 */
const TOL = { webgpu: 5e-5, wasm: 5e-5 } as const;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Why this machine cannot run the test, or undefined. */
function missingBrowser(): string | undefined {
  const missing = [CHROMIUM, join(SWIFTSHADER, 'libvk_swiftshader.so')].filter((f) => !existsSync(f));
  if (missing.length === 0) return undefined;
  return (
    `the browser e2e test needs Chromium with SwiftShader; missing: ${missing.join(', ')}. ` +
    'Install it with `. tools/webgpu-env.sh` (apt-get install chromium), point ADX_CHROMIUM at another ' +
    'Chromium, or set ADX_SKIP_BROWSER=1 to skip this test explicitly.'
  );
}

describe.skipIf(SKIP)('browser demo in headless Chromium (WebGPU on SwiftShader, wasm fallback)', () => {
  let outDir: string;
  let server: PreviewServer | undefined;
  let browser: Browser | undefined;
  let origin: string;
  /** The Node reference: input batch and THOR map on the cpu backend. */
  let nodeInput: Float32Array;
  let nodeMap: Float32Array;
  let nodeScore: number;
  /** A phantom volume written as .nii.gz for the file picker, and `detect()` on it in Node (cpu). */
  const niftiPath = join(RESULTS, 'phantom-e2e.nii.gz');
  let nodeNifti: Detection;

  beforeAll(async () => {
    const why = missingBrowser();
    if (why) throw new Error(why);
    await mkdir(RESULTS, { recursive: true });

    // The app, built exactly as `npm run build` builds it, into a temporary folder.
    const t0 = Date.now();
    const lap = (what: string) => console.log(`${what}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    outDir = await mkdtemp(join(tmpdir(), 'adx-browser-'));
    const configFile = join(ROOT, 'vite.config.ts');
    await build({ configFile, root: ROOT, logLevel: 'warn', build: { outDir, emptyOutDir: true } });
    const port = await freePort();
    server = await preview({
      configFile,
      root: ROOT,
      logLevel: 'warn',
      build: { outDir },
      preview: { host: '127.0.0.1', port, strictPort: true },
    });
    origin = `http://127.0.0.1:${port}`;
    lap(`built and serving ${origin}`);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 60_000 });

    lap('Chromium started');
    // Node: the same checkpoint (read from disk), input and thor() call on the cpu backend.
    await useBackend('cpu');
    const { model } = await loadCheckpoint(WEIGHTS);
    try {
      const scan = normalizeScan(phantomSlice(SETTINGS.seed, 32).volume);
      nodeInput = prepareSlice(extractSlices(scan, { axis: 2 })[0]!, { size: 32 }).image.data;
      const x = tf.tensor4d(nodeInput, [1, 32, 32, 1]);
      const res = await thor(model as DiffusionModelUNet, x, thorOptions(SETTINGS));
      nodeMap = (await res.anomalyMap.data()) as Float32Array;
      nodeScore = res.score[0]!;
      tf.dispose([x, res.anomalyMap, res.reconstruction]);

      // 40×40×10 (not the model's 32×32 grid, so the pad/resize/restore path runs too), gzipped.
      const phantom = generatePhantomVolume({
        size: [40, 40, 10],
        spacing: [5, 5, 5],
        seed: 'browser-e2e-nifti',
        contrasts: ['t1'],
        lesions: ['tumour'],
      });
      const bytes = gzip(writeNifti(phantom.image));
      await writeFile(niftiPath, bytes);
      const volumeScan = normalizeScan(readNifti(bytes, { name: niftiPath }).volume);
      nodeNifti = await detect({ model: model as DiffusionModelUNet, size: 32 }, volumeScan, SETTINGS, {
        maxSlices: 3,
      });
    } finally {
      model.dispose();
    }
    lap('Node references computed (cpu)');
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (outDir) await rm(outDir, { recursive: true, force: true });
  });

  /** Opens the page, waits for its run and returns the exposed result; records every request URL. */
  async function runPage(
    query: string,
    screenshot: string,
    upload?: string,
  ): Promise<{ result: AdxPageResult; requests: string[] }> {
    const page: Page = await browser!.newPage({ viewport: { width: 960, height: 960 } });
    const requests: string[] = [];
    const logs: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
    try {
      await page.goto(`${origin}/?${query}`, { waitUntil: 'domcontentloaded', timeout: 90_000 });
      if (upload) {
        // The file picker: choose the file (selects the "NIfTI file" source) and press Run.
        await page.waitForFunction(() => window.__adxState === 'ready' || window.__adxState === 'error', null, {
          timeout: 60_000,
        });
        await page.setInputFiles('#file', upload);
        await page.click('#run');
      }
      await page.waitForFunction(() => window.__adxState === 'done' || window.__adxState === 'error', null, {
        timeout: 170_000,
        polling: 500,
      });
      await page.waitForTimeout(300); // let NiiVue draw the overlay before the screenshot
      await page.screenshot({ path: join(RESULTS, screenshot), fullPage: true });
      const error = await page.evaluate(() => window.__adxError);
      if (error) throw new Error(`the page failed: ${error}\n${logs.join('\n')}`);
      const result = (await page.evaluate(() => window.__adxResult)) as AdxPageResult;
      return { result, requests };
    } finally {
      await page.close();
    }
  }

  function checkAgainstNode(result: AdxPageResult, requests: string[], tol: number, label: string): void {
    // The page ran the same settings on the same input as Node.
    expect(result.settings).toEqual(SETTINGS);
    expect(result.size).toBe(32);
    expect(result.indices).toEqual([0]);
    expect(maxAbs(result.input, nodeInput)).toBeLessThanOrEqual(1e-6);
    // No network beyond the page's own origin (data: and blob: URLs are local).
    expect(requests.filter((u) => !u.startsWith(origin) && !/^(data|blob):/.test(u))).toEqual([]);
    const d = maxAbs(result.anomalyMap, nodeMap);
    const ds = Math.abs(result.score - nodeScore);
    console.log(
      `${label}: ${result.seconds.toFixed(1)} s in the page; max|Δmap| = ${d.toExponential(2)}, ` +
        `|Δscore| = ${ds.toExponential(2)} (score ${result.score.toFixed(5)} vs Node cpu ${nodeScore.toFixed(5)})`,
    );
    expect(d).toBeLessThanOrEqual(tol);
    expect(ds).toBeLessThanOrEqual(tol);
    // A real map, not all zeros: THOR finds something in a lesioned slice.
    expect(Math.max(...result.anomalyMap)).toBeGreaterThan(0.1);
  }

  it('runs THOR on WebGPU (SwiftShader) and matches thor() in Node (cpu)', async () => {
    const { result, requests } = await runPage(`backend=webgpu&${PAGE_QUERY}`, 'screenshot.png');
    expect(result.backend).toBe('webgpu');
    expect(result.requestedBackend).toBe('webgpu');
    expect(JSON.stringify(result.adapter ?? {}).toLowerCase()).toMatch(/swiftshader|google/);
    checkAgainstNode(result, requests, TOL.webgpu, 'webgpu');
  });

  it('runs THOR on the wasm fallback (?backend=wasm) and matches thor() in Node (cpu)', async () => {
    const { result, requests } = await runPage(`backend=wasm&${PAGE_QUERY}`, 'screenshot-wasm.png');
    expect(result.backend).toBe('wasm');
    checkAgainstNode(result, requests, TOL.wasm, 'wasm');
  });

  it('reads a NIfTI file from the file picker and matches detect() in Node (wasm)', async () => {
    const query = `backend=wasm&seed=${SETTINGS.seed}&tStart=${SETTINGS.tStart}&stride=${SETTINGS.stride}&slices=3`;
    const { result, requests } = await runPage(query, 'screenshot-nifti.png', niftiPath);
    expect(result.backend).toBe('wasm');
    expect(result.source).toBe('file');
    expect(result.indices).toEqual(nodeNifti.indices);
    expect(maxAbs(result.input, nodeNifti.modelInput)).toBeLessThanOrEqual(1e-6);
    expect(requests.filter((u) => !u.startsWith(origin) && !/^(data|blob):/.test(u))).toEqual([]);
    const d = maxAbs(result.anomalyMap, nodeNifti.modelMap);
    console.log(
      `nifti (wasm, 3 slices): ${result.seconds.toFixed(1)} s in the page; max|Δmap| = ${d.toExponential(2)}`,
    );
    expect(d).toBeLessThanOrEqual(TOL.wasm);
    expect(maxAbs(result.scores, nodeNifti.scores)).toBeLessThanOrEqual(TOL.wasm);
  });

  it('falls back to wasm by itself when the browser has no navigator.gpu', async () => {
    const page = await browser!.newPage();
    try {
      // Hide WebGPU before any page script runs.
      await page.addInitScript(() => {
        delete (Navigator.prototype as { gpu?: unknown }).gpu;
      });
      await page.goto(`${origin}/`, { waitUntil: 'domcontentloaded', timeout: 90_000 });
      await page.waitForFunction(() => window.__adxState === 'ready' || window.__adxState === 'error', null, {
        timeout: 60_000,
      });
      expect(await page.evaluate(() => window.__adxError)).toBeUndefined();
      const text = await page.textContent('#backend');
      expect(text).toMatch(/^backend: wasm/);
      expect(text).toMatch(/WebGPU unavailable: .*navigator\.gpu/);
    } finally {
      await page.close();
    }
  });
});
