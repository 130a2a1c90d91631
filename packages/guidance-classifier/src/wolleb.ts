/**
 * Classifier-guided DDIM anomaly detection (Wolleb et al., "Diffusion Models for Medical Anomaly
 * Detection", MICCAI 2022, arXiv 2203.04306).
 *
 * Port of `scripts/classifier_sample_known.py` (`cond_fn`, `model_fn`) and the fork's
 * `guided_diffusion/gaussian_diffusion.py` (`ddim_sample_loop_known`, `ddim_reverse_sample`,
 * `ddim_sample`, `condition_score2`, `p_sample_loop_known`, `condition_mean`) of
 * JuliaWolleb/diffusion-anomaly @ 509643c; see `shared/specs/classifier-guidance.md` §1.
 *
 * Clean algorithm (the paper's Algorithm 1; indices are levels of the active, possibly respaced
 * schedule, the image x sits at level 0):
 *
 *   for t = 0 … L−1:  x_{t+1} = √ᾱ_{t+1}·x̂₀(x_t, t) + √(1−ᾱ_{t+1})·ε̂(x_t, t)        (DDIM Eq. 12 reversed, η = 0)
 *   for t = L … 1:    g = ∇ₓ log p_φ(healthy | x_t, t)                                 (autograd through C only)
 *                     ε̂' = ε̂(x_t, t) − s·√(1−ᾱ_t)·g                                   (condition_score2)
 *                     x̂₀' = √(1/ᾱ_t)·x_t − √(1/ᾱ_t − 1)·ε̂'                           (not re-clipped)
 *                     x_{t−1} = √ᾱ_{t−1}·x̂₀' + √(1−ᾱ_{t−1})·ε̂'
 *   anomalyMap = Σ_c |x − x_0|;   score = mean(anomalyMap)
 *
 * x̂₀ is clipped to [−1, 1] and ε̂ re-derived from the clipped x̂₀ in both directions (§1.3); the
 * UNet is conditioned on y = healthy in both loops.
 *
 * `officialIndexing: true` reproduces the official loop bit for bit (§1.6): a q_sample pre-noise at
 * t = 0 (std √(1−ᾱ₀) = 0.01), encoding at k = 1 … L−1 (off by one), decoding at t = L−2 … 0 (off
 * by two, ending at ᾱ_prev[0] = 1), and the classifier receiving the *respaced* index because
 * `condition_score2` is not wrapped by `SpacedDiffusion` (§1.1).
 *
 * `sampler: 'ddpm'` is the README's "DDPM" baseline (§1.7): q_sample to level L−1 (officially the
 * hard-coded t = 499), then ancestral sampling with the classifier shifting the mean,
 * μ' = μ + Σ·s·g (`condition_mean`), plus √Σ·z except at t = 0.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  ArgumentError,
  DDIMScheduler,
  DDPMScheduler,
  SeededRNG,
  assertRank,
  registerTrainingGradients,
  type RespacingSpec,
} from '@adx/diffusion-core';

/** The class-conditional diffusion UNet (guided-diffusion `UNetModel`): ε (+ learned-range v) on NHWC images. */
export interface GuidedDenoiser {
  /** Input channels, checked against the image when present. */
  readonly inChannels?: number;
  apply(x: tf.Tensor4D, timesteps: number[], cond?: { classLabels?: number[] }): tf.Tensor4D;
}

/** The noisy classifier (guided-diffusion `EncoderUNetModel`): logits `[N, K]` of x_t at timestep t. */
export interface NoisyClassifier {
  readonly inChannels?: number;
  apply(x: tf.Tensor4D, timesteps: number[]): tf.Tensor2D;
}

export type AnomalyMapMode = 'channelSum' | 'minmax';

export interface ClassifierGuidanceOptions {
  /** L: encoding / decoding steps, counted on the active (respaced) schedule (default 500). */
  noiseLevel?: number;
  /** s: classifier scale (default 100, the official command; small models need far less, see README). */
  classifierScale?: number;
  /**
   * guided-diffusion respacing of the 1000-step linear schedule, e.g. `'ddim100'` so that L = 50
   * reaches the noise level of L = 500 with 10× fewer calls (default null: all 1000 steps).
   * Ignored when `scheduler` is given.
   */
  timestepRespacing?: RespacingSpec | null;
  /** A configured scheduler (its active schedule is used as is); default: guided-diffusion linear, x̂₀ clip to [−1, 1]. */
  scheduler?: DDIMScheduler | DDPMScheduler;
  /** `'ddim'` (default, the paper's method) or `'ddpm'` (the README baseline with mean shift). */
  sampler?: 'ddim' | 'ddpm';
  /** Reproduce the official loop's indexing quirks (default false: the clean Algorithm 1). */
  officialIndexing?: boolean;
  /** The pre-noise z of the official q_sample at t = 0 (`[N,H,W,C]`); default drawn from `rng`. Only with `officialIndexing`. */
  prenoise?: tf.Tensor4D;
  /** Class index of "healthy" (default 0, as everywhere in ADX; the official CheXpert loader inverts it). */
  healthyClass?: number;
  /** Label passed to the UNet as y (default `healthyClass`); null for an unconditional UNet. */
  modelClassLabel?: number | null;
  /**
   * Timesteps the classifier sees: `'original'` (training timesteps, what `SpacedDiffusion` would
   * pass) or `'respaced'` (the respaced index, the official DDIM path). Default: `'respaced'` with
   * `officialIndexing`, else `'original'`. The DDPM sampler's `condition_mean` is wrapped upstream,
   * so `'original'` is its only official behaviour.
   */
  classifierTimesteps?: 'original' | 'respaced';
  /** `'channelSum'` Σ_c |x − x̂| (BRATS, default) or `'minmax'` |minmax(x) − minmax(x̂)| per image (CheXpert). */
  anomalyMap?: AnomalyMapMode;
  /** Randomness (pre-noise, DDPM noise) or a seed; default seed 0. */
  rng?: SeededRNG | number;
  /** Keep the trajectories and the scaled gradients (default false). */
  returnIntermediates?: boolean;
  /** Called after every network step (for progress bars). */
  onStep?: (info: StepInfo) => void;
}

export interface StepInfo {
  phase: 'encode' | 'decode';
  /** Schedule index of the step. */
  t: number;
  /** Running step number over both phases (0-based). */
  index: number;
  /** Total number of steps of this call. */
  total: number;
}

export interface ClassifierGuidanceIntermediates {
  /** The input after the official q_sample pre-noise (official DDIM) or the q-sampled start (DDPM). */
  xNoisy?: tf.Tensor4D;
  /** x after each encoding step (DDIM only). */
  encodeTrajectory: tf.Tensor4D[];
  /** The fully encoded x_L (DDIM) / the start of sampling (DDPM). */
  xL: tf.Tensor4D;
  /** x after each decoding step. */
  decodeTrajectory: tf.Tensor4D[];
  /** s·∇ₓ log p(healthy | x_t, t) used at each decoding step (absent where s = 0). */
  scaledGradients: tf.Tensor4D[];
  /** Schedule indices of the encoding steps, the decoding steps, and the timesteps the networks saw. */
  encodeSteps: number[];
  decodeSteps: number[];
  unetTimesteps: number[];
  classifierTimesteps: number[];
}

export interface ClassifierGuidanceResult {
  /** Anomaly map `[N,H,W,1]`. */
  anomalyMap: tf.Tensor4D;
  /** The pseudo-healthy image x̂ (unclipped, as the official loop returns it): `[N,H,W,C]`. */
  healthy: tf.Tensor4D;
  /** Image-level score per image: the mean of its map (own addition; the official code has none). */
  score: Float32Array;
  intermediates?: ClassifierGuidanceIntermediates;
}

const OPTION_KEYS: readonly (keyof ClassifierGuidanceOptions)[] = [
  'noiseLevel',
  'classifierScale',
  'timestepRespacing',
  'scheduler',
  'sampler',
  'officialIndexing',
  'prenoise',
  'healthyClass',
  'modelClassLabel',
  'classifierTimesteps',
  'anomalyMap',
  'rng',
  'returnIntermediates',
  'onStep',
];

/**
 * g = ∇ₓ Σ_b log softmax(C(x, t))[b, target] — the official `cond_fn` (autograd through the
 * classifier only). `timesteps` is one value or one per image. Tested on cpu and wasm (webgpu
 * untested); registers ADX's gradient functions if tfjs' are absent. Caller disposes the result.
 */
export function classifierLogProbGradient(
  classifier: NoisyClassifier,
  x: tf.Tensor4D,
  timesteps: number[],
  targetClass: number,
): tf.Tensor4D {
  assertRank('x', x.shape, 4);
  if (!Number.isInteger(targetClass) || targetClass < 0) {
    throw new ArgumentError('targetClass', `expected a non-negative integer, got ${targetClass}`);
  }
  registerTrainingGradients();
  return tf.grad((xx: tf.Tensor) => {
    const logits = classifier.apply(xx as tf.Tensor4D, timesteps);
    if (targetClass >= logits.shape[1]) {
      throw new ArgumentError('targetClass', `the classifier has ${logits.shape[1]} classes, got ${targetClass}`);
    }
    // log_softmax = logits − logsumexp(logits) (F.log_softmax), selected at y and summed over the batch.
    const logp = tf.sub(logits, tf.logSumExp(logits, 1, true));
    return tf.sum(tf.slice(logp, [0, targetClass], [-1, 1]));
  })(x) as tf.Tensor4D;
}

/**
 * Image-level classifier score 1 − p(healthy | x, t) per image (default t = 0, the least noisy
 * level; own addition, spec §1.8 / evaluation.md §5).
 */
export async function classifierDiseaseScore(
  classifier: NoisyClassifier,
  image: tf.Tensor4D,
  options: { healthyClass?: number; timestep?: number } = {},
): Promise<Float32Array> {
  assertRank('image', image.shape, 4);
  const healthyClass = options.healthyClass ?? 0;
  const t = options.timestep ?? 0;
  const p = tf.tidy(() => {
    const logits = classifier.apply(image, [t]);
    if (!Number.isInteger(healthyClass) || healthyClass < 0 || healthyClass >= logits.shape[1]) {
      throw new ArgumentError(
        'options.healthyClass',
        `expected an integer in [0, ${logits.shape[1]}), got ${healthyClass}`,
      );
    }
    return tf.sub(1, tf.reshape(tf.slice(tf.softmax(logits), [0, healthyClass], [-1, 1]), [-1]));
  });
  try {
    return Float32Array.from(await p.data());
  } finally {
    p.dispose();
  }
}

/**
 * The anomaly map of the sampling script (§1.8): `'channelSum'` Σ_c |x_c − x̂_c| (BRATS, L163) or
 * `'minmax'` Σ_c |minmax(x) − minmax(x̂)| with the min-max per image (CheXpert, L168-170;
 * a constant image normalises to 0). Returns `[N,H,W,1]`.
 */
export function anomalyMapFrom(
  image: tf.Tensor4D,
  healthy: tf.Tensor4D,
  mode: AnomalyMapMode = 'channelSum',
): tf.Tensor4D {
  assertRank('image', image.shape, 4);
  if (image.shape.some((d, i) => d !== healthy.shape[i])) {
    throw new ArgumentError('healthy', `expected shape [${image.shape.join(', ')}], got [${healthy.shape.join(', ')}]`);
  }
  if (mode !== 'channelSum' && mode !== 'minmax') {
    throw new ArgumentError('mode', `expected 'channelSum' or 'minmax', got ${String(mode)}`);
  }
  return tf.tidy(() => {
    if (mode === 'channelSum') return tf.sum(tf.abs(tf.sub(image, healthy)), 3, true) as tf.Tensor4D;
    // `visualize`: (img − img.min()) / (img.max() − img.min()) per image.
    const minmax = (v: tf.Tensor4D) => {
      const lo = tf.min(v, [1, 2, 3], true);
      const range = tf.sub(tf.max(v, [1, 2, 3], true), lo);
      const safe = tf.where(tf.greater(range, 0), range, tf.onesLike(range));
      return tf.mul(tf.div(tf.sub(v, lo), safe), tf.cast(tf.greater(range, 0), 'float32'));
    };
    return tf.sum(tf.abs(tf.sub(minmax(image), minmax(healthy))), 3, true) as tf.Tensor4D;
  });
}

function checkInteger(name: string, v: number, min: number, max = Infinity): void {
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new ArgumentError(name, `expected an integer in [${min}, ${max}], got ${v}`);
  }
}

/**
 * Runs classifier-guided DDIM (or DDPM) anomaly detection on a batch `[N,H,W,C]` of images in
 * [0, 1] (any C: 4 BRATS modalities or 1 channel). The caller owns the returned tensors (see
 * {@link disposeIntermediates}). All images of the batch share the timesteps.
 */
export async function detectWithClassifierGuidance(
  model: GuidedDenoiser,
  classifier: NoisyClassifier,
  image: tf.Tensor4D,
  options: ClassifierGuidanceOptions = {},
): Promise<ClassifierGuidanceResult> {
  if (options === null || typeof options !== 'object') throw new ArgumentError('options', 'expected an object');
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.includes(key as keyof ClassifierGuidanceOptions)) {
      throw new ArgumentError(`options.${key}`, `unknown option (allowed: ${OPTION_KEYS.join(', ')})`);
    }
  }
  if (!(image instanceof tf.Tensor)) throw new ArgumentError('image', 'expected a tf.Tensor4D');
  assertRank('image', image.shape, 4);
  const [n, , , c] = image.shape;
  if (n < 1) throw new ArgumentError('image', 'the batch is empty');
  for (const [name, net] of [
    ['model', model],
    ['classifier', classifier],
  ] as const) {
    if (net === null || typeof net !== 'object' || typeof net.apply !== 'function') {
      throw new ArgumentError(name, 'expected a network with an apply(x, timesteps) method');
    }
    if (net.inChannels !== undefined && net.inChannels !== c) {
      throw new ArgumentError(
        'image',
        `${name} expects ${net.inChannels} channels (NHWC), got shape [${image.shape.join(', ')}]`,
      );
    }
  }
  if (image.dtype !== 'float32') throw new ArgumentError('image', `expected float32, got ${image.dtype}`);

  const sampler = options.sampler ?? 'ddim';
  if (sampler !== 'ddim' && sampler !== 'ddpm') {
    throw new ArgumentError('options.sampler', `expected 'ddim' or 'ddpm', got ${String(sampler)}`);
  }
  const official = options.officialIndexing ?? false;
  const noiseLevel = options.noiseLevel ?? 500;
  const scale = options.classifierScale ?? 100;
  if (typeof scale !== 'number' || !Number.isFinite(scale)) {
    throw new ArgumentError('options.classifierScale', `expected a finite number, got ${String(scale)}`);
  }
  const healthyClass = options.healthyClass ?? 0;
  checkInteger('options.healthyClass', healthyClass, 0);
  const modelLabel = options.modelClassLabel === undefined ? healthyClass : options.modelClassLabel;
  if (modelLabel !== null) checkInteger('options.modelClassLabel', modelLabel, 0);
  const mapMode = options.anomalyMap ?? 'channelSum';
  if (mapMode !== 'channelSum' && mapMode !== 'minmax') {
    throw new ArgumentError('options.anomalyMap', `expected 'channelSum' or 'minmax', got ${String(mapMode)}`);
  }
  const clsTimesteps = options.classifierTimesteps ?? (official && sampler === 'ddim' ? 'respaced' : 'original');
  if (clsTimesteps !== 'original' && clsTimesteps !== 'respaced') {
    throw new ArgumentError(
      'options.classifierTimesteps',
      `expected 'original' or 'respaced', got ${String(clsTimesteps)}`,
    );
  }
  if (options.prenoise !== undefined) {
    if (!official || sampler !== 'ddim') {
      throw new ArgumentError('options.prenoise', 'only the official DDIM loop (officialIndexing: true) pre-noises');
    }
    if (!(options.prenoise instanceof tf.Tensor) || options.prenoise.shape.some((d, i) => d !== image.shape[i])) {
      throw new ArgumentError('options.prenoise', `expected shape [${image.shape.join(', ')}]`);
    }
  }

  let scheduler: DDIMScheduler | DDPMScheduler;
  if (options.scheduler !== undefined) {
    const want = sampler === 'ddim' ? DDIMScheduler : DDPMScheduler;
    if (!(options.scheduler instanceof want)) {
      throw new ArgumentError('options.scheduler', `sampler '${sampler}' needs a ${want.name}`);
    }
    scheduler = options.scheduler;
  } else {
    const r = options.timestepRespacing ?? null;
    const respacing = Array.isArray(r) ? [...(r as readonly number[])] : (r as string | number | null);
    try {
      scheduler =
        sampler === 'ddim'
          ? new DDIMScheduler({ timestepRespacing: respacing })
          : DDPMScheduler.fromPreset('wolleb', { timestepRespacing: respacing });
    } catch (e) {
      throw new ArgumentError('options.timestepRespacing', (e as Error).message);
    }
  }
  const K = scheduler.numInferenceSteps;
  const map = scheduler.timestepMap;
  // Step plans (schedule indices).
  let encodeSteps: number[] = [];
  let decodeSteps: number[] = [];
  let ddpmStart = 0;
  if (sampler === 'ddim') {
    if (official) {
      // §1.6: encode k = 1 … L−1 (ᾱ_next[k] needs k ≤ K−1), decode t = L−2 … 0.
      checkInteger('options.noiseLevel', noiseLevel, 2, K);
      encodeSteps = Array.from({ length: noiseLevel - 1 }, (_, i) => i + 1);
      decodeSteps = Array.from({ length: noiseLevel - 1 }, (_, i) => noiseLevel - 2 - i);
    } else {
      // Algorithm 1: encode t = 0 … L−1 (to level L), decode t = L … 1 (back to level 0).
      checkInteger('options.noiseLevel', noiseLevel, 1, K - 1);
      encodeSteps = Array.from({ length: noiseLevel }, (_, i) => i);
      decodeSteps = Array.from({ length: noiseLevel }, (_, i) => noiseLevel - i);
    }
  } else {
    checkInteger('options.noiseLevel', noiseLevel, 1, K);
    // §1.7: q_sample at the hard-coded t = 499 officially, at level L−1 in the clean variant.
    ddpmStart = official ? 499 : noiseLevel - 1;
    if (ddpmStart >= K) {
      throw new ArgumentError(
        'options.officialIndexing',
        `the official DDPM start t = 499 needs ≥ 500 schedule steps, got ${K}`,
      );
    }
    decodeSteps = Array.from({ length: noiseLevel }, (_, i) => noiseLevel - 1 - i);
  }

  const rng = options.rng instanceof SeededRNG ? options.rng : new SeededRNG(options.rng ?? 0);
  const keep = options.returnIntermediates ?? false;
  const labels = modelLabel === null ? undefined : { classLabels: new Array<number>(n).fill(modelLabel) };
  const total = encodeSteps.length + decodeSteps.length;
  const unetTimesteps: number[] = [];
  const classifierTimesteps: number[] = [];
  const inter: ClassifierGuidanceIntermediates = {
    encodeTrajectory: [],
    xL: undefined as unknown as tf.Tensor4D,
    decodeTrajectory: [],
    scaledGradients: [],
    encodeSteps,
    decodeSteps,
    unetTimesteps,
    classifierTimesteps,
  };
  let index = 0;
  const progress = async (phase: StepInfo['phase'], t: number) => {
    options.onStep?.({ phase, t, index, total });
    index++;
    // Yield to the event loop now and then so browsers stay responsive.
    if (index % 25 === 0) await new Promise((res) => setTimeout(res, 0));
  };
  const unet = (x: tf.Tensor4D, t: number): tf.Tensor4D => {
    const mt = map[t]!;
    unetTimesteps.push(mt);
    return model.apply(x, [mt], labels);
  };
  /** s·∇ₓ log p(healthy | x_t, t), or null when s = 0 (no classifier pass at all). */
  const scaledGradient = (x: tf.Tensor4D, t: number): tf.Tensor4D | null => {
    if (scale === 0) return null;
    const ct = clsTimesteps === 'respaced' ? t : map[t]!;
    classifierTimesteps.push(ct);
    return tf.tidy(() => tf.mul(classifierLogProbGradient(classifier, x, [ct], healthyClass), scale) as tf.Tensor4D);
  };

  let x: tf.Tensor4D = image.clone();
  const keepOrDispose = (list: tf.Tensor4D[], t: tf.Tensor4D | null) => {
    if (t === null) return;
    if (keep) list.push(t.clone());
  };
  try {
    if (sampler === 'ddim') {
      const ddim = scheduler as DDIMScheduler;
      if (official) {
        // classifier_sample_known → ddim_sample_loop_known: q_sample(img, t=0) pre-noise (L897-903).
        const z = options.prenoise ?? (rng.randn(image.shape) as tf.Tensor4D);
        const noisy = tf.tidy(() => ddim.addNoise(image, z, 0)) as tf.Tensor4D;
        if (options.prenoise === undefined) z.dispose();
        x.dispose();
        x = noisy;
        if (keep) inter.xNoisy = noisy.clone();
      }
      // Deterministic encoding with DDIM run backwards (`ddim_reverse_sample`, η = 0).
      for (const t of encodeSteps) {
        const next = tf.tidy(() => ddim.reversedStep(unet(x, t), t, x).nextSample) as tf.Tensor4D;
        x.dispose();
        x = next;
        keepOrDispose(inter.encodeTrajectory, x);
        await progress('encode', t);
      }
      if (keep) inter.xL = x.clone();
      // Guided decoding (`ddim_sample` + `condition_score2`): ε̂' = ε̂ − √(1−ᾱ_t)·s·g.
      for (const t of decodeSteps) {
        const g = scaledGradient(x, t);
        const prev = tf.tidy(
          () => ddim.step(unet(x, t), t, x, g === null ? {} : { guidanceGradient: g }).prevSample,
        ) as tf.Tensor4D;
        x.dispose();
        x = prev;
        keepOrDispose(inter.decodeTrajectory, x);
        if (g !== null) {
          if (keep) inter.scaledGradients.push(g);
          else g.dispose();
        }
        await progress('decode', t);
      }
    } else {
      const ddpm = scheduler as DDPMScheduler;
      // `p_sample_loop_known`: x_T = q_sample(img, t) with fresh noise.
      const z0 = rng.randn(image.shape) as tf.Tensor4D;
      const start = tf.tidy(() => ddpm.addNoise(image, z0, ddpmStart)) as tf.Tensor4D;
      z0.dispose();
      x.dispose();
      x = start;
      if (keep) {
        inter.xNoisy = start.clone();
        inter.xL = start.clone();
      }
      for (const t of decodeSteps) {
        const g = scaledGradient(x, t);
        const z = t > 0 ? (rng.randn(image.shape) as tf.Tensor4D) : null;
        const prev = tf.tidy(() => {
          // `p_sample`: μ, Σ from p_mean_variance (learned range), then `condition_mean`: μ + Σ·s·g.
          const { mean, variance, logVariance } = ddpm.pMeanVariance(unet(x, t), t, x);
          const shifted = g === null ? mean : tf.add(mean, tf.mul(variance, g));
          return (z === null ? shifted : tf.add(shifted, tf.mul(tf.exp(tf.mul(0.5, logVariance)), z))) as tf.Tensor4D;
        });
        z?.dispose();
        x.dispose();
        x = prev;
        keepOrDispose(inter.decodeTrajectory, x);
        if (g !== null) {
          if (keep) inter.scaledGradients.push(g);
          else g.dispose();
        }
        await progress('decode', t);
      }
    }

    const healthy = x;
    const anomalyMap = anomalyMapFrom(image, healthy, mapMode);
    const scoreT = tf.mean(anomalyMap, [1, 2, 3]);
    const score = Float32Array.from(await scoreT.data());
    scoreT.dispose();
    return { anomalyMap, healthy, score, ...(keep ? { intermediates: inter } : {}) };
  } catch (e) {
    x.dispose();
    disposeIntermediates(inter);
    throw e;
  }
}

/** Frees all tensors held by the intermediates. */
export function disposeIntermediates(inter: ClassifierGuidanceIntermediates | undefined): void {
  if (!inter) return;
  tf.dispose([
    ...inter.encodeTrajectory,
    ...inter.decodeTrajectory,
    ...inter.scaledGradients,
    ...(inter.xL ? [inter.xL] : []),
    ...(inter.xNoisy ? [inter.xNoisy] : []),
  ]);
  inter.encodeTrajectory.length = 0;
  inter.decodeTrajectory.length = 0;
  inter.scaledGradients.length = 0;
}
