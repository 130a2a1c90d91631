/**
 * THOR — implicit guidance via temporal anomaly maps (Bercea et al., "Diffusion Models with
 * Implicit Guidance for Medical Anomaly Detection", MICCAI 2024).
 *
 * Port of the published algorithm: `model_zoo/ddpm.py` of ci-ber/THOR_DDPM at commit 19a7c2a
 * (`sample_from_image_interpol`, `get_anomaly_mask`, `get_region_anomaly_mask`,
 * `get_thor_anomaly`); see `shared/specs/thor.md` §1. Summary of one call:
 *
 *   ε0 ~ noise;  z = √ᾱ_T0·x + √(1−ᾱ_T0)·ε0                       (§1.2, T0 = 350 | 250)
 *   for t = T0 … 0:                                                  (§1.3, full ancestral chain)
 *     ε̂ = UNet(z, t);  (z, x̂0) = DDPM.step(ε̂, t, z, fresh noise)
 *     if t ∈ maps:  A_t = normmax(clip01(blur_σ2(P(x̂0, x))) ⊙ |x̂0 − x|)              (§1.4)
 *                   R_t = clip((dilate13(close13(A_t)) + A_t)/2, 0, 1)                  (§1.5)
 *     if t ∈ harm:  z = √ᾱ_t·clamp(R_t·x̂0 + (1−R_t)·x) + √(1−ᾱ_t)·ε0                   (§1.6)
 *   anomalyMap = clip(hmean_t(A_t), 0, 0.999);  score = mean(anomalyMap)              (§1.7)
 *
 * Deliberate choices (documented in the README): the temporal map is normalised per image (HEAD's
 * PR #8; identical to the paper-era code at batch size 1, and independent of batching); the
 * Gaussian blur is per image (upstream blurs across the batch); in the [−1, 1] convention the blend
 * is clamped to [−1, 1] (HEAD clamps to [0, 1], a bug — thor.md §1.9).
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  ArgumentError,
  SeededRNG,
  assertRank,
  simplexNoise3DBatch,
  gaussianBlur2d,
  greyClosing2d,
  greyDilation2d,
} from '@adx/diffusion-core';
import { planChain } from './chain.js';
import { ConstantDistance, SsimDistance, type PerceptualDistance } from './perceptual.js';

/** The network THOR needs: ε-prediction on NHWC images at a scalar timestep. */
export interface ThorDenoiser {
  apply(x: tf.Tensor4D, timesteps: number | number[] | tf.Tensor1D): tf.Tensor4D;
}

/** The scheduler THOR needs (ADX `DDPMScheduler` configured like THOR's `net_utils/scheduler.py`). */
export interface ThorScheduler {
  addNoise(original: tf.Tensor, noise: tf.Tensor, timesteps: number | number[]): tf.Tensor;
  step(
    modelOutput: tf.Tensor,
    timestep: number,
    sample: tf.Tensor,
    options?: { noise?: tf.Tensor },
  ): { prevSample: tf.Tensor; predOriginalSample: tf.Tensor };
}

/**
 * Produces a noise tensor of `shape` from the RNG for diffusion level `t` (ε0 at tStart, then the
 * fresh z of each ancestral step).
 */
export type NoiseFn = (shape: [number, number, number, number], rng: SeededRNG, t: number) => tf.Tensor4D;

/** Standard normal noise (THOR's default, `torch.randn`). */
export const gaussianNoiseFn: NoiseFn = (shape, rng) => rng.randn(shape) as tf.Tensor4D;

/**
 * THOR's simplex option (`net_utils/simplex_noise.py`, thor.md §3.3): AnoDDPM 3D OpenSimplex at
 * the slice T = t/frequency, 6 octaves, persistence 0.8, frequency 64, a fresh seed per call, one
 * field shared by the batch, not normalised.
 */
export const simplexNoiseFn: NoiseFn = (shape, rng, t) => simplexNoise3DBatch(shape, t, rng);

export interface ThorOptions {
  /** Diffusion scheduler (default `DDPMScheduler.fromPreset('thor')`: float32 linear table, x̂0 clip, fixed-small). */
  scheduler?: ThorScheduler;
  /** Noising level t_start (default 350 for Gaussian, 250 for simplex). */
  tStart?: number;
  /** Harmonisation (blend + re-noise) steps (default: those of [300, 150, 50] ≤ tStart; simplex [200, 150, 100, 50]). */
  harmonizationSteps?: readonly number[];
  /** Steps at which temporal maps are taken (default: multiples of 50 ≤ tStart, incl. 0, plus harmonisation steps). */
  mapSteps?: readonly number[];
  /** Noise for ε0 and every ancestral step: `'gaussian'` (default), `'simplex'` or a function. Called once per use, so simplex gets a fresh seed each time. */
  noise?: 'gaussian' | 'simplex' | NoiseFn;
  /** Randomness source (or a seed); default seed 0. */
  rng?: SeededRNG | number;
  /**
   * Intensity convention of the model: `zeroOne` (paper-era default: images in [0,1] go straight into
   * noising) or `minusOneOne` (images mapped to 2x − 1; maps computed on [0,1] as HEAD does).
   */
  intensityRange?: 'zeroOne' | 'minusOneOne';
  /** Perceptual term P of A_t: a distance (e.g. `LpipsSqueeze` with imported weights), `'ssim'` or `'none'`. Default `'ssim'`. */
  perceptual?: PerceptualDistance | 'ssim' | 'none';
  /** Gaussian σ for blurring P (default 2, reflect, truncate 4). */
  blurSigma?: number;
  /** Structuring size of the region mask's grey closing and dilation (default 13). */
  regionKernelSize?: number;
  /**
   * Beyond the paper: visit only every `stride`-th timestep (a respaced ancestral DDPM chain,
   * guided-diffusion `space_timesteps("ddimN")`), with the map and harmonisation steps mapped to
   * the nearest visited timestep. Default 1 (the full chain, as published). Needs a
   * `DDPMScheduler` (its config is reused with `timestepRespacing`).
   */
  stride?: number;
  /** Keep A_t, R_t, blends and x̂0 per step in the result (default false). */
  returnIntermediates?: boolean;
  /** Called after every denoising step (for progress bars). */
  onStep?: (info: { t: number; index: number; total: number }) => void;
}

export interface ThorIntermediates {
  /** A_t per map step t (`[N,H,W,1]`, in [0,1]). */
  anomalyMaps: Map<number, tf.Tensor4D>;
  /** R_t per map step t. */
  regionMasks: Map<number, tf.Tensor4D>;
  /** Clamped blend x̃0 per harmonisation step t (model convention). */
  blends: Map<number, tf.Tensor4D>;
  /** x̂0 per map step t (model convention, clipped to [−1, 1] by the scheduler). */
  predOriginal: Map<number, tf.Tensor4D>;
}

export interface ThorResult {
  /** Final map, pixel-wise harmonic mean of the A_t clipped to [0, 0.999]: `[N,H,W,1]`. */
  anomalyMap: tf.Tensor4D;
  /** Image-level scores (mean of each image's map). */
  score: Float32Array;
  /** The final x̂0 in [0, 1] (pseudo-healthy reconstruction): `[N,H,W,C]`. */
  reconstruction: tf.Tensor4D;
  intermediates?: ThorIntermediates;
}

/** Default map steps: every multiple of 50 from tStart down to 0 (thor.md §1.1). */
export function defaultMapSteps(tStart: number): number[] {
  const out: number[] = [];
  for (let t = tStart - (tStart % 50); t >= 0; t -= 50) out.push(t);
  return out;
}

/**
 * Temporal anomaly map A_t (thor.md §1.4), images in [0, 1]:
 * `normmax(clip01(blur_σ(P(x̂0, x))) ⊙ |x̂0 − x|)` with the max taken per image.
 * For multi-channel inputs the residual is averaged over channels.
 */
export function temporalAnomalyMap(
  predOriginal01: tf.Tensor4D,
  input01: tf.Tensor4D,
  perceptual: PerceptualDistance,
  blurSigma = 2,
): tf.Tensor4D {
  return tf.tidy(() => {
    const residual = tf.mean(tf.abs(tf.sub(predOriginal01, input01)), 3, true);
    const p = tf.clipByValue(gaussianBlur2d(perceptual.distanceMap(predOriginal01, input01), blurSigma), 0, 1);
    const a = tf.mul(p, residual);
    const max = tf.max(a, [1, 2, 3], true);
    return tf.clipByValue(tf.div(a, tf.add(max, 1e-8)), 0, 1) as tf.Tensor4D;
  });
}

/** Region mask R_t = clip((dilate_k(close_k(A_t)) + A_t)/2, 0, 1) (thor.md §1.5). */
export function regionMask(anomalyMap: tf.Tensor4D, kernelSize = 13): tf.Tensor4D {
  return tf.tidy(
    () =>
      tf.clipByValue(
        tf.div(tf.add(greyDilation2d(greyClosing2d(anomalyMap, kernelSize), kernelSize), anomalyMap), 2),
        0,
        1,
      ) as tf.Tensor4D,
  );
}

/**
 * Pixel-wise harmonic mean of the temporal maps, `K / Σ_t 1/A_t`, and 0 where any A_t is 0
 * (thor.md §1.7: `scipy.stats.hmean` over the stacked maps). Accumulated map by map with rank-4
 * ops only: the webgpu backend has no rank-5 `Select` nor a bool rank-5 `Transpose`, which a
 * stack-then-reduce version (diffusion-core's `harmonicMean`) needs.
 */
export function harmonicMeanOfMaps(maps: readonly tf.Tensor4D[]): tf.Tensor4D {
  if (maps.length === 0) throw new ArgumentError('maps', 'needs at least one map');
  return tf.tidy(() => {
    let sumReciprocal: tf.Tensor = tf.zerosLike(maps[0]!);
    let allPositive: tf.Tensor = tf.onesLike(maps[0]!);
    for (const a of maps) {
      const positive = tf.greater(a, 0);
      sumReciprocal = tf.add(sumReciprocal, tf.reciprocal(tf.where(positive, a, tf.onesLike(a))));
      allPositive = tf.mul(allPositive, tf.cast(positive, 'float32'));
    }
    return tf.mul(tf.div(maps.length, sumReciprocal), allPositive) as tf.Tensor4D;
  });
}

function resolvePerceptual(p: ThorOptions['perceptual']): PerceptualDistance {
  if (p === undefined || p === 'ssim') return new SsimDistance();
  if (p === 'none') return new ConstantDistance();
  return p;
}

/**
 * Runs THOR on a batch of images `[N,H,W,C]` with intensities in [0, 1]. Returns the anomaly map,
 * per-image scores and the pseudo-healthy reconstruction. Caller owns the returned tensors.
 */
export async function thor(model: ThorDenoiser, image: tf.Tensor4D, options: ThorOptions = {}): Promise<ThorResult> {
  assertRank('image', image.shape, 4);
  const simplex = options.noise === 'simplex';
  const noise: NoiseFn =
    options.noise === undefined || options.noise === 'gaussian'
      ? gaussianNoiseFn
      : options.noise === 'simplex'
        ? simplexNoiseFn
        : options.noise;
  const {
    stride = 1,
    tStart = simplex ? 250 : 350,
    intensityRange = 'zeroOne',
    blurSigma = 2,
    regionKernelSize = 13,
    returnIntermediates = false,
    onStep,
  } = options;
  if (!Number.isInteger(tStart) || tStart < 0)
    throw new ArgumentError('options.tStart', `must be a non-negative integer, got ${tStart}`);
  // Paper defaults are filtered to the chain; explicitly given steps must lie on it.
  const harmonizationSteps =
    options.harmonizationSteps ?? (simplex ? [200, 150, 100, 50] : [300, 150, 50]).filter((t) => t <= tStart);
  for (const t of harmonizationSteps) {
    if (!Number.isInteger(t) || t < 0 || t > tStart) {
      throw new ArgumentError('options.harmonizationSteps', `step ${t} is outside [0, tStart=${tStart}]`);
    }
  }
  const mapSteps = new Set([...(options.mapSteps ?? defaultMapSteps(tStart)), ...harmonizationSteps]);
  for (const t of mapSteps) {
    if (!Number.isInteger(t) || t < 0 || t > tStart)
      throw new ArgumentError('options.mapSteps', `step ${t} is outside [0, tStart=${tStart}]`);
  }
  if (!Number.isInteger(stride) || stride < 1)
    throw new ArgumentError('options.stride', `must be a positive integer, got ${stride}`);
  const { scheduler, chain } = planChain(options.scheduler, tStart, stride);
  // Map/harmonisation steps onto the visited timesteps (identity for stride 1).
  const nearest = (t: number) => chain.reduce((best, c) => (Math.abs(c.t - t) < Math.abs(best.t - t) ? c : best)).t;
  const harm = new Set(harmonizationSteps.map(nearest));
  for (const t of harm) mapSteps.add(t);
  const mapAt = new Set([...mapSteps].map(nearest));
  const rng = options.rng instanceof SeededRNG ? options.rng : new SeededRNG(options.rng ?? 0);
  const perceptual = resolvePerceptual(options.perceptual);
  const [n, h, w, c] = image.shape;
  const shape: [number, number, number, number] = [n, h, w, c];

  // Model-space conversions for the two intensity conventions (thor.md §1.9).
  const toModel = (x01: tf.Tensor) => (intensityRange === 'zeroOne' ? x01.clone() : tf.sub(tf.mul(x01, 2), 1));
  const to01ForMaps = (xm: tf.Tensor) =>
    intensityRange === 'zeroOne' ? xm.clone() : tf.clipByValue(tf.div(tf.add(xm, 1), 2), 0, 1);
  const [lo, hi] = intensityRange === 'zeroOne' ? [0, 1] : [-1, 1];

  const x01 = image;
  const xModel = tf.tidy(() => toModel(x01)) as tf.Tensor4D;
  const first = chain[0]!;
  const eps0 = noise(shape, rng, first.t); // kept for every re-noising (§1.2)
  let z = tf.tidy(() => scheduler.addNoise(xModel, eps0, first.index)) as tf.Tensor4D;
  let x0hat: tf.Tensor4D | null = null;

  const maps: tf.Tensor4D[] = [];
  const inter: ThorIntermediates = {
    anomalyMaps: new Map(),
    regionMasks: new Map(),
    blends: new Map(),
    predOriginal: new Map(),
  };

  try {
    for (const [index, { index: k, t }] of chain.entries()) {
      // k indexes the (possibly respaced) schedule; t is the training timestep the network sees.
      const stepNoise = t > 0 ? noise(shape, rng, t) : null;
      const { prevSample, predOriginalSample } = tf.tidy(() => {
        const eps = model.apply(z, [t]);
        const out = scheduler.step(eps, k, z, stepNoise ? { noise: stepNoise } : {});
        return { prevSample: out.prevSample as tf.Tensor4D, predOriginalSample: out.predOriginalSample as tf.Tensor4D };
      });
      stepNoise?.dispose();
      z.dispose();
      z = prevSample;
      x0hat?.dispose();
      x0hat = predOriginalSample;

      if (mapAt.has(t)) {
        const a = tf.tidy(() =>
          temporalAnomalyMap(to01ForMaps(predOriginalSample) as tf.Tensor4D, x01, perceptual, blurSigma),
        );
        maps.push(a);
        const r = harm.has(t) || returnIntermediates ? regionMask(a, regionKernelSize) : null;
        if (harm.has(t)) {
          // Implicit guidance (§1.6): keep x̂0 where R ≈ 1, the input elsewhere; re-noise with ε0 to level t.
          const blend = tf.tidy(
            () =>
              tf.clipByValue(
                tf.add(tf.mul(r!, predOriginalSample), tf.mul(tf.sub(1, r!), xModel)),
                lo,
                hi,
              ) as tf.Tensor4D,
          );
          const renoised = tf.tidy(() => scheduler.addNoise(blend, eps0, k)) as tf.Tensor4D;
          z.dispose();
          z = renoised;
          if (returnIntermediates) inter.blends.set(t, blend);
          else blend.dispose();
        }
        if (returnIntermediates) {
          inter.anomalyMaps.set(t, a.clone());
          inter.regionMasks.set(t, r!);
          inter.predOriginal.set(t, predOriginalSample.clone());
        } else {
          r?.dispose();
        }
      }
      onStep?.({ t, index, total: chain.length });
      // Yield to the event loop now and then so browsers stay responsive.
      if (index % 25 === 24) await new Promise((res) => setTimeout(res, 0));
    }

    const anomalyMap = tf.tidy(() => tf.clipByValue(harmonicMeanOfMaps(maps), 0, 0.999)) as tf.Tensor4D;
    const scoreT = tf.mean(anomalyMap, [1, 2, 3]);
    const score = Float32Array.from(await scoreT.data());
    scoreT.dispose();
    const reconstruction = tf.tidy(() => to01ForMaps(tf.clipByValue(x0hat!, lo, hi))) as tf.Tensor4D;
    return { anomalyMap, score, reconstruction, ...(returnIntermediates ? { intermediates: inter } : {}) };
  } finally {
    tf.dispose([xModel, eps0, z, ...maps]);
    x0hat?.dispose();
  }
}

/** Frees all tensors held by THOR intermediates. */
export function disposeIntermediates(inter: ThorIntermediates | undefined): void {
  if (!inter) return;
  for (const m of [inter.anomalyMaps, inter.regionMasks, inter.blends, inter.predOriginal]) {
    for (const t of m.values()) t.dispose();
    m.clear();
  }
}
