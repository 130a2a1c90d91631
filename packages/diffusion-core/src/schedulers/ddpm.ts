/**
 * Ancestral DDPM sampling (Ho et al. 2020) with the variance choices of Nichol & Dhariwal 2021.
 *
 * Two arithmetic formulations reproduce the two reference code bases bit for bit:
 * - `guidedDiffusion` (openai/guided-diffusion `gaussian_diffusion.py`, the Wolleb and Behrendt
 *   forks): coefficient tables precomputed in float64, each entry cast to float32
 *   (`_extract_into_tensor`), x̂₀ = √(1/ᾱ)·x − √(1/ᾱ − 1)·ε, μ = coef1·x̂₀ + coef2·x;
 * - `diffusers` (MONAI / diffusers `DDPMScheduler`, THOR `net_utils/schedulers/ddpm.py`): float32
 *   tables and float32 scalar arithmetic, x̂₀ = (x − √(1−ᾱ)·ε)/√ᾱ, coefficients of DDPM Eq. 7
 *   computed per step.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '../errors.js';
import type { SeededRNG } from '../random/rng.js';
import {
  BASE_DEFAULTS,
  BaseScheduler,
  f32,
  parseConfig,
  type SchedulerConfigBase,
  type TimestepInput,
} from './base.js';

/** Variance of p(x_{t−1} | x_t): β̃_t (`fixedSmall`), β_t (`fixedLarge`) or learned interpolation (`learnedRange`). */
export type VarianceType = 'fixedSmall' | 'fixedLarge' | 'learnedRange';

/** Arithmetic of the reference implementation to reproduce (see the module comment). */
export type SchedulerFormulation = 'guidedDiffusion' | 'diffusers';

export interface DDPMSchedulerConfig extends SchedulerConfigBase {
  /** `fixedSmall` (default), `fixedLarge` or `learnedRange` (model output has 2× channels, v ∈ [−1, 1]). */
  varianceType: VarianceType;
  /** `guidedDiffusion` (default) or `diffusers` (MONAI / THOR). */
  formulation: SchedulerFormulation;
}

export const DDPM_DEFAULTS: DDPMSchedulerConfig = {
  ...BASE_DEFAULTS,
  varianceType: 'fixedSmall',
  formulation: 'guidedDiffusion',
};

/** Named configurations of the three papers' reference code. */
export const DDPM_PRESETS = {
  /** THOR `net_utils/scheduler.py` + `schedulers/ddpm.py`: float32 linear table, x̂₀ clip, fixed-small variance. */
  thor: { betaSchedule: 'thorLinear', formulation: 'diffusers', varianceType: 'fixedSmall', clipSample: true },
  /** guided-diffusion as Wolleb et al. configure it: linear, ε-prediction, learned-range variance. */
  wolleb: { betaSchedule: 'linear', formulation: 'guidedDiffusion', varianceType: 'learnedRange', clipSample: true },
  /** Behrendt et al. cDDPM: cosine (s = 0.008, clipped), x₀-prediction, unclamped output. */
  behrendt: {
    betaSchedule: 'behrendtCosine',
    formulation: 'guidedDiffusion',
    varianceType: 'fixedSmall',
    predictionType: 'sample',
    clipSample: false,
  },
} as const satisfies Record<string, Partial<DDPMSchedulerConfig>>;

/** Output of {@link DDPMScheduler.step} (diffusers `DDPMSchedulerOutput`). */
export interface DDPMStepOutput {
  /** x_{t−1}. */
  prevSample: tf.Tensor;
  /** x̂₀ (clipped when `clipSample`). */
  predOriginalSample: tf.Tensor;
}

/** guided-diffusion `p_mean_variance` outputs. */
export interface PosteriorMeanVariance {
  /** μ_θ(x_t, t). */
  mean: tf.Tensor;
  /** Σ_θ, broadcast to the sample shape. */
  variance: tf.Tensor;
  /** log Σ_θ, broadcast to the sample shape. */
  logVariance: tf.Tensor;
  /** x̂₀ (clipped when requested). */
  predOriginalSample: tf.Tensor;
}

export interface DDPMStepOptions {
  /** Explicit z ~ N(0, I) for the t > 0 noise term (shape of `sample`). */
  noise?: tf.Tensor;
  /** Draws z when `noise` is not given. */
  generator?: SeededRNG;
  /** Learned-range variance values v ∈ [−1, 1] when they are not the second half of `modelOutput`'s channels. */
  varianceValues?: tf.Tensor;
}

export interface PMeanVarianceOptions {
  /** Clip x̂₀ (default: the config's `clipSample`). */
  clipDenoised?: boolean;
  varianceValues?: tf.Tensor;
}

export class DDPMScheduler extends BaseScheduler<DDPMSchedulerConfig> {
  constructor(config: Partial<DDPMSchedulerConfig> = {}) {
    const c = parseConfig('DDPMScheduler', config, DDPM_DEFAULTS);
    if (!['fixedSmall', 'fixedLarge', 'learnedRange'].includes(c.varianceType)) {
      throw new ConfigError(
        'DDPMScheduler',
        'varianceType',
        `expected fixedSmall | fixedLarge | learnedRange, got ${String(c.varianceType)}`,
      );
    }
    if (c.formulation !== 'guidedDiffusion' && c.formulation !== 'diffusers') {
      throw new ConfigError(
        'DDPMScheduler',
        'formulation',
        `expected guidedDiffusion | diffusers, got ${String(c.formulation)}`,
      );
    }
    super('DDPMScheduler', c);
  }

  /** Validates the keys (unknown key → ConfigError) and builds the scheduler. */
  static fromConfig(config: Partial<DDPMSchedulerConfig>): DDPMScheduler {
    return new DDPMScheduler(config);
  }

  /** A scheduler configured like one paper's reference code (`thor`, `wolleb`, `behrendt`), with overrides. */
  static fromPreset(name: keyof typeof DDPM_PRESETS, overrides: Partial<DDPMSchedulerConfig> = {}): DDPMScheduler {
    return new DDPMScheduler({ ...DDPM_PRESETS[name], ...overrides });
  }

  get varianceType(): VarianceType {
    return this.cfg.varianceType;
  }

  get formulation(): SchedulerFormulation {
    return this.cfg.formulation;
  }

  // -------------------------------------------------------------------------------------------
  // Forward process

  /**
   * q(x_t | x_0) sample (DDPM Eq. 4): √ᾱ_t·x₀ + √(1−ᾱ_t)·ε; guided-diffusion `q_sample` /
   * THOR `Scheduler.add_noise`. `timesteps` is one index or one per sample.
   */
  addNoise(original: tf.Tensor, noise: tf.Tensor, timesteps: TimestepInput): tf.Tensor {
    this.checkSameShape('noise', noise, original);
    const ts = this.resolve(timesteps, original.shape[0] ?? 1, 'timesteps');
    const [a, b] = this.addNoiseCoefficients(ts);
    return tf.tidy(() =>
      tf.add(tf.mul(this.coef(a, original.rank), original), tf.mul(this.coef(b, original.rank), noise)),
    );
  }

  /** (√ᾱ_t, √(1−ᾱ_t)) per timestep, in float32 as the reference code computes them. */
  protected addNoiseCoefficients(ts: readonly number[]): [number[], number[]] {
    const s = this.schedule;
    if (this.cfg.formulation === 'diffusers') {
      const ac = s.float32.alphasCumprod;
      // `alphas_cumprod[t] ** 0.5`, `(1 − alphas_cumprod[t]) ** 0.5` on float32 tensors.
      return [ts.map((t) => f32(Math.sqrt(ac[t]))), ts.map((t) => f32(Math.sqrt(f32(1 - ac[t]))))];
    }
    return [ts.map((t) => s.float32.sqrtAlphasCumprod[t]), ts.map((t) => s.float32.sqrtOneMinusAlphasCumprod[t])];
  }

  // -------------------------------------------------------------------------------------------
  // Reverse-process pieces

  /** x̂₀ from the model output (DDPM Eq. 15 for ε), clipped to the clip range when `clip`. */
  predictOriginalSample(
    modelOutput: tf.Tensor,
    timestep: TimestepInput,
    sample: tf.Tensor,
    clip = this.cfg.clipSample,
  ): tf.Tensor {
    const [out] = this.splitModelOutput(modelOutput, sample);
    const ts = this.resolve(timestep, sample.shape[0], 'timestep');
    return tf.tidy(() => this.clip(this.rawX0(out, ts, sample), clip));
  }

  protected rawX0(out: tf.Tensor, ts: readonly number[], x: tf.Tensor): tf.Tensor {
    if (this.cfg.predictionType === 'sample') return out.clone();
    const s = this.schedule;
    const r = x.rank;
    if (this.cfg.formulation === 'diffusers') {
      // (sample − β_prod_t^0.5·ε) / α_prod_t^0.5
      const ac = s.float32.alphasCumprod;
      const sqrtBeta = this.coef(
        ts.map((t) => f32(Math.sqrt(f32(1 - ac[t])))),
        r,
      );
      const sqrtAlpha = this.coef(
        ts.map((t) => f32(Math.sqrt(ac[t]))),
        r,
      );
      return tf.div(tf.sub(x, tf.mul(sqrtBeta, out)), sqrtAlpha);
    }
    // guided-diffusion `_predict_xstart_from_eps`: √(1/ᾱ)·x_t − √(1/ᾱ − 1)·ε
    return tf.sub(
      tf.mul(this.extract(s.float32.sqrtRecipAlphasCumprod, ts, r), x),
      tf.mul(this.extract(s.float32.sqrtRecipm1AlphasCumprod, ts, r), out),
    );
  }

  /** Posterior coefficients (coef1 for x₀, coef2 for x_t) of DDPM Eq. 7 in float32. */
  protected posteriorCoefficients(ts: readonly number[]): [number[], number[]] {
    const s = this.schedule;
    if (this.cfg.formulation === 'diffusers') {
      const { alphasCumprod: ac, betas, alphas } = s.float32;
      const c1: number[] = [];
      const c2: number[] = [];
      for (const t of ts) {
        const apt = ac[t];
        const aptPrev = t > 0 ? ac[t - 1] : 1;
        const bpt = f32(1 - apt);
        const bptPrev = f32(1 - aptPrev);
        c1.push(f32(f32(f32(Math.sqrt(aptPrev)) * betas[t]) / bpt));
        c2.push(f32(f32(f32(Math.sqrt(alphas[t])) * bptPrev) / bpt));
      }
      return [c1, c2];
    }
    return [ts.map((t) => s.float32.posteriorMeanCoef1[t]), ts.map((t) => s.float32.posteriorMeanCoef2[t])];
  }

  /**
   * Fixed variances (β̃_t or β_t) and their logs in float32; for `learnedRange` these are the
   * interpolation end points' minimum (β̃_t, log-clipped).
   */
  protected fixedVariance(ts: readonly number[], type: VarianceType): { variance: number[]; logVariance: number[] } {
    const s = this.schedule;
    if (this.cfg.formulation === 'diffusers') {
      const { alphasCumprod: ac, betas } = s.float32;
      const variance: number[] = [];
      for (const t of ts) {
        const aptPrev = t > 0 ? ac[t - 1] : 1;
        // (1 − ᾱ_{t−1}) / (1 − ᾱ_t) · β_t, clamped at ≥ 1e-20 (THOR `_get_variance`, "fixed_small").
        let v = f32(f32(f32(1 - aptPrev) / f32(1 - ac[t])) * betas[t]);
        if (type === 'fixedLarge') v = betas[t];
        else v = Math.max(v, f32(1e-20));
        variance.push(v);
      }
      return { variance, logVariance: variance.map((v) => f32(Math.log(v))) };
    }
    if (type === 'fixedLarge') {
      // guided-diffusion FIXED_LARGE: [β̃_1, β_1, β_2, …] to get a better decoder log likelihood.
      const v64 = ts.map((t) => (t === 0 ? s.posteriorVariance[Math.min(1, s.numTimesteps - 1)] : s.betas[t]));
      return { variance: v64.map((v) => f32(v)), logVariance: v64.map((v) => f32(Math.log(v))) };
    }
    return {
      variance: ts.map((t) => s.float32.posteriorVariance[t]),
      logVariance: ts.map((t) => s.float32.posteriorLogVarianceClipped[t]),
    };
  }

  /** Mean and variance of q(x_{t−1} | x_t, x₀) (DDPM Eq. 6–7; guided-diffusion `q_posterior_mean_variance`). */
  qPosteriorMeanVariance(
    predOriginalSample: tf.Tensor,
    sample: tf.Tensor,
    timestep: TimestepInput,
  ): { mean: tf.Tensor; variance: tf.Tensor; logVariance: tf.Tensor } {
    this.checkSameShape('predOriginalSample', predOriginalSample, sample);
    const ts = this.resolve(timestep, sample.shape[0], 'timestep');
    return tf.tidy(() => {
      const mean = this.posteriorMean(predOriginalSample, sample, ts);
      const { variance, logVariance } = this.fixedVariance(ts, 'fixedSmall');
      return {
        mean,
        variance: tf.broadcastTo(this.coef(variance, sample.rank), sample.shape),
        logVariance: tf.broadcastTo(this.coef(logVariance, sample.rank), sample.shape),
      };
    });
  }

  protected posteriorMean(x0: tf.Tensor, x: tf.Tensor, ts: readonly number[]): tf.Tensor {
    const [c1, c2] = this.posteriorCoefficients(ts);
    return tf.add(tf.mul(this.coef(c1, x.rank), x0), tf.mul(this.coef(c2, x.rank), x));
  }

  /**
   * The variance of p(x_{t−1} | x_t) for a fixed variance type at one timestep, as a float32 number
   * (THOR `_get_variance`; guided-diffusion's `posterior_variance[t]` or the fixed-large table).
   */
  getVariance(timestep: number): number {
    const [t] = this.resolve(timestep, null, 'timestep');
    const type = this.cfg.varianceType === 'fixedLarge' ? 'fixedLarge' : 'fixedSmall';
    return this.fixedVariance([t], type).variance[0];
  }

  /**
   * guided-diffusion `p_mean_variance`: x̂₀ (clipped if `clipDenoised`), the posterior mean
   * μ(x̂₀, x_t) and the model variance (fixed, or the learned-range interpolation
   * log Σ = v'·log β_t + (1 − v')·log β̃_t with v' = (v + 1)/2, Nichol & Dhariwal Eq. 15).
   */
  pMeanVariance(
    modelOutput: tf.Tensor,
    timestep: TimestepInput,
    sample: tf.Tensor,
    options: PMeanVarianceOptions = {},
  ): PosteriorMeanVariance {
    const ts = this.resolve(timestep, sample.shape[0], 'timestep');
    return tf.tidy(() => {
      const [out, v] = this.splitModelOutput(modelOutput, sample);
      const x0 = this.clip(this.rawX0(out, ts, sample), options.clipDenoised ?? this.cfg.clipSample);
      const mean = this.posteriorMean(x0, sample, ts);
      const { variance, logVariance } = this.modelVariance(ts, sample, options.varianceValues ?? v);
      return { mean, variance, logVariance, predOriginalSample: x0 };
    });
  }

  protected modelVariance(
    ts: readonly number[],
    sample: tf.Tensor,
    varianceValues: tf.Tensor | null,
  ): { variance: tf.Tensor; logVariance: tf.Tensor } {
    const r = sample.rank;
    if (this.cfg.varianceType !== 'learnedRange') {
      const fv = this.fixedVariance(ts, this.cfg.varianceType);
      return {
        variance: tf.broadcastTo(this.coef(fv.variance, r), sample.shape),
        logVariance: tf.broadcastTo(this.coef(fv.logVariance, r), sample.shape),
      };
    }
    if (varianceValues === null) {
      throw new ConfigError(
        'DDPMScheduler',
        'varianceType',
        "'learnedRange' needs the variance values v: a model output with twice the channels or options.varianceValues",
      );
    }
    this.checkSameShape('options.varianceValues', varianceValues, sample);
    const minLog = this.coef(this.fixedVariance(ts, 'fixedSmall').logVariance, r);
    const maxLog =
      this.cfg.formulation === 'diffusers'
        ? this.coef(
            ts.map((t) => f32(Math.log(this.schedule.float32.betas[t]))),
            r,
          )
        : this.extract(this.schedule.float32.logBetas, ts, r);
    // The model_var_values is [−1, 1] for [min_var, max_var].
    const frac = tf.div(tf.add(varianceValues, 1), 2);
    const logVariance = tf.add(tf.mul(frac, maxLog), tf.mul(tf.sub(1, frac), minLog));
    return { variance: tf.exp(logVariance), logVariance };
  }

  /**
   * One ancestral step x_t → x_{t−1} (DDPM Algorithm 2):
   * 1. x̂₀ from the model output (Eq. 15), 2. clip, 3. posterior mean μ̃(x̂₀, x_t) (Eq. 7),
   * 4. x_{t−1} = μ̃ + σ_t·z for t > 0 (σ_t from the variance type), = μ̃ at t = 0.
   */
  step(
    modelOutput: tf.Tensor,
    timestep: TimestepInput,
    sample: tf.Tensor,
    options: DDPMStepOptions = {},
  ): DDPMStepOutput {
    const ts = this.resolve(timestep, sample.shape[0], 'timestep');
    return tf.tidy(() => {
      const [out, v] = this.splitModelOutput(modelOutput, sample);
      const r = sample.rank;
      const x0 = this.clip(this.rawX0(out, ts, sample), this.cfg.clipSample);
      const mean = this.posteriorMean(x0, sample, ts);
      if (ts.every((t) => t === 0)) return { prevSample: mean, predOriginalSample: x0 };
      const z = this.stepNoise(sample, options.noise, options.generator);
      const nonzero = ts.map((t) => (t !== 0 ? 1 : 0));
      let scaledNoise: tf.Tensor;
      if (this.cfg.varianceType === 'learnedRange') {
        const { logVariance } = this.modelVariance(ts, sample, options.varianceValues ?? v);
        scaledNoise = tf.mul(tf.mul(this.coef(nonzero, r), tf.exp(tf.mul(0.5, logVariance))), z);
      } else if (this.cfg.formulation === 'diffusers') {
        // variance ** 0.5 · noise, only for t > 0.
        const { variance } = this.fixedVariance(ts, this.cfg.varianceType);
        scaledNoise = tf.mul(
          this.coef(
            variance.map((vv, i) => nonzero[i] * f32(Math.sqrt(vv))),
            r,
          ),
          z,
        );
      } else {
        // p_sample: nonzero_mask · exp(0.5·log_variance) · noise.
        const { logVariance } = this.fixedVariance(ts, this.cfg.varianceType);
        scaledNoise = tf.mul(
          this.coef(
            logVariance.map((lv, i) => f32(nonzero[i] * f32(Math.exp(f32(0.5 * lv))))),
            r,
          ),
          z,
        );
      }
      return { prevSample: tf.add(mean, scaledNoise), predOriginalSample: x0 };
    });
  }
}
