/**
 * AnoDDPM-style reconstruction baseline (Wyatt et al., CVPR-W 2022; THOR's `inference_type`
 * 'ddpm' path in `model_zoo/ddpm.py`): noise the input to t_start, run the full ancestral DDPM
 * chain back to 0 with fresh noise, and score |x − x̂|. Same model, scheduler, noise options and
 * result type as {@link thor}, so THOR's gain can be measured on identical models.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError, SeededRNG, assertRank } from '@adx/diffusion-core';
import { planChain } from './chain.js';
import {
  gaussianNoiseFn,
  simplexNoiseFn,
  type NoiseFn,
  type ThorDenoiser,
  type ThorResult,
  type ThorScheduler,
} from './thor.js';

export interface AnoDDPMOptions {
  /** Default `DDPMScheduler.fromPreset('thor')`. */
  scheduler?: ThorScheduler;
  /** Noising level (default 350 Gaussian, 250 simplex). */
  tStart?: number;
  noise?: 'gaussian' | 'simplex' | NoiseFn;
  rng?: SeededRNG | number;
  /** Model intensity convention (see `ThorOptions.intensityRange`). */
  intensityRange?: 'zeroOne' | 'minusOneOne';
  /**
   * Beyond the paper: visit only every `stride`-th timestep (the same respaced ancestral chain as
   * `ThorOptions.stride`, so THOR and the baseline can be compared at equal cost). Default 1.
   */
  stride?: number;
  onStep?: (info: { t: number; index: number; total: number }) => void;
}

/**
 * Reconstruction-based anomaly detection. `anomalyMap` = channel-mean |x − x̂| on [0, 1] images,
 * `score` = its per-image mean, `reconstruction` = x̂ in [0, 1].
 */
export async function anoddpm(
  model: ThorDenoiser,
  image: tf.Tensor4D,
  options: AnoDDPMOptions = {},
): Promise<ThorResult> {
  assertRank('image', image.shape, 4);
  const simplex = options.noise === 'simplex';
  const noise: NoiseFn =
    options.noise === undefined || options.noise === 'gaussian'
      ? gaussianNoiseFn
      : simplex
        ? simplexNoiseFn
        : (options.noise as NoiseFn);
  const { tStart = simplex ? 250 : 350, intensityRange = 'zeroOne', stride = 1, onStep } = options;
  if (!Number.isInteger(tStart) || tStart < 0)
    throw new ArgumentError('options.tStart', `must be a non-negative integer, got ${tStart}`);
  if (!Number.isInteger(stride) || stride < 1)
    throw new ArgumentError('options.stride', `must be a positive integer, got ${stride}`);
  // k indexes the (possibly respaced) schedule; t is the training timestep the network sees.
  const { scheduler, chain } = planChain(options.scheduler, tStart, stride);
  const first = chain[0]!;
  const rng = options.rng instanceof SeededRNG ? options.rng : new SeededRNG(options.rng ?? 0);
  const [n, h, w, c] = image.shape;
  const shape: [number, number, number, number] = [n, h, w, c];
  const [lo, hi] = intensityRange === 'zeroOne' ? [0, 1] : [-1, 1];

  const eps0 = noise(shape, rng, first.t);
  let z = tf.tidy(() => {
    const xm = intensityRange === 'zeroOne' ? image : tf.sub(tf.mul(image, 2), 1);
    return scheduler.addNoise(xm, eps0, first.index);
  }) as tf.Tensor4D;
  eps0.dispose();
  try {
    for (const [index, { index: k, t }] of chain.entries()) {
      const stepNoise = t > 0 ? noise(shape, rng, t) : null;
      const next = tf.tidy(
        () => scheduler.step(model.apply(z, [t]), k, z, stepNoise ? { noise: stepNoise } : {}).prevSample,
      ) as tf.Tensor4D;
      stepNoise?.dispose();
      z.dispose();
      z = next;
      onStep?.({ t, index, total: chain.length });
      if (index % 25 === 24) await new Promise((res) => setTimeout(res, 0));
    }
    // At t = 0 the posterior mean is x̂0 itself, so z is the reconstruction.
    const reconstruction = tf.tidy(() => {
      const r = tf.clipByValue(z, lo, hi);
      return intensityRange === 'zeroOne' ? r : tf.div(tf.add(r, 1), 2);
    }) as tf.Tensor4D;
    const anomalyMap = tf.tidy(() => tf.mean(tf.abs(tf.sub(image, reconstruction)), 3, true)) as tf.Tensor4D;
    const s = tf.mean(anomalyMap, [1, 2, 3]);
    const score = Float32Array.from(await s.data());
    s.dispose();
    return { anomalyMap, score, reconstruction };
  } finally {
    z.dispose();
  }
}
