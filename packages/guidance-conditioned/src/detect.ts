/**
 * Volume-wise anomaly detection with cDDPM and its baselines (Behrendt et al.; conditioned.md §2, §7).
 *
 * Port of `DDPM_2D.test_step` (cDDPM, DDPM) and `DDPM_2D_patched.test_step` (pDDPM) with
 * `GaussianDiffusion.forward` / `p_losses` (`src/models/modules/cond_DDPM.py`) of
 * `FinnBehrendt/Conditioned-Diffusion-Models-UAD` @ c5904a71. Per volume (slices as the batch):
 *
 *   c = encoder(x)                                            clean [0,1] slices (cDDPM only)
 *   for t in levels ({250, 500, 750} with the ensemble, else {500}):
 *     n   = gen_noise(): ONE simplex map, float16, shared by every slice of the volume
 *     x_t = √ᾱ[t−1]·(2x − 1) + √(1−ᾱ[t−1])·n                 float32 cosine buffers, index t − 1
 *     pDDPM: for each grid box b: x_t^b = (2x − 1) with box b taken from x_t, x̂₀ pasted back in b
 *     reco_t = (UNet(x_t, t − 1, c) + 1)/2                      one x̂₀ prediction, no clamping
 *   reco = (Σ_t reco_t) / |levels|                            the noise ensemble
 *   map  = median₅³(|x − reco| · erode_cross^{W//25}(brain mask))          (`utils_eval._test_step`)
 *
 * The map post-processing uses `@adx/metrics` (`behrendtPostprocess`).
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError, SeededRNG, simplexNoiseBatch } from '@adx/diffusion-core';
import { behrendtPostprocess, medianFilter, type NdArray } from '@adx/metrics';
import type { CDDPM } from './model.js';

/** A volume as a plain array: `[D, H, W]` or `[D, H, W, 1]` in C order (slices first, NHWC). */
export interface VolumeArray<T extends ArrayLike<number> = ArrayLike<number>> {
  data: T;
  shape: readonly number[];
}

/** A stack of slices `[D, H, W, 1]` / `[D, H, W]` as a tensor or a plain typed array with its shape. */
export type VolumeInput = tf.Tensor | VolumeArray;

/**
 * The per-level noise of one volume: a `[1, H, W, 1]` map shared by every slice (default: the
 * cDDPM simplex map, a fresh seed from `rng` per call, float16, not normalised).
 */
export type VolumeNoiseFn = (height: number, width: number, rng: SeededRNG, t: number) => tf.Tensor4D;

/** `gen_noise` of `src/utils/generate_noise.py`: one 2D simplex map, 6 octaves, persistence 0.8, frequency 64, float16. */
export const simplexVolumeNoise: VolumeNoiseFn = (height, width, rng) => simplexNoiseBatch([1, height, width, 1], rng);

/** Standard normal noise, one map shared by the volume (an option; the paper always uses simplex). */
export const gaussianVolumeNoise: VolumeNoiseFn = (height, width, rng) =>
  rng.randn([1, height, width, 1]) as tf.Tensor4D;

export interface PostprocessOptions {
  /** Erosion iterations of the brain mask (default ⌊W/25⌋ = 3 at 96 px). */
  erosionIterations?: number;
  /** Median kernel (default 5; 0 disables). */
  medianSize?: number;
}

export interface DetectOptions {
  /** Brain mask (> 0 = brain) of the same shape as the volume; eroded per slice before masking. */
  brainMask?: VolumeInput;
  /** Noise levels t (default: the model's `testLevels`: [250, 500, 750] for cDDPM, [500] otherwise). */
  levels?: readonly number[];
  /** Randomness source (or seed) for the per-level noise seeds (default seed 0). */
  rng?: SeededRNG | number;
  /** Per-level noise (default {@link simplexVolumeNoise}). */
  noise?: VolumeNoiseFn;
  /** Slices per network call (default 16); the noise map stays shared across chunks. */
  chunkSize?: number;
  /** Post-process the residual (erosion, median) — default true; false returns the raw residual as the map. */
  postprocess?: boolean | PostprocessOptions;
  /** Keep the reconstruction of every level (default false). */
  returnIntermediates?: boolean;
  /** Called after each chunk of slices. */
  onChunk?: (info: { done: number; total: number }) => void;
}

export interface DetectResult {
  /** Post-processed anomaly map `[D, H, W]` (the raw residual when `postprocess: false`). */
  anomalyMap: VolumeArray<Float32Array>;
  /** Ensemble reconstruction in [0, 1] (not clamped) `[D, H, W]`. */
  reconstruction: VolumeArray<Float32Array>;
  /** |x − reconstruction| before masking and filtering `[D, H, W]`. */
  residual: VolumeArray<Float32Array>;
  /** Volume score: mean map inside the brain mask (whole volume without a mask) (`utils_eval` volume score). */
  score: number;
  /** Slice scores: mean map inside each slice's brain mask (0 without brain). */
  sliceScores: Float32Array;
  /** Reconstruction per level t (only with `returnIntermediates`). */
  levels?: Map<number, VolumeArray<Float32Array>>;
}

interface HostVolume {
  data: Float32Array;
  d: number;
  h: number;
  w: number;
}

/** Reads a volume input into a float32 `[D, H, W]` host array (tensors asynchronously). */
export async function toHostVolume(argument: string, v: VolumeInput): Promise<HostVolume> {
  let shape: readonly number[];
  let data: Float32Array;
  if (v instanceof tf.Tensor) {
    shape = v.shape;
    data = Float32Array.from((await v.data()) as ArrayLike<number>);
  } else if (v && typeof v === 'object' && 'data' in v && 'shape' in v) {
    shape = v.shape;
    data = v.data instanceof Float32Array ? v.data : Float32Array.from(v.data);
  } else {
    throw new ArgumentError(argument, 'expected a tensor or { data, shape }');
  }
  const ok =
    (shape.length === 3 || (shape.length === 4 && shape[3] === 1)) && shape.every((s) => Number.isInteger(s) && s > 0);
  if (!ok) throw new ArgumentError(argument, `expected shape [D, H, W] or [D, H, W, 1], got [${shape.join(', ')}]`);
  const [d, h, w] = shape as [number, number, number];
  if (data.length !== d * h * w)
    throw new ArgumentError(argument, `has ${data.length} values, shape [${shape.join(', ')}] needs ${d * h * w}`);
  return { data, d, h, w };
}

/** pDDPM's `BoxSampler.sample_grid` at a multiple of the patch size: non-overlapping boxes [y0, x0, y1, x1], row-major. */
export function gridBoxes(height: number, width: number, patchSize: number): [number, number, number, number][] {
  if (height % patchSize !== 0 || width % patchSize !== 0)
    throw new ArgumentError(
      'patchSize',
      `the slice size ${height}×${width} must be a multiple of the patch size ${patchSize} (2×2 grid of 48 at 96²)`,
    );
  const boxes: [number, number, number, number][] = [];
  for (let y = 0; y < height; y += patchSize)
    for (let x = 0; x < width; x += patchSize) boxes.push([y, x, y + patchSize, x + patchSize]);
  return boxes;
}

/** A `[1, H, W, 1]` 0/1 mask of one box. */
function boxMask(h: number, w: number, [y0, x0, y1, x1]: readonly number[]): tf.Tensor4D {
  const m = new Float32Array(h * w);
  for (let y = y0!; y < y1!; y++) m.fill(1, y * w + x0!, y * w + x1!);
  return tf.tensor4d(m, [1, h, w, 1]);
}

function checkLevels(model: CDDPM, levels: readonly number[]): void {
  const T = model.config.scheduler.numTrainTimesteps;
  if (!Array.isArray(levels) || levels.length === 0)
    throw new ArgumentError('options.levels', 'expected a non-empty array');
  for (const t of levels)
    if (!Number.isInteger(t) || t < 1 || t > T)
      throw new ArgumentError('options.levels', `levels are integers in [1, ${T}] (used at index t − 1), got ${t}`);
}

/**
 * Reconstruction of one chunk of slices `[n,H,W,1]` in [0,1] at level t with the volume's shared
 * noise map `[1,H,W,1]`: (x̂₀ + 1)/2, with pDDPM's box-wise noising and pasting when `boxes` is given.
 */
export function reconstructAtLevel(
  model: CDDPM,
  x01: tf.Tensor4D,
  condition: tf.Tensor2D | null,
  noiseMap: tf.Tensor4D,
  t: number,
  boxes: readonly (readonly number[])[] | null,
): tf.Tensor4D {
  return tf.tidy(() => {
    const n = x01.shape[0];
    const x0n = tf.sub(tf.mul(x01, 2), 1) as tf.Tensor4D; // normalize_to_neg_one_to_one
    const noise = tf.tile(noiseMap, [n, 1, 1, 1]);
    const xt = model.scheduler.addNoise(x0n, noise, t - 1) as tf.Tensor4D; // q_sample at index t − 1
    const unnormalize = (y: tf.Tensor) => tf.div(tf.add(y, 1), 2) as tf.Tensor4D; // unnormalize_to_zero_to_one
    if (!boxes) return unnormalize(model.predictX0(xt, t - 1, condition));
    // DDPM_2D_patched.test_step: for every grid box, p_losses noises only the box (clean context
    // elsewhere); the box of the prediction is pasted into reco_patched.
    const [, h, w] = x01.shape;
    let reco = tf.zerosLike(x01) as tf.Tensor4D;
    for (const box of boxes) {
      const m = boxMask(h, w, box);
      const input = tf.add(tf.mul(m, xt), tf.mul(tf.sub(1, m), x0n)) as tf.Tensor4D;
      const out = unnormalize(model.predictX0(input, t - 1, condition));
      reco = tf.add(tf.mul(m, out), tf.mul(tf.sub(1, m), reco)) as tf.Tensor4D;
    }
    return reco;
  });
}

function resolvePostprocess(p: DetectOptions['postprocess']): PostprocessOptions | null {
  if (p === false) return null;
  if (p === undefined || p === true) return {};
  return p;
}

function meanInMask(map: Float32Array, mask: Uint8Array | null, start: number, end: number): number {
  let s = 0;
  let c = 0;
  for (let i = start; i < end; i++) {
    if (mask && mask[i] === 0) continue;
    s += map[i]!;
    c++;
  }
  return c === 0 ? 0 : s / c;
}

/**
 * cDDPM detection on one volume of axial slices (`[D,H,W,1]` / `[D,H,W]`, intensities in [0, 1]):
 * noise-ensemble reconstruction, residual, post-processing and scores. The slices of a volume are
 * one batch (processed in chunks of `chunkSize`), sharing one noise map per level. Works for the
 * DDPM and pDDPM baselines too (the model's variant decides the condition and the patches); see
 * {@link detectDDPM} / {@link detectPatched} for the baselines' defaults.
 */
export async function detectConditioned(
  model: CDDPM,
  volume: VolumeInput,
  options: DetectOptions = {},
): Promise<DetectResult> {
  const known = ['brainMask', 'levels', 'rng', 'noise', 'chunkSize', 'postprocess', 'returnIntermediates', 'onChunk'];
  for (const k of Object.keys(options))
    if (!known.includes(k))
      throw new ArgumentError(`options.${k}`, `unknown option (expected one of ${known.join(', ')})`);
  const x = await toHostVolume('volume', volume);
  const { d, h, w } = x;
  const mask = options.brainMask === undefined ? null : await toHostVolume('options.brainMask', options.brainMask);
  if (mask && (mask.d !== d || mask.h !== h || mask.w !== w))
    throw new ArgumentError(
      'options.brainMask',
      `shape [${mask.d}, ${mask.h}, ${mask.w}] differs from the volume's [${d}, ${h}, ${w}]`,
    );
  const levels = options.levels ?? model.testLevels;
  checkLevels(model, levels);
  const chunkSize = options.chunkSize ?? 16;
  if (!Number.isInteger(chunkSize) || chunkSize < 1)
    throw new ArgumentError('options.chunkSize', `must be a positive integer, got ${chunkSize}`);
  const post = resolvePostprocess(options.postprocess);
  const rng = options.rng instanceof SeededRNG ? options.rng : new SeededRNG(options.rng ?? 0);
  const noiseFn = options.noise ?? simplexVolumeNoise;
  const boxes = model.config.patchSize === null ? null : gridBoxes(h, w, model.config.patchSize);
  const keep = options.returnIntermediates === true;

  // gen_noise once per level, in level order, shared by all slices (and so by all chunks).
  const noiseMaps = levels.map((t) => noiseFn(h, w, rng, t));
  const slice = h * w;
  const reco = new Float32Array(d * slice);
  const perLevel = keep ? levels.map(() => new Float32Array(d * slice)) : [];
  try {
    for (const m of noiseMaps) {
      if (m.rank !== 4 || m.shape[0] !== 1 || m.shape[1] !== h || m.shape[2] !== w || m.shape[3] !== 1)
        throw new ArgumentError('options.noise', `must return a [1, ${h}, ${w}, 1] map, got [${m.shape.join(', ')}]`);
    }
    for (let start = 0; start < d; start += chunkSize) {
      const n = Math.min(chunkSize, d - start);
      const x01 = tf.tensor4d(x.data.subarray(start * slice, (start + n) * slice), [n, h, w, 1]);
      const cond = model.condition(x01);
      let sum = tf.zerosLike(x01) as tf.Tensor4D; // reco_ensemble = torch.zeros_like(input)
      try {
        for (let l = 0; l < levels.length; l++) {
          const r = reconstructAtLevel(model, x01, cond, noiseMaps[l]!, levels[l]!, boxes);
          if (keep) perLevel[l]!.set((await r.data()) as Float32Array, start * slice);
          const next = tf.add(sum, r) as tf.Tensor4D; // reco_ensemble += reco
          tf.dispose([sum, r]);
          sum = next;
        }
        const mean = tf.div(sum, levels.length); // reco_ensemble / len(timesteps)
        reco.set((await mean.data()) as Float32Array, start * slice);
        mean.dispose();
      } finally {
        tf.dispose([x01, sum]);
        cond?.dispose();
      }
      options.onChunk?.({ done: start + n, total: d });
      await new Promise((res) => setTimeout(res, 0)); // keep browsers responsive
    }
  } finally {
    tf.dispose(noiseMaps);
  }

  // diff = |x − reco| in float32 (`_test_step` L27-28).
  const residual = new Float32Array(d * slice);
  for (let i = 0; i < residual.length; i++) residual[i] = Math.abs(Math.fround(x.data[i]! - reco[i]!));
  const shape = [d, h, w] as const;
  let map: Float32Array;
  const maskBin = mask ? Uint8Array.from(mask.data, (v) => (v > 0 ? 1 : 0)) : null;
  if (!post) {
    map = residual;
  } else if (maskBin) {
    const out = behrendtPostprocess(
      { data: x.data, shape },
      { data: reco, shape },
      { data: maskBin, shape },
      {
        sliceAxis: 0,
        erosionIterations: post.erosionIterations ?? Math.floor(w / 25),
        medianSize: post.medianSize ?? 5,
      },
    );
    map = Float32Array.from(out.data); // values are float32 residuals (median and masking commute with rounding)
  } else {
    const size = post.medianSize ?? 5;
    const res: NdArray<Float32Array> = { data: residual, shape };
    map = size > 0 ? Float32Array.from(medianFilter(res, { size }).data) : Float32Array.from(residual);
  }
  const sliceScores = new Float32Array(d);
  for (let s = 0; s < d; s++) sliceScores[s] = meanInMask(map, maskBin, s * slice, (s + 1) * slice);
  const result: DetectResult = {
    anomalyMap: { data: map, shape },
    reconstruction: { data: reco, shape },
    residual: { data: residual, shape },
    score: meanInMask(map, maskBin, 0, map.length),
    sliceScores,
  };
  if (keep) result.levels = new Map(levels.map((t, l) => [t, { data: perLevel[l]!, shape }]));
  return result;
}

/** Plain DDPM baseline (`DDPM.yaml`): a single level t = 500 (index 499) unless `levels` says otherwise. */
export async function detectDDPM(
  model: CDDPM,
  volume: VolumeInput,
  options: DetectOptions = {},
): Promise<DetectResult> {
  if (model.variant !== 'DDPM') throw new ArgumentError('model', `expected a DDPM variant model, got ${model.variant}`);
  return detectConditioned(model, volume, options);
}

/** pDDPM baseline (`DDPM_patched.yaml`): the grid boxes noised one at a time at t = 500, pasted back. */
export async function detectPatched(
  model: CDDPM,
  volume: VolumeInput,
  options: DetectOptions = {},
): Promise<DetectResult> {
  if (model.variant !== 'pDDPM')
    throw new ArgumentError('model', `expected a pDDPM variant model, got ${model.variant}`);
  return detectConditioned(model, volume, options);
}
