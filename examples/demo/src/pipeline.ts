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
import type { DenoisingModel, EncoderUNetModel, UNetModel } from '@adx/diffusion-core';
import { loadCheckpoint } from '@adx/diffusion-core/node';
import { anoddpm, thor } from '@adx/guidance-thor';
import { classifierDiseaseScore, detectWithClassifierGuidance } from '@adx/guidance-classifier';
import {
  detectConditioned,
  evaluateBehrendt,
  type DetectResult,
  type EvaluationVolume,
  type LabelledDetection,
} from '@adx/guidance-conditioned';
import { createVolume, generatePhantomSlices, type Image2D, type PhantomSlice } from '@adx/io-medical';
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
  wollebPerSliceProtocol,
  type LesionSizeBin,
  type MetricsReport,
  type ThorBrainCase,
} from '@adx/metrics';
import { normalize01 } from './normalize.js';
import { TRAIN_COMMAND, WEIGHTS_DIR } from './paths.js';
import { CONDITIONED_MODELS, hasConditionedWeights, loadConditioned, phantomVolume } from './conditioned.js';

export { normalize01 };

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
  /** Classifier guidance: L, encoding/decoding steps on the `ddim100` schedule (default 30, see README). */
  classifierNoiseLevel?: number;
  /** Classifier guidance: scale s (default 10). */
  classifierScale?: number;
  /** cDDPM / DDPM: depth of the phantom test volumes (default 8) and their number (default 2). */
  volumeDepth?: number;
  testVolumes?: number;
  /** Methods to run: thor, anoddpm, classifier, cddpm, ddpm (default all whose weights exist; THOR's are required). */
  methods?: readonly string[];
  /** Progress lines (default `console.log`). */
  log?: (line: string) => void;
}

export interface MethodRun {
  method: string;
  seconds: number;
  /** Network passes per batch, in words. */
  passes: string;
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

interface MethodResult {
  anomalyMap: tf.Tensor4D;
  reconstruction: tf.Tensor4D;
  score: Float32Array;
}

interface Evaluated {
  maps: Image2D[];
  recs: Image2D[];
  scores: Float32Array;
}

interface DemoMethod {
  name: string;
  passes: string;
  run: (x: tf.Tensor4D) => Promise<MethodResult>;
  protocols: (ev: Evaluated) => MetricsReport[];
}

function named(method: string, r: MetricsReport): MetricsReport {
  return { ...r, protocol: `${method}: ${r.protocol}` };
}

/** Panel tiles, left to right. */
export const PANEL_LABELS = ['INPUT', 'PSEUDO-HEALTHY', 'ANOMALY MAP', 'GROUND TRUTH'] as const;
/** Nearest-neighbour upscaling of each tile (32-px slices → 128-px tiles). */
export const PANEL_SCALE = 4;
/** White gap between tiles, px. */
export const PANEL_GAP = 4;
/** White label strip above the tiles, px (2 + 7-px glyphs + 2). */
export const PANEL_LABEL_HEIGHT = 11;

/** 5×7 bitmap glyphs for the panel labels ('#' = ink). */
const GLYPHS: Record<string, string> = {
  A: '.###.#...##...#######...##...##...#',
  D: '####.#...##...##...##...##...#####.',
  E: '######....#....####.#....#....#####',
  G: '.###.#...##....#.####...##...#.###.',
  H: '#...##...##...#######...##...##...#',
  I: '.###...#....#....#....#....#...###.',
  L: '#....#....#....#....#....#....#####',
  M: '#...###.###.#.##.#.##...##...##...#',
  N: '#...###..##.#.##..###...##...##...#',
  O: '.###.#...##...##...##...##...#.###.',
  P: '####.#...##...#####.#....#....#....',
  R: '####.#...##...#####.#.#..#..#.#...#',
  S: '.#####....#.....###.....#....#####.',
  T: '#####..#....#....#....#....#....#..',
  U: '#...##...##...##...##...##...#.###.',
  Y: '#...##...#.#.#...#....#....#....#..',
  '-': '.'.repeat(16) + '###' + '.'.repeat(16),
  ' ': '.'.repeat(35),
};

/**
 * One demo panel: the tiles side by side, each min–max scaled to [0, 1] (as `montage` of
 * @adx/io-medical does), upscaled ×`scale` by nearest neighbour, separated by white gaps, under a
 * white strip with each tile's label in black.
 */
export function panel(
  tiles: readonly Image2D[],
  labels: readonly string[] = PANEL_LABELS,
  scale = PANEL_SCALE,
): Image2D {
  const { width: w, height: h } = tiles[0]!;
  const tw = w * scale;
  const W = tiles.length * tw + (tiles.length - 1) * PANEL_GAP;
  const H = PANEL_LABEL_HEIGHT + h * scale;
  const data = new Float32Array(W * H).fill(1);
  tiles.forEach((im, n) => {
    if (im.width !== w || im.height !== h)
      throw new DemoError(`panel tile ${n}`, `is ${im.width}x${im.height}, not ${w}x${h}`);
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of im.data) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    const span = hi > lo ? hi - lo : 1;
    const ox = n * (tw + PANEL_GAP);
    for (let y = 0; y < h * scale; y++)
      for (let x = 0; x < tw; x++) {
        const v = im.data[Math.floor(y / scale) * w + Math.floor(x / scale)]!;
        data[(PANEL_LABEL_HEIGHT + y) * W + ox + x] = (v - lo) / span;
      }
    // label, centred over the tile (glyphs 5 px + 1 px spacing; clipped to the tile)
    const text = (labels[n] ?? '').toUpperCase();
    const tx = ox + Math.max(0, Math.floor((tw - (6 * text.length - 1)) / 2));
    [...text].forEach((ch, c) => {
      const g = GLYPHS[ch] ?? GLYPHS[' ']!;
      for (let gy = 0; gy < 7; gy++)
        for (let gx = 0; gx < 5; gx++) {
          const x = tx + 6 * c + gx;
          if (g[gy * 5 + gx] === '#' && x < ox + tw) data[(2 + gy) * W + x] = 0;
        }
    });
  });
  return { data, width: W, height: H };
}

/** The first panel file of each method folder (`panels/<method>/…png`), in order of appearance. */
export function firstPanels(paths: readonly string[]): string[] {
  const seen = new Map<string, string>();
  for (const p of paths) {
    const m = /^panels[/\\]([^/\\]+)[/\\][^/\\]+\.png$/.exec(p);
    if (m && !seen.has(m[1]!)) seen.set(m[1]!, p);
  }
  return [...seen.values()];
}

/** THOR's lesion-size bins are in pixels at 128²; the demo scales them by the area ratio. */
export function scaledBins(size: number): LesionSizeBin[] {
  const f = (size / 128) ** 2;
  return THOR_LESION_BINS.map((b) => ({ name: b.name, min: b.min * f, max: b.max * f }));
}

/** The phantom test set: `diseased` slices with one lesion each, then `healthy` slices. */
export function phantomTestSet(diseased: number, healthy: number, size: number, seed: number): PhantomSlice[] {
  const sick = generatePhantomSlices({ count: diseased, size, seed: `demo-test-${seed}-d`, diseasedFraction: 1 });
  const well = generatePhantomSlices({ count: healthy, size, seed: `demo-test-${seed}-h`, diseasedFraction: 0 });
  return [...sick, ...well];
}

async function hasWeights(dir: string): Promise<boolean> {
  try {
    await stat(join(dir, 'model.safetensors'));
    return true;
  } catch {
    return false;
  }
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
  const wanted = (name: string) => o.methods === undefined || o.methods.includes(name);
  const { unet, size } = await loadUNet(weightsDir, 'thor');
  const owned: { dispose(): void }[] = [unet];
  const files: string[] = [];
  const out = (p: string) => {
    const full = join(o.outDir, p);
    files.push(full);
    return full;
  };
  /** Pooled ROC / PR plots (SVG) of one method; returns AUROC and AUPRC. */
  const writeCurves = async (name: string, yTrue: number[], yScore: number[]) => {
    const positives = yTrue.filter((v) => v > 0).length;
    if (positives === 0 || positives === yTrue.length) {
      log(`${name}: no ROC / PR plot, the test pixels hold only one class`);
      return { auroc: NaN, auprc: NaN };
    }
    const auroc = rocAucScore(yTrue, yScore);
    const auprc = averagePrecisionScore(yTrue, yScore);
    await writeFileAtomic(
      out(`plots/${name}-roc.svg`),
      rocCurveSvg(rocCurve(yTrue, yScore, { dropIntermediate: true }), { auc: auroc, title: `${name}: pixel ROC` }),
    );
    await writeFileAtomic(
      out(`plots/${name}-pr.svg`),
      precisionRecallCurveSvg(precisionRecallCurve(yTrue, yScore), { ap: auprc, title: `${name}: pixel PR` }),
    );
    return { auroc, auprc };
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

    /** THOR's brain protocol (scaled bins) plus the image-level AUROC of the map means. */
    const thorProtocols = (name: string, ev: Evaluated): MetricsReport[] => {
      const thorCases: ThorBrainCase[] = cases.map((c, k) => ({
        id: c.subjectId,
        map: { data: ev.maps[k]!.data, shape: [size, size] },
        gt: { data: gts[k]!.data, shape: [size, size] },
        input: { data: inputs[k]!.data, shape: [size, size] },
        reconstruction: { data: ev.recs[k]!.data, shape: [size, size] },
      }));
      const pixel = thorBrainProtocol(thorCases, { bins: scaledBins(size) });
      const image = imageLevelProtocol(ev.scores, labels, { scoreName: 'mean of the anomaly map' });
      return [named(name, pixel), named(name, image)];
    };

    const methods: DemoMethod[] = [];
    if (wanted('thor'))
      methods.push({
        name: 'thor',
        passes: `${Math.ceil((tStart + 1) / thorStride)} UNet`,
        run: (x) => thor(unet, x, { rng: seed, tStart, stride: thorStride }),
        protocols: (ev) => thorProtocols('thor', ev),
      });
    if (wanted('anoddpm'))
      methods.push({
        name: 'anoddpm',
        passes: `${tStart + 1} UNet`,
        run: (x) => anoddpm(unet, x, { rng: seed, tStart }),
        protocols: (ev) => thorProtocols('anoddpm', ev),
      });
    const wollebDir = join(weightsDir, 'classifier');
    if (wanted('classifier') && (await hasWeights(join(wollebDir, 'unet')))) {
      const gUnet = (await loadCheckpoint(join(wollebDir, 'unet'))).model;
      owned.push(gUnet);
      const gClf = (await loadCheckpoint(join(wollebDir, 'classifier'))).model;
      owned.push(gClf);
      if (gUnet.className !== 'UNetModel' || gClf.className !== 'EncoderUNetModel')
        throw new DemoError(
          wollebDir,
          `expected a UNetModel and an EncoderUNetModel, got ${gUnet.className} and ${gClf.className}`,
        );
      const L = o.classifierNoiseLevel ?? 30;
      const scale = o.classifierScale ?? 10;
      let clfScores: Float32Array = new Float32Array(0);
      methods.push({
        name: 'classifier',
        passes: `${2 * L} UNet + ${L} classifier gradients (ddim100)`,
        run: async (x) => {
          clfScores = await classifierDiseaseScore(gClf as EncoderUNetModel, x);
          const r = await detectWithClassifierGuidance(gUnet as UNetModel, gClf as EncoderUNetModel, x, {
            noiseLevel: L,
            classifierScale: scale,
            timestepRespacing: 'ddim100',
            rng: seed,
          });
          // The official loop returns x̂ unclipped; the panel shows it in [0, 1].
          const reconstruction = tf.tidy(() => tf.clipByValue(r.healthy, 0, 1)) as tf.Tensor4D;
          r.healthy.dispose();
          return { anomalyMap: r.anomalyMap, reconstruction, score: r.score };
        },
        protocols: (ev) => {
          const diseased = cases.flatMap((c, k) =>
            c.label === 1
              ? [
                  {
                    id: c.subjectId,
                    map: { data: ev.maps[k]!.data, shape: [size, size] },
                    gt: { data: gts[k]!.data, shape: [size, size] },
                  },
                ]
              : [],
          );
          const reports = diseased.length
            ? [named('classifier', wollebPerSliceProtocol(diseased, { imageScores: { scores: ev.scores, labels } }))]
            : [];
          const clf = imageLevelProtocol(clfScores, labels, {
            scoreName: '1 − p(healthy | x, t = 0) of the classifier',
          });
          return [...reports, named('classifier', clf)];
        },
      });
    } else if (wanted('classifier')) {
      log(`classifier: skipped, no weights in ${wollebDir} (run \`${TRAIN_COMMAND}\`)`);
    }

    const reports: MetricsReport[] = [];
    const runs: MethodRun[] = [];
    const spacing = 200 / size;
    await mkdir(o.outDir, { recursive: true });
    await writeNiftiFile(out('nifti/input.nii.gz'), stack(inputs, spacing));
    await writeNiftiFile(out('nifti/ground-truth.nii.gz'), stack(gts, spacing));

    for (const m of methods) {
      const x = tf.tensor4d(batchData, [n, size, size, 1]);
      const t0 = performance.now();
      let res: MethodResult;
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
      reports.push(...m.protocols({ maps, recs, scores: res.score }));

      // Pooled pixel ROC / PR over all test slices (inside the brain masks).
      const yTrue: number[] = [];
      const yScore: number[] = [];
      for (let k = 0; k < n; k++)
        for (let i = 0; i < size * size; i++)
          if (brain[k]!.data[i]! > 0) {
            yTrue.push(gts[k]!.data[i]!);
            yScore.push(maps[k]!.data[i]!);
          }
      const { auroc, auprc } = await writeCurves(m.name, yTrue, yScore);

      // Panels: input | pseudo-healthy | anomaly map | ground truth (each min–max scaled, ×4 nearest neighbour).
      for (let k = 0; k < n; k++) {
        await writePngFile(
          out(`panels/${m.name}/${String(k).padStart(2, '0')}-${labels[k] ? 'lesion' : 'healthy'}.png`),
          panel([inputs[k]!, recs[k]!, maps[k]!, gts[k]!]),
        );
      }
      await writeNiftiFile(out(`nifti/${m.name}-anomaly.nii.gz`), stack(maps, spacing));
      await writeNiftiFile(out(`nifti/${m.name}-pseudo-healthy.nii.gz`), stack(recs, spacing));

      runs.push({ method: m.name, seconds, passes: m.passes, pixelAuroc: auroc, pixelAuprc: auprc });
      log(
        `${m.name}: ${seconds.toFixed(1)} s for ${n} slices (${m.passes} passes per batch), pixel AUROC ${auroc.toFixed(3)}, AUPRC ${auprc.toFixed(3)}`,
      );
    }

    // cDDPM + DDPM (Behrendt et al.): small phantom volumes, τ from one validation volume, the
    // per-volume protocol on the test volumes (`evaluateBehrendt` → behrendtPerVolumeProtocol).
    const cddpmDir = join(weightsDir, 'cddpm');
    const runConditioned = CONDITIONED_MODELS.filter((m) => wanted(m.toLowerCase()));
    if (runConditioned.length && !(await hasConditionedWeights(cddpmDir))) {
      log(`cddpm / ddpm: skipped, no weights in ${cddpmDir} (run \`${TRAIN_COMMAND}\`)`);
    } else if (runConditioned.length) {
      const depth = o.volumeDepth ?? 8;
      const nTest = o.testVolumes ?? 2;
      const validation = [phantomVolume(`demo-val-${seed}`, ['tumour'], size, depth)];
      const test = Array.from({ length: nTest }, (_, i) =>
        phantomVolume(`demo-test-${seed}-${i}`, ['tumour'], size, depth),
      );
      log(`volume test set: ${nTest} tumour phantom volumes ${size}x${size}x${depth} (+1 for the validation τ)`);
      for (const name of runConditioned) {
        const model = await loadConditioned(cddpmDir, name);
        try {
          const detect = async (v: EvaluationVolume): Promise<LabelledDetection & { detection: DetectResult }> => ({
            detection: await detectConditioned(model, v.image, {
              brainMask: v.brainMask!,
              rng: seed,
              postprocess: { erosionIterations: 1 },
            }),
            segmentation: v.segmentation,
            input: v.image,
            brainMask: v.brainMask!,
            id: v.id!,
          });
          const val = [];
          for (const v of validation) val.push(await detect(v));
          const t0 = performance.now();
          const res = [];
          for (const v of test) res.push(await detect(v));
          const seconds = (performance.now() - t0) / 1000;
          const { report } = evaluateBehrendt(res, { validation: val });
          reports.push(named(name, report));
          const yTrue: number[] = [];
          const yScore: number[] = [];
          res.forEach((r) => {
            const b = r.brainMask!.data;
            for (let i = 0; i < b.length; i++)
              if (b[i]! > 0) {
                yTrue.push(r.segmentation.data[i]! > 0 ? 1 : 0);
                yScore.push(r.detection.anomalyMap.data[i]!);
              }
          });
          const key = name.toLowerCase();
          const { auroc, auprc } = await writeCurves(key, yTrue, yScore);
          // Panels: the slice with the most lesion of each test volume; NIfTI: whole volumes.
          for (const [vi, r] of res.entries()) {
            const hw = size * size;
            let best = 0;
            let bestArea = -1;
            for (let z = 0; z < depth; z++) {
              let a = 0;
              for (let i = 0; i < hw; i++) a += r.segmentation.data[z * hw + i]! > 0 ? 1 : 0;
              if (a > bestArea) [best, bestArea] = [z, a];
            }
            const sl = (d: ArrayLike<number>): Image2D => ({
              data: Float32Array.from({ length: hw }, (_, i) => d[best * hw + i]!),
              width: size,
              height: size,
            });
            await writePngFile(
              out(`panels/${key}/volume${vi}-slice${best}.png`),
              panel([
                sl(r.input!.data),
                sl(r.detection.reconstruction.data),
                sl(r.detection.anomalyMap.data),
                sl(r.segmentation.data),
              ]),
            );
            // [D, H, W] C order = NIfTI x = column, y = row, z = slice.
            const vol = (d: ArrayLike<number>) =>
              createVolume({
                data: Float32Array.from(d),
                shape: [size, size, depth],
                spacing: [200 / size, 200 / size, 1],
              });
            await writeNiftiFile(out(`nifti/${key}-volume${vi}-anomaly.nii.gz`), vol(r.detection.anomalyMap.data));
            await writeNiftiFile(
              out(`nifti/${key}-volume${vi}-pseudo-healthy.nii.gz`),
              vol(r.detection.reconstruction.data),
            );
          }
          const levels = model.testLevels.length;
          runs.push({
            method: key,
            seconds,
            passes: `${levels} UNet${model.encoder ? ' + 1 encoder' : ''} per slice (x̂0 at t ∈ {${model.testLevels.join(', ')}})`,
            pixelAuroc: auroc,
            pixelAuprc: auprc,
          });
          log(
            `${key}: ${seconds.toFixed(1)} s for ${nTest} volumes, voxel AUROC ${auroc.toFixed(3)}, AUPRC ${auprc.toFixed(3)}`,
          );
        } finally {
          model.dispose();
        }
      }
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
      `- classifier guidance (Wolleb et al.): L = ${o.classifierNoiseLevel ?? 30} on the respaced \`ddim100\` schedule ` +
        `(paper: L = 500 of 1000), s = ${o.classifierScale ?? 10} (paper: 100), tiny networks trained briefly;`,
      `- cDDPM / DDPM (Behrendt et al.): ${size}x${size}x${o.volumeDepth ?? 8} T2 phantom volumes (paper: 96x96 slices of ` +
        'IXI/BraTS), τ from one validation volume, brain-mask erosion 1 iteration (paper: ⌊W/25⌋ at 96 px).',
      '',
      '## Timings',
      '',
      '| method | seconds | network passes per batch | pixel AUROC (pooled, brain) | pixel AUPRC (pooled, brain) |',
      '| --- | --- | --- | --- | --- |',
      ...runs.map(
        (r) =>
          `| ${r.method} | ${r.seconds.toFixed(1)} | ${r.passes} | ${r.pixelAuroc.toFixed(4)} | ${r.pixelAuprc.toFixed(4)} |`,
      ),
      '',
      '## Metrics',
      '',
      reportToMarkdown(reports),
      '',
      '## Panels',
      '',
      'Input | pseudo-healthy | anomaly map | ground truth, each tile min–max scaled and enlarged ×4; the first panel of each method (all in `panels/`):',
      '',
      ...firstPanels(files.map((f) => relative(o.outDir, f))).map((p) => `![${p}](${p})`),
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
    for (const m of owned) m.dispose();
  }
}
