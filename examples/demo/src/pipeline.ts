/**
 * The demo pipeline: phantom test set → trained weights → THOR and the AnoDDPM baseline →
 * metrics under THOR's protocol, PNG panels, ROC/PR plots and NIfTI maps.
 *
 * Everything runs on whatever tfjs backend is active (the `demo` command picks wasm); the models
 * come from `examples/demo/weights/` (see `train-weights.ts`).
 */
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { DenoisingModel } from '@adx/diffusion-core';
import { loadCheckpoint } from '@adx/diffusion-core/node';
import { anoddpm, thor, type ThorResult } from '@adx/guidance-thor';
import {
  createVolume,
  generatePhantomSlices,
  montage,
  percentile,
  type Image2D,
  type PhantomSlice,
} from '@adx/io-medical';
import { writeFileAtomic, writeNiftiFile, writePngFile } from '@adx/io-medical/node';
import {
  THOR_LESION_BINS,
  averagePrecisionScore,
  imageLevelProtocol,
  precisionRecallCurve,
  precisionRecallCurveSvg,
  reportToJson,
  reportToMarkdown,
  rocAucScore,
  rocCurve,
  rocCurveSvg,
  thorBrainProtocol,
  type LesionSizeBin,
  type MetricsReport,
  type ThorBrainCase,
} from '@adx/metrics';
import { TRAIN_COMMAND, WEIGHTS_DIR } from './paths.js';

/** A demo-specific error naming the file or option and the problem. */
export class DemoError extends Error {
  constructor(
    readonly subject: string,
    readonly problem: string,
  ) {
    super(`${subject}: ${problem}`);
    this.name = 'DemoError';
  }
}

export interface DemoOptions {
  /** Folder with `<set>/model` checkpoints (default `examples/demo/weights/`). */
  weightsDir?: string;
  /** Output folder (report, panels, plots, NIfTI). */
  outDir: string;
  /** Test slices with a lesion (default 4). */
  diseased?: number;
  /** Healthy test slices (default 2). */
  healthy?: number;
  /** Seed of the phantom test set and of the methods' noise (default 7). */
  seed?: number;
  /** THOR / AnoDDPM noising level t_start (default 350, both papers' Gaussian setting). */
  tStart?: number;
  /** THOR only: visit every `stride`-th timestep (default 1, the full published chain). */
  thorStride?: number;
  /** Progress lines (default `console.log`). */
  log?: (line: string) => void;
}

export interface MethodRun {
  method: string;
  seconds: number;
  /** Forward passes of the UNet per image. */
  unetCalls: number;
  pixelAuroc: number;
  pixelAuprc: number;
}

export interface DemoSummary {
  outDir: string;
  report: string;
  files: string[];
  methods: MethodRun[];
  size: number;
  cases: number;
}

/** THOR's lesion-size bins are in pixels at 128²; the demo scales them by the area ratio. */
export function scaledBins(size: number): LesionSizeBin[] {
  const f = (size / 128) ** 2;
  return THOR_LESION_BINS.map((b) => ({ name: b.name, min: b.min * f, max: b.max * f }));
}

/**
 * Maps a slice to [0, 1] by its 1st/99th percentile inside the nonzero region: the convention of
 * `adx train` / `adx detect` (packages/cli), so test images match the training distribution.
 */
export function normalize01(img: Image2D): Image2D {
  const nz = img.data.filter((v) => v > 0);
  const lo = nz.length ? percentile(nz, 1) : 0;
  const hi = nz.length ? percentile(nz, 99) : 1;
  const span = hi > lo ? hi - lo : 1;
  const data = new Float32Array(img.data.length);
  for (let i = 0; i < data.length; i++) data[i] = Math.min(1, Math.max(0, (img.data[i]! - lo) / span));
  return { data, width: img.width, height: img.height };
}

/** The phantom test set: `diseased` slices with one lesion each, then `healthy` slices. */
export function phantomTestSet(diseased: number, healthy: number, size: number, seed: number): PhantomSlice[] {
  const sick = generatePhantomSlices({ count: diseased, size, seed: `demo-test-${seed}-d`, diseasedFraction: 1 });
  const well = generatePhantomSlices({ count: healthy, size, seed: `demo-test-${seed}-h`, diseasedFraction: 0 });
  return [...sick, ...well];
}

async function loadUNet(
  weightsDir: string,
  set: string,
): Promise<{ unet: DenoisingModel & { dispose(): void }; size: number }> {
  const dir = join(weightsDir, set, 'model');
  try {
    await stat(join(dir, 'model.safetensors'));
  } catch {
    throw new DemoError(
      dir,
      `no trained weights here; create them with \`${TRAIN_COMMAND}\` (see examples/demo/README.md)`,
    );
  }
  const { model, state } = await loadCheckpoint(dir);
  if (model.className !== 'DiffusionModelUNet' && model.className !== 'UNetModel') {
    model.dispose();
    throw new DemoError(dir, `holds a ${model.className}; THOR / AnoDDPM need an unconditional denoising UNet`);
  }
  // The slice size the model was trained on: `adx train` stores its config in state.json.
  const size = (state as { config?: { data?: { size?: unknown } } } | undefined)?.config?.data?.size;
  if (typeof size !== 'number' || !Number.isInteger(size) || size < 8) {
    model.dispose();
    throw new DemoError(join(dir, 'state.json'), `no 'config.data.size' (was it written by ${TRAIN_COMMAND}?)`);
  }
  return { unet: model as unknown as DenoisingModel & { dispose(): void }, size };
}

function toImages(t: Float32Array, n: number, size: number): Image2D[] {
  return Array.from({ length: n }, (_, k) => ({
    data: t.slice(k * size * size, (k + 1) * size * size),
    width: size,
    height: size,
  }));
}

/** Stacks slices as a NIfTI volume [x = column, y = row, z = slice] (voxel index col + W·(row + H·k)). */
function stack(images: Image2D[], spacing: number) {
  const { width, height } = images[0]!;
  const data = new Float32Array(width * height * images.length);
  images.forEach((im, k) => data.set(im.data, k * width * height));
  return createVolume({ data, shape: [width, height, images.length], spacing: [spacing, spacing, 1] });
}

export async function runDemo(o: DemoOptions): Promise<DemoSummary> {
  const log = o.log ?? ((l: string) => console.log(l));
  const weightsDir = o.weightsDir ?? WEIGHTS_DIR;
  const seed = o.seed ?? 7;
  const tStart = o.tStart ?? 350;
  const thorStride = o.thorStride ?? 1;
  const { unet, size } = await loadUNet(weightsDir, 'thor');
  const files: string[] = [];
  const out = (p: string) => {
    const full = join(o.outDir, p);
    files.push(full);
    return full;
  };
  try {
    const cases = phantomTestSet(o.diseased ?? 4, o.healthy ?? 2, size, seed);
    const n = cases.length;
    const inputs = cases.map((c) => normalize01(c.image));
    const batchData = new Float32Array(n * size * size);
    inputs.forEach((im, k) => batchData.set(im.data, k * size * size));
    const gts = cases.map((c) => ({ ...c.mask, data: c.mask.data.map((v) => (v > 0 ? 1 : 0)) }));
    const brain = cases.map((c) => c.brainMask);
    const labels = cases.map((c) => c.label);
    log(`test set: ${n} phantom slices (${labels.filter((l) => l === 1).length} with a lesion), ${size}x${size}`);

    const methods: {
      name: string;
      calls: number;
      run: (x: tf.Tensor4D) => Promise<ThorResult>;
    }[] = [
      {
        name: 'thor',
        calls: Math.ceil((tStart + 1) / thorStride),
        run: (x) => thor(unet, x, { rng: seed, tStart, stride: thorStride }),
      },
      { name: 'anoddpm', calls: tStart + 1, run: (x) => anoddpm(unet, x, { rng: seed, tStart }) },
    ];

    const reports: MetricsReport[] = [];
    const runs: MethodRun[] = [];
    const spacing = 200 / size;
    await mkdir(o.outDir, { recursive: true });
    await writeNiftiFile(out('nifti/input.nii.gz'), stack(inputs, spacing));
    await writeNiftiFile(out('nifti/ground-truth.nii.gz'), stack(gts, spacing));

    for (const m of methods) {
      const x = tf.tensor4d(batchData, [n, size, size, 1]);
      const t0 = performance.now();
      let res: ThorResult;
      try {
        res = await m.run(x);
      } finally {
        x.dispose();
      }
      const seconds = (performance.now() - t0) / 1000;
      const mapData = (await res.anomalyMap.data()) as Float32Array;
      const recData = (await res.reconstruction.data()) as Float32Array;
      tf.dispose([res.anomalyMap, res.reconstruction]);
      // Maps are evaluated inside the brain: background pixels (mask 0) are set to 0.
      const maps = toImages(mapData, n, size).map((im, k) => ({
        ...im,
        data: im.data.map((v, i) => (brain[k]!.data[i]! > 0 ? v : 0)),
      }));
      const recs = toImages(recData, n, size);
      const thorCases: ThorBrainCase[] = cases.map((c, k) => ({
        id: c.subjectId,
        map: { data: maps[k]!.data, shape: [size, size] },
        gt: { data: gts[k]!.data, shape: [size, size] },
        input: { data: inputs[k]!.data, shape: [size, size] },
        reconstruction: { data: recs[k]!.data, shape: [size, size] },
      }));
      const pixel = thorBrainProtocol(thorCases, { bins: scaledBins(size) });
      pixel.protocol = `${m.name}: ${pixel.protocol}`;
      const image = imageLevelProtocol(res.score, labels, { scoreName: 'mean of the anomaly map' });
      image.protocol = `${m.name}: ${image.protocol}`;
      reports.push(pixel, image);

      // Pooled pixel ROC / PR over all test slices (inside the brain masks).
      const yTrue: number[] = [];
      const yScore: number[] = [];
      for (let k = 0; k < n; k++)
        for (let i = 0; i < size * size; i++)
          if (brain[k]!.data[i]! > 0) {
            yTrue.push(gts[k]!.data[i]!);
            yScore.push(maps[k]!.data[i]!);
          }
      const auroc = rocAucScore(yTrue, yScore);
      const auprc = averagePrecisionScore(yTrue, yScore);
      await writeFileAtomic(
        out(`plots/${m.name}-roc.svg`),
        rocCurveSvg(rocCurve(yTrue, yScore, { dropIntermediate: true }), {
          auc: auroc,
          title: `${m.name}: pixel ROC`,
        }),
      );
      await writeFileAtomic(
        out(`plots/${m.name}-pr.svg`),
        precisionRecallCurveSvg(precisionRecallCurve(yTrue, yScore), { ap: auprc, title: `${m.name}: pixel PR` }),
      );

      // Panels: input | pseudo-healthy | anomaly map | ground truth (each min–max scaled by montage).
      for (let k = 0; k < n; k++) {
        const panel = montage([inputs[k]!, recs[k]!, maps[k]!, gts[k]!], 4);
        await writePngFile(
          out(`panels/${m.name}/${String(k).padStart(2, '0')}-${labels[k] ? 'lesion' : 'healthy'}.png`),
          panel,
        );
      }
      await writeNiftiFile(out(`nifti/${m.name}-anomaly.nii.gz`), stack(maps, spacing));
      await writeNiftiFile(out(`nifti/${m.name}-pseudo-healthy.nii.gz`), stack(recs, spacing));

      runs.push({ method: m.name, seconds, unetCalls: m.calls, pixelAuroc: auroc, pixelAuprc: auprc });
      log(
        `${m.name}: ${seconds.toFixed(1)} s for ${n} slices (${m.calls} UNet passes per batch), pixel AUROC ${auroc.toFixed(3)}, AUPRC ${auprc.toFixed(3)}`,
      );
    }

    const reportPath = out('report.md');
    const md = [
      '# ADX demo report',
      '',
      `Phantom test set: ${n} axial ${size}x${size} slices (${labels.filter((l) => l === 1).length} with a lesion, ` +
        `${labels.filter((l) => l === 0).length} healthy), seed ${seed}. Backend: \`${tf.getBackend()}\`.`,
      `Weights: \`${relative(o.outDir, join(weightsDir, 'thor', 'model'))}\` (recreate with \`${TRAIN_COMMAND}\`).`,
      '',
      'Settings and shortcuts versus the papers:',
      '',
      `- images ${size}x${size} (papers: 128x128 for THOR / AnoDDPM brain), a tiny UNet trained briefly on phantom slices;`,
      `- THOR and AnoDDPM: Gaussian noise, t_start = ${tStart}, ` +
        (thorStride === 1
          ? 'full ancestral chain (as published)'
          : `THOR chain respaced to every ${thorStride}th step`) +
        '; SSIM as the perceptual term of THOR (no LPIPS weights shipped);',
      `- THOR lesion-size bins scaled from 128² to ${size}² by area; maps set to 0 outside the phantom brain mask.`,
      '',
      '## Timings',
      '',
      '| method | seconds | UNet passes per batch | pixel AUROC (pooled, brain) | pixel AUPRC (pooled, brain) |',
      '| --- | --- | --- | --- | --- |',
      ...runs.map(
        (r) =>
          `| ${r.method} | ${r.seconds.toFixed(1)} | ${r.unetCalls} | ${r.pixelAuroc.toFixed(4)} | ${r.pixelAuprc.toFixed(4)} |`,
      ),
      '',
      '## Metrics',
      '',
      reportToMarkdown(reports),
      '',
      '## Files',
      '',
      ...files.filter((f) => f !== reportPath).map((f) => `- [${relative(o.outDir, f)}](${relative(o.outDir, f)})`),
      '',
    ].join('\n');
    await writeFileAtomic(reportPath, md);
    await writeFile(out('report.json'), reportToJson(reports));
    return { outDir: o.outDir, report: reportPath, files, methods: runs, size, cases: n };
  } finally {
    unet.dispose();
  }
}
