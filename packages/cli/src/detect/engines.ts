/**
 * The detection methods behind `adx detect`, each as an engine that maps a volume (intensities in
 * [0, 1]) or a PNG slice to an anomaly map, a pseudo-healthy reconstruction and a score **on the
 * input's own grid**, plus an optional binary segmentation:
 *
 * - `thor`, `ddpm-recon` (@adx/guidance-thor) and `classifier` (@adx/guidance-classifier,
 *   Wolleb et al.) run slice by slice: pad to square, resize to the model size, batch, restore;
 * - `conditioned` (@adx/guidance-conditioned, Behrendt et al.) runs per volume: all slices of the
 *   volume form one batch sharing the noise map of each level, then the published post-processing
 *   (brain mask eroded per slice, 3D median) and, with a threshold, the segmentation with small 3D
 *   components removed — on the model grid, then every slice is mapped back.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { parseCheckpoint, type DenoisingModel, type EncoderUNetModel, type UNetModel } from '@adx/diffusion-core';
import { loadCheckpoint, readCheckpointFiles } from '@adx/diffusion-core/node';
import {
  brainMaskFromNonzero,
  extractSlices,
  prepareSlice,
  stackSlices,
  type Image2D,
  type Volume,
} from '@adx/io-medical';
import { anoddpm, runSlicewise, thor, type SliceMethod, type ThorOptions } from '@adx/guidance-thor';
import { detectWithClassifierGuidance, type ClassifierGuidanceOptions } from '@adx/guidance-classifier';
import { CDDPM, detectConditioned, gaussianVolumeNoise, segment, simplexVolumeNoise } from '@adx/guidance-conditioned';
import { UsageError } from '../errors.js';

export const DETECT_METHODS = ['thor', 'ddpm-recon', 'classifier', 'conditioned'] as const;
export type DetectMethod = (typeof DETECT_METHODS)[number];

/** Method options of `adx detect` (undefined → the method's default). */
export interface MethodOptions {
  seed: number;
  /** Model input size (default: the model's `imageSize`, else 128). */
  size?: number;
  batchSize: number;
  axis: number;
  /** thor / ddpm-recon: start level. */
  tStart?: number;
  /** thor / ddpm-recon: gaussian (default) | simplex; conditioned: simplex (default) | gaussian. */
  noise?: 'gaussian' | 'simplex';
  /** classifier: folder of the noisy classifier (default `<checkpoint>/classifier`). */
  classifier?: string;
  /** classifier: L, s, respacing, sampler. */
  noiseLevel?: number;
  scale?: number;
  respacing?: string;
  sampler?: 'ddim' | 'ddpm';
  /** conditioned: noise levels t (default the model's: 250, 500, 750 for cDDPM, 500 for the baselines). */
  levels?: number[];
  /** conditioned: post-processing (default on). */
  postprocess: boolean;
  erosion?: number;
  median?: number;
  /** Binarise the map at τ (conditioned: also drops 3D components ≤ 7 voxels). */
  threshold?: number;
}

export interface Maps<T> {
  anomalyMap: T;
  reconstruction: T;
  segmentation?: T;
  score: number;
}

export interface Engine {
  /** Square model input size. */
  size: number;
  /** `onSlices` reports slices done / total within the volume (for progress bars). */
  volume(v: Volume, onSlices?: (done: number, total: number) => void): Promise<Maps<Volume<Float32Array>>>;
  slice(img: Image2D): Promise<Maps<Image2D>>;
  dispose(): void;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

function imageSizeOf(config: unknown): number | undefined {
  const s = (config as { imageSize?: number | number[] } | undefined)?.imageSize;
  return typeof s === 'number' ? s : Array.isArray(s) ? s[0] : undefined;
}

/** map > τ as 0/1 on the same grid (slice methods: no component filtering). */
function binarize<T extends { data: ArrayLike<number> }>(img: T, threshold: number): T & { data: Float32Array } {
  return { ...img, data: Float32Array.from(img.data, (v) => (v > threshold ? 1 : 0)) };
}

/** An engine around a 2-D method on NHWC batches of `size`² slices. */
function sliceEngine(method: SliceMethod, size: number, o: MethodOptions, dispose: () => void): Engine {
  return {
    size,
    async volume(v, onSlices) {
      const res = await runSlicewise(v, method, {
        axis: o.axis,
        size,
        batchSize: o.batchSize,
        ...(onSlices ? { onBatch: (e: { done: number; total: number }) => onSlices(e.done, e.total) } : {}),
      });
      const { anomalyMap, reconstruction, score } = res;
      return {
        anomalyMap,
        reconstruction,
        score,
        ...(o.threshold !== undefined ? { segmentation: binarize(anomalyMap, o.threshold) } : {}),
      };
    },
    async slice(img) {
      const prep = prepareSlice(img, { size });
      const x = tf.tensor4d(prep.image.data, [1, size, size, 1]);
      try {
        const res = await method(x);
        const [m, r] = (await Promise.all([res.anomalyMap.data(), res.reconstruction.data()])) as Float32Array[];
        tf.dispose([res.anomalyMap, res.reconstruction]);
        const anomalyMap = prep.restore({ data: m!, width: size, height: size });
        const reconstruction = prep.restore({ data: r!, width: size, height: size });
        const score = res.score[0]!;
        return {
          anomalyMap,
          reconstruction,
          score,
          ...(o.threshold !== undefined ? { segmentation: binarize(anomalyMap, o.threshold) } : {}),
        };
      } finally {
        x.dispose();
      }
    },
    dispose,
  };
}

async function thorEngine(method: 'thor' | 'ddpm-recon', checkpoint: string, o: MethodOptions): Promise<Engine> {
  const { model, state } = await loadCheckpoint(checkpoint);
  if (model.className !== 'DiffusionModelUNet' && model.className !== 'UNetModel') {
    model.dispose();
    throw new UsageError(
      `checkpoint '${checkpoint}' holds a ${model.className}; ${method} needs an unconditional denoising UNet`,
    );
  }
  const unet = model as DenoisingModel;
  const options: ThorOptions = {
    rng: o.seed,
    ...(o.noise ? { noise: o.noise } : {}),
    ...(o.tStart !== undefined ? { tStart: o.tStart } : {}),
  };
  const fn: SliceMethod = method === 'thor' ? (b) => thor(unet, b, options) : (b) => anoddpm(unet, b, options);
  // Default size: the slice size `adx train` trained at (state.json), else THOR's 128.
  const trainedSize = (state as { config?: { data?: { size?: unknown } } } | undefined)?.config?.data?.size;
  const size = o.size ?? (typeof trainedSize === 'number' ? trainedSize : 128);
  return sliceEngine(fn, size, o, () => model.dispose());
}

/**
 * `-m` is the folder `adx train` writes for method classifier (`unet/` + `classifier/`), or the UNet
 * folder itself with `--classifier <dir>`.
 */
async function classifierEngine(checkpoint: string, o: MethodOptions): Promise<Engine> {
  const direct = await exists(join(checkpoint, 'config.json'));
  const unetDir = direct ? checkpoint : join(checkpoint, 'unet');
  const clfDir = o.classifier ?? (direct ? undefined : join(checkpoint, 'classifier'));
  if (!clfDir) throw new UsageError(`--classifier is required when -m '${checkpoint}' is a single checkpoint folder`);
  for (const [what, dir] of [
    ['UNet', unetDir],
    ['classifier', clfDir],
  ] as const) {
    if (!(await exists(join(dir, 'config.json'))))
      throw new UsageError(
        `no ${what} checkpoint in '${dir}' (expected the unet/ and classifier/ folders of adx train)`,
      );
  }
  const unet = (await loadCheckpoint(unetDir)).model;
  let clf: typeof unet;
  try {
    clf = (await loadCheckpoint(clfDir)).model;
  } catch (e) {
    unet.dispose();
    throw e;
  }
  const dispose = () => {
    unet.dispose();
    clf.dispose();
  };
  if (unet.className !== 'UNetModel' || clf.className !== 'EncoderUNetModel') {
    dispose();
    throw new UsageError(
      `classifier guidance needs a UNetModel and an EncoderUNetModel, got ${unet.className} ('${unetDir}') and ${clf.className} ('${clfDir}')`,
    );
  }
  const options: ClassifierGuidanceOptions = {
    rng: o.seed,
    ...(o.noiseLevel !== undefined ? { noiseLevel: o.noiseLevel } : {}),
    ...(o.scale !== undefined ? { classifierScale: o.scale } : {}),
    ...(o.respacing !== undefined ? { timestepRespacing: o.respacing } : {}),
    ...(o.sampler !== undefined ? { sampler: o.sampler } : {}),
  };
  const fn: SliceMethod = async (b) => {
    const r = await detectWithClassifierGuidance(unet as UNetModel, clf as EncoderUNetModel, b, options);
    return { anomalyMap: r.anomalyMap, reconstruction: r.healthy, score: r.score };
  };
  const size = o.size ?? imageSizeOf(unet.toConfig()) ?? 128;
  return sliceEngine(fn, size, o, dispose);
}

/** Rebuilds a CDDPM from `<dir>/unet` (+ `<dir>/encoder`), the config in the UNet's `state.json` (`state.cddpm`). */
export async function loadConditionedCheckpoint(dir: string): Promise<CDDPM> {
  if (!(await exists(join(dir, 'unet', 'config.json')))) {
    const variants = [];
    for (const v of ['cDDPM', 'DDPM', 'pDDPM']) if (await exists(join(dir, v, 'unet'))) variants.push(v);
    throw new UsageError(
      variants.length
        ? `'${dir}' holds the variants ${variants.join(', ')}; pass one of them, e.g. -m ${join(dir, variants[0]!)}`
        : `no conditioned checkpoint in '${dir}' (expected unet/ and, for cDDPM, encoder/ from adx train)`,
    );
  }
  const unet = parseCheckpoint(await readCheckpointFiles(join(dir, 'unet')), join(dir, 'unet'));
  const state = unet.state as { cddpm?: unknown } | undefined;
  if (!state?.cddpm)
    throw new UsageError(`'${join(dir, 'unet', 'state.json')}' has no 'cddpm' config (not written by adx train?)`);
  const model = CDDPM.fromConfig(state.cddpm);
  try {
    const encoder = model.encoder
      ? parseCheckpoint(await readCheckpointFiles(join(dir, 'encoder')), join(dir, 'encoder')).weights
      : undefined;
    model.loadWeights({ unet: unet.weights, ...(encoder ? { encoder } : {}) }, dir);
    return model;
  } catch (e) {
    model.dispose();
    throw e;
  }
}

async function conditionedEngine(checkpoint: string, o: MethodOptions): Promise<Engine> {
  const model = await loadConditionedCheckpoint(checkpoint);
  const s = model.config.unet.imageSize;
  const modelSize = typeof s === 'number' ? s : s[0];
  if (o.size !== undefined && o.size !== modelSize) {
    model.dispose();
    throw new UsageError(`--size ${o.size}: the conditioned model was trained at ${modelSize}×${modelSize}`);
  }
  const size = modelSize;
  /** Slices (any size) + brain-mask slices → maps on the slices' own grids. */
  const run = async (slices: Image2D[], brain: Image2D[], onSlices?: (done: number, total: number) => void) => {
    const prep = slices.map((sl) => prepareSlice(sl, { size }));
    const d = slices.length;
    const data = new Float32Array(d * size * size);
    const mask = new Uint8Array(d * size * size);
    prep.forEach((p, k) => data.set(p.image.data, k * size * size));
    brain.forEach((b, k) => {
      const m = prepareSlice(b, { size, padValue: 0, interpolation: 'nearest' }).image.data;
      for (let j = 0; j < m.length; j++) mask[k * size * size + j] = m[j]! > 0.5 ? 1 : 0;
    });
    const shape = [d, size, size];
    const det = await detectConditioned(
      model,
      { data, shape },
      {
        brainMask: { data: mask, shape },
        rng: o.seed,
        chunkSize: o.batchSize,
        ...(onSlices ? { onChunk: (e: { done: number; total: number }) => onSlices(e.done, e.total) } : {}),
        noise: o.noise === 'gaussian' ? gaussianVolumeNoise : simplexVolumeNoise,
        ...(o.levels ? { levels: o.levels } : {}),
        postprocess: o.postprocess
          ? {
              // ⌊W/25⌋ as published, but at least 1: below 25 px SciPy's 0 would erode the whole mask.
              erosionIterations: o.erosion ?? Math.max(1, Math.floor(size / 25)),
              ...(o.median !== undefined ? { medianSize: o.median } : {}),
            }
          : false,
      },
    );
    const seg = o.threshold === undefined ? undefined : segment(det.anomalyMap, o.threshold);
    const cut = (a: ArrayLike<number>, k: number): Image2D => ({
      data: Float32Array.from({ length: size * size }, (_, j) => a[k * size * size + j]!),
      width: size,
      height: size,
    });
    return {
      maps: prep.map((p, k) => p.restore(cut(det.anomalyMap.data, k))),
      recos: prep.map((p, k) => p.restore(cut(det.reconstruction.data, k))),
      segs: seg ? prep.map((p, k) => p.restore(cut(seg.data, k), 'nearest')) : undefined,
      score: det.score,
    };
  };
  return {
    size,
    async volume(v, onSlices) {
      const axis = o.axis;
      const r = await run(extractSlices(v, { axis }), extractSlices(brainMaskFromNonzero(v), { axis }), onSlices);
      return {
        anomalyMap: stackSlices(r.maps, v, { axis }),
        reconstruction: stackSlices(r.recos, v, { axis }),
        ...(r.segs ? { segmentation: stackSlices(r.segs, v, { axis }) } : {}),
        score: r.score,
      };
    },
    async slice(img) {
      const brain = { ...img, data: Float32Array.from(img.data, (x) => (x > 0 ? 1 : 0)) };
      const r = await run([img], [brain]);
      return {
        anomalyMap: r.maps[0]!,
        reconstruction: r.recos[0]!,
        ...(r.segs ? { segmentation: r.segs[0]! } : {}),
        score: r.score,
      };
    },
    dispose: () => model.dispose(),
  };
}

export async function createEngine(method: DetectMethod, checkpoint: string, o: MethodOptions): Promise<Engine> {
  if (method === 'classifier') return classifierEngine(checkpoint, o);
  if (method === 'conditioned') return conditionedEngine(checkpoint, o);
  return thorEngine(method, checkpoint, o);
}
