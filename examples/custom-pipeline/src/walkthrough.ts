/**
 * Walkthrough: composing your own anomaly-detection pipeline from the ADX packages.
 *
 *   npm start -w @adx/example-custom-pipeline [-- --out DIR --backend wasm|cpu --t-start 350 --stride 5 --seed 7]
 *
 * Read it top to bottom; every numbered step is one decision you would make for your own data:
 *
 *   0. pick a TensorFlow.js backend                                  (@adx/diffusion-core)
 *   1. get a scan as NIfTI (here: the phantom writes one)            (@adx/io-medical)
 *   2. load it and look at its geometry                              (@adx/io-medical/node)
 *   3. preprocess: RAS+, 1–99 % percentile normalisation, slices,
 *      pad-to-square + resize to the model's input size             (@adx/io-medical)
 *   4. load trained weights (the demo's THOR UNet)                   (@adx/diffusion-core/node)
 *   5. run THOR with a strided chain, a custom noise function and a
 *      custom perceptual distance                                     (@adx/guidance-thor, ./custom.ts)
 *   6. map the slice maps back onto the scan's own voxel grid         (@adx/io-medical)
 *   7. post-process (brain mask, erosion, median filter)             (@adx/metrics)
 *   8. score against the ground truth (AUROC, AUPRC, best Dice)      (@adx/metrics)
 *   9. write NIfTI maps, a PNG panel and a report                    (@adx/io-medical/node, @adx/metrics)
 *
 * The model is the tiny THOR-style UNet shipped in `examples/demo/weights/thor` (32×32 phantom T1
 * slices, see examples/demo/README.md); it is read from there, not copied. With the defaults this
 * takes well under a minute on the wasm backend.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend, type BackendName, type DiffusionModelUNet } from '@adx/diffusion-core';
import { loadCheckpoint } from '@adx/diffusion-core/node';
import { thor, type ThorOptions } from '@adx/guidance-thor';
import {
  brainMaskFromNonzero,
  extractSlices,
  generatePhantomVolume,
  montage,
  prepareSlice,
  preprocessSubject,
  resize2D,
  stackSlices,
  mapToOriginal,
  type Image2D,
  type Volume,
} from '@adx/io-medical';
import { readNiftiFile, writeNiftiFile, writePngFile } from '@adx/io-medical/node';
import {
  applyMask,
  averagePrecisionScore,
  bestDiceOverGrid,
  binaryErosion,
  linspace,
  medianFilter,
  rocAucScore,
} from '@adx/metrics';
import { SsimGradientDistance, pyramidNoise } from './custom.js';

/** The demo's THOR weights, by relative path from this file (not copied). */
export const THOR_WEIGHTS = fileURLToPath(new URL('../../demo/weights/thor/model/', import.meta.url));

export interface WalkthroughOptions {
  /** Output folder (input NIfTI, maps, panel, report). */
  outDir: string;
  /** TensorFlow.js backend (default `wasm`). */
  backend?: BackendName;
  /** Phantom scan size [x, y, z] in voxels (default [48, 40, 12]: non-square slices on purpose). */
  volumeShape?: [number, number, number];
  /** THOR noising level t_start (default 350, the paper's Gaussian setting). */
  tStart?: number;
  /** Visit every `stride`-th timestep of the chain (default 5: 71 UNet passes instead of 351). */
  stride?: number;
  /** Seed of the phantom and of THOR's noise (default 7). */
  seed?: number;
  /** THOR's noise (default `pyramidNoise(0.25)` from ./custom.ts; `'gaussian'` is the paper's). */
  noise?: ThorOptions['noise'];
  /** THOR's perceptual term (default `new SsimGradientDistance(0.5)`; `'ssim'` is the package default). */
  perceptual?: ThorOptions['perceptual'];
  /** THOR checkpoint folder (default {@link THOR_WEIGHTS}). */
  weightsDir?: string;
  /** Progress lines (default `console.log`). */
  log?: (line: string) => void;
}

export interface WalkthroughResult {
  backend: string;
  /** UNet passes THOR made per batch. */
  unetPasses: number;
  seconds: { total: number; thor: number };
  /** Voxel-level metrics inside the (eroded) brain mask, on the scan's own grid. */
  metrics: { auroc: number; auprc: number; bestDice: number; bestDiceThreshold: number; lesionVoxels: number };
  /** Tensors alive after the run minus before it (0 = leak-free). */
  leakedTensors: number;
  files: { input: string; anomalyMap: string; pseudoHealthy: string; panel: string; report: string; json: string };
}

export async function runWalkthrough(o: WalkthroughOptions): Promise<WalkthroughResult> {
  const log = o.log ?? ((line: string) => console.log(line));
  const t0 = performance.now();
  const seed = o.seed ?? 7;
  const tStart = o.tStart ?? 350;
  const stride = o.stride ?? 5;

  // ── 0. Backend ────────────────────────────────────────────────────────────────────────────
  // Libraries never import a backend; the application picks one. `useBackend` loads the optional
  // peer package dynamically: 'wasm' (fast CPU), 'webgpu', 'tensorflow' (tfjs-node-gpu) or 'cpu'.
  const backend = await useBackend(o.backend ?? 'wasm');
  log(`0. backend: ${backend.name}`);
  const tensorsAtStart = tf.memory().numTensors;

  // ── 1. A scan as NIfTI ────────────────────────────────────────────────────────────────────
  // Real data would come from your scanner / PACS export. The phantom renders a seeded T1 head with a
  // tumour on a RAS+ grid; we write it to disk so that step 2 is exactly what you do with a real file.
  // The grid is 4.5 × 4.5 × 2 mm around the level of the lateral ventricles (where the demo model's
  // training slices were cut), and the slices are non-square, so step 6 has real work to do.
  const [sx, sy, sz] = o.volumeShape ?? [48, 40, 12];
  const phantom = generatePhantomVolume({
    size: [sx, sy, sz],
    spacing: [4.5, 4.5, 2],
    centerMm: [0, 0, 12],
    seed: `walkthrough-${seed}`,
    contrast: 't1',
    lesions: ['tumour'],
  });
  const inDir = join(o.outDir, 'input');
  const files = {
    input: join(inDir, 'scan.nii.gz'),
    anomalyMap: join(o.outDir, 'anomaly-map.nii.gz'),
    pseudoHealthy: join(o.outDir, 'pseudo-healthy.nii.gz'),
    panel: join(o.outDir, 'panel.png'),
    report: join(o.outDir, 'report.md'),
    json: join(o.outDir, 'report.json'),
  };
  await writeNiftiFile(files.input, phantom.image);
  await writeNiftiFile(join(inDir, 'brain-mask.nii.gz'), phantom.brainMask, { dataType: 'uint8' });
  await writeNiftiFile(join(inDir, 'lesion-mask.nii.gz'), phantom.mask, { dataType: 'uint8' });
  log(`1. wrote ${files.input} (+ brain and lesion masks, as a BraTS-style export would ship them)`);

  // ── 2. Load it ────────────────────────────────────────────────────────────────────────────
  // `readNiftiFile` gives a `Volume`: data in NIfTI order (x fastest), shape, spacing and the
  // voxel → world (RAS+ mm) affine chosen like nibabel (sform, else qform, else pixdim).
  const { volume: scan } = await readNiftiFile(files.input);
  const { volume: brain } = await readNiftiFile(join(inDir, 'brain-mask.nii.gz'));
  const { volume: lesion } = await readNiftiFile(join(inDir, 'lesion-mask.nii.gz'));
  log(`2. loaded ${scan.shape.join('×')} voxels at ${scan.spacing.map((s) => s.toFixed(1)).join('×')} mm`);

  // ── 3. Preprocess ─────────────────────────────────────────────────────────────────────────
  // A declared pipeline: reorient to RAS+ (a no-op for the phantom, essential for real scans) and
  // map the 1st–99th percentile of the head (nonzero voxels) to [0, 1] — the convention the demo
  // model was trained with (`adx train` / `adx detect`). `preprocessSubject` remembers the original
  // geometry so that `mapToOriginal` can undo every geometric step later.
  const subject = preprocessSubject({ image: scan, brainMask: brainMaskFromNonzero(scan) }, [
    { op: 'canonical' },
    { op: 'percentile', lower: 1, upper: 99 },
  ]);
  // The model expects square slices of the size it was trained on (stored by `adx train` in the
  // checkpoint's state.json). `prepareSlice` pads to square and resizes, and returns `restore()` to
  // undo exactly that for a map.
  const { model, state } = await loadCheckpoint(o.weightsDir ?? THOR_WEIGHTS);
  let done: Omit<WalkthroughResult, 'leakedTensors'>;
  try {
    const size = (state as { config?: { data?: { size?: number } } } | undefined)?.config?.data?.size ?? 32;
    const slices = extractSlices(subject.image, { axis: 2 }); // axial slices, each { data, width, height }
    const prepared = slices.map((s) => prepareSlice(s, { size }));
    log(
      `3. ${slices.length} axial ${slices[0]!.width}×${slices[0]!.height} slices → padded and resized to ${size}×${size}`,
    );

    // ── 4. Weights ──────────────────────────────────────────────────────────────────────────
    // `loadCheckpoint` (above) rebuilt the network from config.json and loaded model.safetensors.
    // THOR needs an unconditional ε-predicting UNet; check instead of failing deep inside.
    if (model.className !== 'DiffusionModelUNet')
      throw new Error(`${o.weightsDir ?? THOR_WEIGHTS}: expected a DiffusionModelUNet, got ${model.className}`);
    log(`4. loaded a ${model.className} (${size}×${size}) from ${o.weightsDir ?? THOR_WEIGHTS}`);

    // ── 5. THOR, customised ─────────────────────────────────────────────────────────────────
    // One NHWC batch of all slices, intensities in [0, 1]. Three departures from the paper's
    // defaults, each one option:
    //  - `stride`: a respaced ancestral chain visiting every k-th timestep (map and harmonisation
    //    steps move to the nearest visited one): 71 UNet passes instead of 351 at stride 5;
    //  - `noise`: our multi-scale Gaussian noise (./custom.ts) instead of white noise;
    //  - `perceptual`: SSIM + Sobel-gradient dissimilarity (./custom.ts) instead of SSIM alone.
    const batch = new Float32Array(prepared.length * size * size);
    prepared.forEach((p, k) => batch.set(p.image.data, k * size * size));
    const x = tf.tensor4d(batch, [prepared.length, size, size, 1]);
    let unetPasses = 0;
    const tThor = performance.now();
    const result = await thor(model as unknown as DiffusionModelUNet, x, {
      tStart,
      stride,
      noise: o.noise ?? pyramidNoise(0.25),
      perceptual: o.perceptual ?? new SsimGradientDistance(0.5),
      rng: seed,
      onStep: ({ index, total }) => {
        unetPasses = total;
        if (index % 10 === 0 || index === total - 1) log(`   THOR step ${index + 1}/${total}`);
      },
    });
    x.dispose();
    // Read results asynchronously (`await t.data()`: the webgpu backend cannot read synchronously).
    const mapData = (await result.anomalyMap.data()) as Float32Array;
    const recData = (await result.reconstruction.data()) as Float32Array;
    tf.dispose([result.anomalyMap, result.reconstruction]);
    const thorSeconds = (performance.now() - tThor) / 1000;
    log(`5. THOR: ${unetPasses} UNet passes for ${prepared.length} slices in ${thorSeconds.toFixed(1)} s`);

    // ── 6. Back onto the scan's grid ────────────────────────────────────────────────────────
    // Undo the resize + pad per slice, re-stack along the slice axis, then undo the volume steps
    // (here: the reorientation) — the map now has the scan's shape and affine, voxel for voxel.
    const cut = (d: Float32Array, k: number): Image2D => ({
      data: d.slice(k * size * size, (k + 1) * size * size),
      width: size,
      height: size,
    });
    const toScanGrid = (d: Float32Array) =>
      mapToOriginal(
        stackSlices(
          prepared.map((p, k) => p.restore(cut(d, k))),
          subject.image,
          { axis: 2 },
        ),
        subject,
      );
    const rawMap = toScanGrid(mapData);
    const pseudoHealthy = toScanGrid(recData);
    log(`6. maps back on the scan grid: ${rawMap.shape.join('×')}, affine kept`);

    // ── 7. Post-processing ──────────────────────────────────────────────────────────────────
    // @adx/metrics works on C-order `{ data, shape }` arrays; a NIfTI-order volume [x, y, z]
    // (x fastest) is exactly C order [z, y, x]. Keep the map inside the brain mask eroded by one
    // voxel per slice (the skull rim is not anatomy the model saw), then a 3×3 in-plane median
    // filter to remove single-pixel speckle (as the papers' post-processing does).
    const zyx = [sz, sy, sx];
    const brainEroded = binaryErosion({ data: brain.data, shape: zyx }, { iterations: 1, sliceAxis: 0 });
    const masked = applyMask({ data: rawMap.data, shape: zyx }, brainEroded);
    const map = medianFilter(masked, { size: [1, 3, 3] });
    log('7. post-processed: brain mask (eroded 1 voxel per slice), 3×3 median filter');

    // ── 8. Scores ───────────────────────────────────────────────────────────────────────────
    // Voxel-level AUROC / AUPRC inside the eroded brain (scikit-learn's definitions) and THOR's
    // best Dice over the thresholds 0, 0.01, …, 1 (an oracle threshold, as in the paper).
    const yTrue: number[] = [];
    const yScore: number[] = [];
    for (let i = 0; i < map.data.length; i++)
      if (brainEroded.data[i]! > 0) {
        yTrue.push(lesion.data[i]! > 0 ? 1 : 0);
        yScore.push(map.data[i]!);
      }
    const lesionVoxels = yTrue.filter((v) => v === 1).length;
    if (lesionVoxels === 0 || lesionVoxels === yTrue.length)
      throw new Error('the scan has no lesion voxels inside the brain (or only lesion): change --seed');
    const auroc = rocAucScore(yTrue, yScore);
    const auprc = averagePrecisionScore(yTrue, yScore);
    const best = bestDiceOverGrid(yScore, yTrue, linspace(0, 1, 101));
    log(
      `8. voxel AUROC ${auroc.toFixed(3)}, AUPRC ${auprc.toFixed(3)}, best Dice ${best.dice.toFixed(3)} at ${best.threshold.toFixed(2)}`,
    );

    // ── 9. Outputs ──────────────────────────────────────────────────────────────────────────
    // NIfTI maps on the scan's grid (open them over scan.nii.gz in any viewer), a PNG panel of the
    // slice with the most lesion (input | pseudo-healthy | anomaly map | ground truth), a report.
    const onGrid = (data: Float32Array): Volume<Float32Array> => ({ ...rawMap, data });
    await writeNiftiFile(files.anomalyMap, onGrid(Float32Array.from(map.data)));
    await writeNiftiFile(files.pseudoHealthy, pseudoHealthy);
    const plane = sx * sy;
    let bestSlice = 0;
    for (let z = 0, most = -1; z < sz; z++) {
      let n = 0;
      for (let i = 0; i < plane; i++) n += lesion.data[z * plane + i]! > 0 ? 1 : 0;
      if (n > most) [bestSlice, most] = [z, n];
    }
    const sliceOf = (d: ArrayLike<number>): Image2D => ({
      data: Float32Array.from({ length: plane }, (_, i) => d[bestSlice * plane + i]!),
      width: sx,
      height: sy,
    });
    const tiles = [subject.image.data, pseudoHealthy.data, map.data, lesion.data].map((d) =>
      resize2D(sliceOf(d), 4 * sx, 4 * sy, 'nearest'),
    ); // ×4 for eyeballing
    await writePngFile(files.panel, montage(tiles, 4));
    const total = (performance.now() - t0) / 1000;
    const metrics = { auroc, auprc, bestDice: best.dice, bestDiceThreshold: best.threshold, lesionVoxels };
    const noiseName =
      typeof o.noise === 'string' ? `${o.noise} noise` : o.noise ? 'custom noise' : 'pyramid noise (w = 0.25)';
    const perceptualName = typeof o.perceptual === 'string' ? o.perceptual : (o.perceptual?.name ?? 'ssim+gradient');
    const report = [
      '# Custom pipeline walkthrough',
      '',
      `Scan: ${files.input} (${scan.shape.join('×')} voxels, phantom seed ${seed}); model: ${o.weightsDir ?? THOR_WEIGHTS}.`,
      `THOR: t_start ${tStart}, stride ${stride} (${unetPasses} UNet passes), ${noiseName}, ` +
        `perceptual distance ${perceptualName}; backend \`${backend.name}\`.`,
      '',
      '| metric (voxels inside the eroded brain mask) | value |',
      '| --- | --- |',
      `| AUROC | ${auroc.toFixed(4)} |`,
      `| AUPRC | ${auprc.toFixed(4)} |`,
      `| best Dice (threshold ${best.threshold.toFixed(2)}) | ${best.dice.toFixed(4)} |`,
      `| lesion voxels | ${lesionVoxels} |`,
      '',
      `THOR ${thorSeconds.toFixed(1)} s, total ${total.toFixed(1)} s.`,
      '',
      `Files: \`anomaly-map.nii.gz\`, \`pseudo-healthy.nii.gz\` (both on the scan's grid), \`panel.png\` (slice ${bestSlice}).`,
      '',
    ].join('\n');
    await mkdir(o.outDir, { recursive: true });
    await writeFile(files.report, report);
    await writeFile(
      files.json,
      JSON.stringify({ metrics, unetPasses, seconds: { total, thor: thorSeconds } }, null, 2),
    );
    log(`9. wrote ${files.anomalyMap}, ${files.pseudoHealthy}, ${files.panel}, ${files.report}`);
    done = { backend: backend.name, unetPasses, seconds: { total, thor: thorSeconds }, metrics, files };
  } finally {
    // Models own their weight tensors: free them (every ADX function that makes tensors is leak-free).
    model.dispose();
  }
  return { ...done, leakedTensors: tf.memory().numTensors - tensorsAtStart };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      out: { type: 'string', default: fileURLToPath(new URL('../out/', import.meta.url)) },
      backend: { type: 'string', default: 'wasm' },
      't-start': { type: 'string', default: '350' },
      stride: { type: 'string', default: '5' },
      seed: { type: 'string', default: '7' },
      // The paper's choices instead of ours: --noise gaussian --perceptual ssim
      noise: { type: 'string', default: 'pyramid' },
      perceptual: { type: 'string', default: 'ssim+gradient' },
    },
  });
  const r = await runWalkthrough({
    outDir: values.out!,
    backend: values.backend as BackendName,
    tStart: Number(values['t-start']),
    stride: Number(values.stride),
    seed: Number(values.seed),
    noise: values.noise === 'pyramid' ? undefined : (values.noise as 'gaussian' | 'simplex'),
    perceptual: values.perceptual === 'ssim+gradient' ? undefined : (values.perceptual as 'ssim' | 'none'),
  });
  console.log(`done in ${r.seconds.total.toFixed(1)} s — report: ${r.files.report}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href)
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
