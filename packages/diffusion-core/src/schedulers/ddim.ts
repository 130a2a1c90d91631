/**
 * DDIM sampling and deterministic inversion (Song et al. 2021, Eq. 12), as guided-diffusion
 * implements them (`gaussian_diffusion.py` `ddim_sample`, `ddim_reverse_sample`,
 * `condition_score`; the Wolleb fork's `condition_score2`).
 *
 * Arithmetic is guided-diffusion's: float64 tables cast per entry to float32, then float32 tensor
 * ops in upstream order; ε is always re-derived from the (clipped) x̂₀.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError } from '../errors.js';
import type { SeededRNG } from '../random/rng.js';
import {
  BASE_DEFAULTS,
  BaseScheduler,
  f32,
  parseConfig,
  type SchedulerConfigBase,
  type TimestepInput,
} from './base.js';

export type DDIMSchedulerConfig = SchedulerConfigBase;

export const DDIM_DEFAULTS: DDIMSchedulerConfig = { ...BASE_DEFAULTS };

/** Output of {@link DDIMScheduler.step}. */
export interface DDIMStepOutput {
  /** x_{t−1} (the sample at the previous index of the active schedule). */
  prevSample: tf.Tensor;
  /** x̂₀: clipped; after guidance, the guided x̂₀ (not re-clipped, as upstream). */
  predOriginalSample: tf.Tensor;
  /** ε re-derived from x̂₀. */
  predEpsilon: tf.Tensor;
}

/** Output of {@link DDIMScheduler.reversedStep}. */
export interface DDIMReversedStepOutput {
  /** x_{t+1} (the sample at the next index of the active schedule). */
  nextSample: tf.Tensor;
  predOriginalSample: tf.Tensor;
  predEpsilon: tf.Tensor;
}

export interface DDIMStepOptions {
  /** η of DDIM Eq. 16 (default 0: deterministic). */
  eta?: number;
  /** Explicit z for η > 0. */
  noise?: tf.Tensor;
  /** Draws z for η > 0 when `noise` is not given. */
  generator?: SeededRNG;
  /**
   * Classifier guidance: the already scaled gradient s·∇ₓ log p(y | x_t). ε is shifted to
   * ε̂ − √(1−ᾱ_t)·g and x̂₀ recomputed from it (guided-diffusion `condition_score`, Wolleb's
   * `condition_score2`; Dhariwal & Nichol Algorithm 2).
   */
  guidanceGradient?: tf.Tensor;
}

export class DDIMScheduler extends BaseScheduler<DDIMSchedulerConfig> {
  constructor(config: Partial<DDIMSchedulerConfig> = {}) {
    super('DDIMScheduler', parseConfig('DDIMScheduler', config, DDIM_DEFAULTS));
  }

  /** Validates the keys (unknown key → ConfigError) and builds the scheduler. */
  static fromConfig(config: Partial<DDIMSchedulerConfig>): DDIMScheduler {
    return new DDIMScheduler(config);
  }

  /** guided-diffusion `q_sample`: √ᾱ_t·x₀ + √(1−ᾱ_t)·ε. */
  addNoise(original: tf.Tensor, noise: tf.Tensor, timesteps: TimestepInput): tf.Tensor {
    this.checkSameShape('noise', noise, original);
    const ts = this.resolve(timesteps, original.shape[0] ?? 1, 'timesteps');
    const f = this.schedule.float32;
    return tf.tidy(() =>
      tf.add(
        tf.mul(this.extract(f.sqrtAlphasCumprod, ts, original.rank), original),
        tf.mul(this.extract(f.sqrtOneMinusAlphasCumprod, ts, original.rank), noise),
      ),
    );
  }

  /** x̂₀ (clipped when `clipSample`) and ε re-derived from it. */
  protected x0AndEps(out: tf.Tensor, ts: readonly number[], x: tf.Tensor): { x0: tf.Tensor; eps: tf.Tensor } {
    const f = this.schedule.float32;
    const r = x.rank;
    const sr = this.extract(f.sqrtRecipAlphasCumprod, ts, r);
    const srm1 = this.extract(f.sqrtRecipm1AlphasCumprod, ts, r);
    // `_predict_xstart_from_eps` (or the x₀ prediction itself), then `process_xstart` (clip).
    const raw = this.cfg.predictionType === 'sample' ? out.clone() : tf.sub(tf.mul(sr, x), tf.mul(srm1, out));
    const x0 = this.clip(raw, this.cfg.clipSample);
    // `_predict_eps_from_xstart`: (√(1/ᾱ)·x_t − x̂₀) / √(1/ᾱ − 1).
    const eps = tf.div(tf.sub(tf.mul(sr, x), x0), srm1);
    return { x0, eps };
  }

  /**
   * One DDIM step x_t → x_{t−1} (Eq. 12):
   * 1. x̂₀ from the model output, clipped; ε re-derived from x̂₀;
   * 2. optional guidance: ε ← ε − √(1−ᾱ_t)·g, x̂₀ ← √(1/ᾱ_t)·x_t − √(1/ᾱ_t − 1)·ε, ε re-derived again;
   * 3. σ_t = η·√((1−ᾱ_{t−1})/(1−ᾱ_t))·√(1 − ᾱ_t/ᾱ_{t−1});
   * 4. x_{t−1} = √ᾱ_{t−1}·x̂₀ + √(1−ᾱ_{t−1}−σ_t²)·ε + σ_t·z (no noise at t = 0).
   * A model output with twice the channels (learned variance) is accepted; DDIM ignores v.
   */
  step(
    modelOutput: tf.Tensor,
    timestep: TimestepInput,
    sample: tf.Tensor,
    options: DDIMStepOptions = {},
  ): DDIMStepOutput {
    const eta = options.eta ?? 0;
    if (!(typeof eta === 'number' && eta >= 0))
      throw new ArgumentError('options.eta', `expected a number ≥ 0, got ${eta}`);
    const ts = this.resolve(timestep, sample.shape[0], 'timestep');
    if (options.guidanceGradient !== undefined)
      this.checkSameShape('options.guidanceGradient', options.guidanceGradient, sample);
    return tf.tidy(() => {
      const [out] = this.splitModelOutput(modelOutput, sample);
      const f = this.schedule.float32;
      const r = sample.rank;
      let { x0, eps } = this.x0AndEps(out, ts, sample);
      if (options.guidanceGradient !== undefined) {
        // condition_score(2): eps − (1 − ᾱ_t).sqrt()·g; pred_xstart = _predict_xstart_from_eps(x, t, eps).
        const sqrtOneMinus = this.coef(
          ts.map((t) => f32(Math.sqrt(f32(1 - f.alphasCumprod[t])))),
          r,
        );
        const guidedEps = tf.sub(eps, tf.mul(sqrtOneMinus, options.guidanceGradient));
        const sr = this.extract(f.sqrtRecipAlphasCumprod, ts, r);
        const srm1 = this.extract(f.sqrtRecipm1AlphasCumprod, ts, r);
        x0 = tf.sub(tf.mul(sr, sample), tf.mul(srm1, guidedEps));
        // ddim_sample re-derives ε from the (guided) pred_xstart.
        eps = tf.div(tf.sub(tf.mul(sr, sample), x0), srm1);
      }
      const ab = ts.map((t) => f.alphasCumprod[t]);
      const abPrev = ts.map((t) => f.alphasCumprodPrev[t]);
      const sigma = ts.map((_, i) =>
        f32(
          f32(f32(eta) * f32(Math.sqrt(f32(f32(1 - abPrev[i]) / f32(1 - ab[i]))))) *
            f32(Math.sqrt(f32(1 - f32(ab[i] / abPrev[i])))),
        ),
      );
      const meanPred = tf.add(
        tf.mul(
          x0,
          this.coef(
            abPrev.map((a) => f32(Math.sqrt(a))),
            r,
          ),
        ),
        tf.mul(
          this.coef(
            abPrev.map((a, i) => f32(Math.sqrt(f32(f32(1 - a) - f32(sigma[i] * sigma[i]))))),
            r,
          ),
          eps,
        ),
      );
      if (eta === 0 || ts.every((t) => t === 0))
        return { prevSample: meanPred, predOriginalSample: x0, predEpsilon: eps };
      const z = this.stepNoise(sample, options.noise, options.generator);
      const scale = this.coef(
        ts.map((t, i) => (t !== 0 ? sigma[i] : 0)),
        r,
      );
      return { prevSample: tf.add(meanPred, tf.mul(scale, z)), predOriginalSample: x0, predEpsilon: eps };
    });
  }

  /**
   * Deterministic DDIM inversion x_t → x_{t+1} (Eq. 12 run backwards, η = 0; guided-diffusion
   * `ddim_reverse_sample`): x_{t+1} = √ᾱ_{t+1}·x̂₀ + √(1−ᾱ_{t+1})·ε with ᾱ_next.
   */
  reversedStep(modelOutput: tf.Tensor, timestep: TimestepInput, sample: tf.Tensor): DDIMReversedStepOutput {
    const ts = this.resolve(timestep, sample.shape[0], 'timestep');
    return tf.tidy(() => {
      const [out] = this.splitModelOutput(modelOutput, sample);
      const f = this.schedule.float32;
      const r = sample.rank;
      const { x0, eps } = this.x0AndEps(out, ts, sample);
      const abNext = ts.map((t) => f.alphasCumprodNext[t]);
      const nextSample = tf.add(
        tf.mul(
          x0,
          this.coef(
            abNext.map((a) => f32(Math.sqrt(a))),
            r,
          ),
        ),
        tf.mul(
          this.coef(
            abNext.map((a) => f32(Math.sqrt(f32(1 - a)))),
            r,
          ),
          eps,
        ),
      );
      return { nextSample, predOriginalSample: x0, predEpsilon: eps };
    });
  }
}
