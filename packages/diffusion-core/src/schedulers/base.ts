/**
 * Shared machinery of the ADX schedulers: config handling, the active (possibly respaced) schedule,
 * timestep validation and per-sample coefficient tensors.
 *
 * Timestep convention (guided-diffusion `SpacedDiffusion`): every `timestep` argument is an index
 * into the scheduler's active {@link NoiseSchedule} (0 … `schedule.numTimesteps − 1`). Without
 * respacing that is the training timestep; after `setTimesteps('ddim50')` it is the respaced index,
 * and `modelTimesteps(t)` (= `timestepMap[t]`) gives the training timestep the network expects.
 *
 * All tensor maths is float32 and elementwise, so any sample shape works (NHWC images, volumes);
 * per-sample coefficients have shape `[B, 1, …, 1]` and broadcast over the batch axis.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError, ConfigError, checkConfigKeys } from '../errors.js';
import type { SeededRNG } from '../random/rng.js';
import { spaceTimesteps, type RespacingSpec } from './respacing.js';
import { NoiseSchedule, getBetaScheduleTables, type BetaScheduleOptions } from './schedules.js';

/** A timestep index (shared by the batch) or one index per sample. */
export type TimestepInput = number | ArrayLike<number>;

/** What the network predicts: the noise ε (`epsilon`) or the clean sample x₀ (`sample`). */
export type PredictionType = 'epsilon' | 'sample';

/** x̂₀ clip range: r means [−r, r]; a pair gives [min, max]. */
export type ClipSampleRange = number | readonly [number, number];

/** Config keys shared by {@link DDPMScheduler} and {@link DDIMScheduler} (diffusers names, camelCase). */
export interface SchedulerConfigBase {
  /** Length T of the training process (default 1000). */
  numTrainTimesteps: number;
  /** Registered β schedule name (default `linear`, guided-diffusion's). */
  betaSchedule: string;
  /** First β of linear schedules, or null for the schedule's default. */
  betaStart: number | null;
  /** Last β of linear schedules, or null for the schedule's default. */
  betaEnd: number | null;
  /** Explicit β table (overrides `betaSchedule`), or null. */
  trainedBetas: number[] | null;
  /** guided-diffusion respacing spec (`"ddim50"`, `"10,10"`, 250, …), or null for all T steps. */
  timestepRespacing: string | number | number[] | null;
  /** `epsilon` (default) or `sample`. */
  predictionType: PredictionType;
  /** Clip x̂₀ (default true, as guided-diffusion's `clip_denoised` and THOR's `clip_sample`). */
  clipSample: boolean;
  /** Clip range of x̂₀ (default 1, i.e. [−1, 1]). */
  clipSampleRange: number | [number, number];
}

export const BASE_DEFAULTS: SchedulerConfigBase = {
  numTrainTimesteps: 1000,
  betaSchedule: 'linear',
  betaStart: null,
  betaEnd: null,
  trainedBetas: null,
  timestepRespacing: null,
  predictionType: 'epsilon',
  clipSample: true,
  clipSampleRange: 1,
};

/** Validates the shared config values; throws {@link ConfigError} naming the key. */
export function validateBaseConfig(component: string, c: SchedulerConfigBase): void {
  const bad = (key: string, problem: string) => new ConfigError(component, key, problem);
  if (!Number.isInteger(c.numTrainTimesteps) || c.numTrainTimesteps < 1) {
    throw bad('numTrainTimesteps', `expected a positive integer, got ${String(c.numTrainTimesteps)}`);
  }
  if (typeof c.betaSchedule !== 'string') throw bad('betaSchedule', 'expected a string');
  for (const key of ['betaStart', 'betaEnd'] as const) {
    const v = c[key];
    if (v !== null && !(typeof v === 'number' && v > 0 && v <= 1)) {
      throw bad(key, `expected null or a number in (0, 1], got ${String(v)}`);
    }
  }
  if (c.trainedBetas !== null) {
    if (!Array.isArray(c.trainedBetas) || c.trainedBetas.some((b) => typeof b !== 'number')) {
      throw bad('trainedBetas', 'expected null or an array of numbers');
    }
    if (c.trainedBetas.length !== c.numTrainTimesteps) {
      throw bad('trainedBetas', `has ${c.trainedBetas.length} entries but numTrainTimesteps is ${c.numTrainTimesteps}`);
    }
  }
  const r = c.timestepRespacing;
  if (!(r === null || typeof r === 'string' || typeof r === 'number' || Array.isArray(r))) {
    throw bad('timestepRespacing', 'expected null, a string, a number or an array of numbers');
  }
  if (c.predictionType !== 'epsilon' && c.predictionType !== 'sample') {
    throw bad('predictionType', `expected 'epsilon' or 'sample', got ${String(c.predictionType)}`);
  }
  if (typeof c.clipSample !== 'boolean') throw bad('clipSample', 'expected a boolean');
  const range = c.clipSampleRange;
  const okRange =
    (typeof range === 'number' && range > 0) ||
    (Array.isArray(range) &&
      range.length === 2 &&
      typeof range[0] === 'number' &&
      typeof range[1] === 'number' &&
      range[0] < range[1]);
  if (!okRange)
    throw bad('clipSampleRange', `expected r > 0 or [min, max] with min < max, got ${JSON.stringify(range)}`);
}

/** Merges `config` over `defaults` after checking the keys (unknown key → {@link ConfigError}). */
export function parseConfig<C extends object>(component: string, config: unknown, defaults: C): C {
  if (config === undefined) return { ...defaults };
  checkConfigKeys(component, config, Object.keys(defaults));
  // Keys explicitly set to `undefined` fall back to their defaults.
  const given = Object.fromEntries(Object.entries(config).filter(([, v]) => v !== undefined));
  return { ...defaults, ...(given as Partial<C>) };
}

/** Deep-copies a config into a plain JSON object. */
export function plainConfig<C extends object>(c: C): C {
  return JSON.parse(JSON.stringify(c)) as C;
}

/**
 * Base class: owns the training schedule, the active (respaced) schedule and the inference
 * timesteps, and the float32 coefficient plumbing the concrete schedulers share.
 */
export abstract class BaseScheduler<C extends SchedulerConfigBase> {
  protected readonly cfg: C;
  /** The full training schedule (T entries). */
  readonly trainSchedule: NoiseSchedule;
  /** The active schedule: the training schedule, or its respacing after {@link setTimesteps}. */
  schedule: NoiseSchedule;
  /** Inference timesteps (indices into {@link schedule}), descending. */
  timesteps: Int32Array;

  protected constructor(
    protected readonly component: string,
    config: C,
  ) {
    validateBaseConfig(component, config);
    this.cfg = config;
    if (config.trainedBetas !== null) {
      this.trainSchedule = NoiseSchedule.fromBetas(config.trainedBetas);
    } else {
      const options: BetaScheduleOptions = {};
      if (config.betaStart !== null) options.betaStart = config.betaStart;
      if (config.betaEnd !== null) options.betaEnd = config.betaEnd;
      try {
        this.trainSchedule = NoiseSchedule.fromTables(
          getBetaScheduleTables(config.betaSchedule, config.numTrainTimesteps, options),
        );
      } catch (e) {
        if (e instanceof ArgumentError) throw new ConfigError(component, 'betaSchedule', e.message);
        throw e;
      }
    }
    this.schedule = this.trainSchedule;
    this.timesteps = new Int32Array(0);
    try {
      this.setTimesteps(config.timestepRespacing);
    } catch (e) {
      if (e instanceof ArgumentError) throw new ConfigError(component, 'timestepRespacing', e.message);
      throw e;
    }
  }

  /** The plain-JSON config (camelCase diffusers / guided-diffusion argument names). */
  toConfig(): C {
    return plainConfig(this.cfg);
  }

  /** Original training timestep of each entry of the active schedule. */
  get timestepMap(): Int32Array {
    return this.schedule.timestepMap;
  }

  /** Number of steps of the active schedule. */
  get numInferenceSteps(): number {
    return this.schedule.numTimesteps;
  }

  /**
   * Chooses the inference steps by guided-diffusion respacing of the training schedule
   * (`"ddim50"`, `"10,10"`, a count, or null for all T steps) and resets {@link timesteps} to the
   * active schedule's indices in descending order. Call it before every sampling loop.
   */
  setTimesteps(spec: RespacingSpec | null = null): void {
    const T = this.trainSchedule.numTimesteps;
    // Like guided-diffusion, any spec (even the identity "ddim1000") builds a SpacedDiffusion whose
    // β are recomputed from ᾱ ratios; null keeps the plain training schedule.
    this.schedule = spec === null ? this.trainSchedule : this.trainSchedule.respace(spaceTimesteps(T, spec));
    this.cfg.timestepRespacing = spec === null ? null : typeof spec === 'object' ? [...spec] : spec;
    const K = this.schedule.numTimesteps;
    this.timesteps = Int32Array.from({ length: K }, (_, i) => K - 1 - i);
  }

  /** Standard deviation of the initial noise (diffusers `init_noise_sigma`); 1 for DDPM / DDIM. */
  get initNoiseSigma(): number {
    return 1;
  }

  /** diffusers `scale_model_input`: the identity for DDPM / DDIM (kept so schedulers are interchangeable). */
  scaleModelInput(sample: tf.Tensor, _timestep?: TimestepInput): tf.Tensor {
    return sample;
  }

  /** The training timesteps the network should see for schedule indices `timestep`. */
  modelTimesteps(timestep: TimestepInput): number[] {
    return this.resolve(timestep, null, 'timestep').map((t) => this.schedule.timestepMap[t]);
  }

  /**
   * Validates `timestep` against the active schedule and the batch size; returns one index, or one
   * per sample.
   */
  protected resolve(timestep: TimestepInput, batch: number | null, argument = 'timestep'): number[] {
    const K = this.schedule.numTimesteps;
    const values = typeof timestep === 'number' ? [timestep] : Array.from(timestep as ArrayLike<number>);
    if (values.length === 0) throw new ArgumentError(argument, 'expected at least one timestep');
    for (const t of values) {
      if (!Number.isInteger(t) || t < 0 || t >= K) {
        throw new ArgumentError(
          argument,
          `timestep ${t} is outside [0, ${K - 1}] (the active schedule has ${K} steps)`,
        );
      }
    }
    if (batch !== null && values.length !== 1 && values.length !== batch) {
      throw new ArgumentError(argument, `got ${values.length} timesteps for a batch of ${batch}`);
    }
    return values;
  }

  /** float32 coefficient tensor: a scalar, or `[B, 1, …, 1]` for per-sample values. */
  protected coef(values: readonly number[], rank: number): tf.Tensor {
    if (values.length === 1) return tf.scalar(values[0], 'float32');
    return tf.tensor(Float32Array.from(values), [values.length, ...new Array<number>(Math.max(rank - 1, 0)).fill(1)]);
  }

  /** `coef` of a float32 table gathered at `ts` (guided-diffusion `_extract_into_tensor`). */
  protected extract(table: Float32Array, ts: readonly number[], rank: number): tf.Tensor {
    return this.coef(
      ts.map((t) => table[t]),
      rank,
    );
  }

  protected clipRange(): [number, number] {
    const r = this.cfg.clipSampleRange;
    return typeof r === 'number' ? [-r, r] : [r[0], r[1]];
  }

  protected clip(x: tf.Tensor, clip: boolean): tf.Tensor {
    if (!clip) return x;
    const [lo, hi] = this.clipRange();
    return tf.clipByValue(x, lo, hi);
  }

  /**
   * Checks `sample` and `modelOutput`: equal shapes, or a model output with twice the channels
   * (last axis) whose second half is the learned-range variance value v. Returns [output, v | null].
   */
  protected splitModelOutput(modelOutput: tf.Tensor, sample: tf.Tensor): [tf.Tensor, tf.Tensor | null] {
    if (sample.rank < 1) throw new ArgumentError('sample', 'expected a tensor of rank ≥ 1 with the batch first');
    const s = sample.shape;
    const m = modelOutput.shape;
    const same = m.length === s.length && m.every((d, i) => d === s[i]);
    if (same) return [modelOutput, null];
    const last = s.length - 1;
    const doubled = m.length === s.length && m.every((d, i) => (i === last ? d === 2 * s[i] : d === s[i]));
    if (!doubled) {
      throw new ArgumentError(
        'modelOutput',
        `expected shape [${s.join(', ')}] (or twice the channels on the last axis for learned variance), got [${m.join(', ')}]`,
      );
    }
    const C = s[last];
    const begin = new Array<number>(s.length).fill(0);
    const size = [...s];
    const eps = tf.slice(modelOutput, begin, size);
    begin[last] = C;
    return [eps, tf.slice(modelOutput, begin, size)];
  }

  protected checkSameShape(argument: string, t: tf.Tensor, sample: tf.Tensor): void {
    const ok = t.shape.length === sample.shape.length && t.shape.every((d, i) => d === sample.shape[i]);
    if (!ok) {
      throw new ArgumentError(
        argument,
        `expected shape [${sample.shape.join(', ')}] like sample, got [${t.shape.join(', ')}]`,
      );
    }
  }

  /** The noise for a stochastic step: `noise` if given (shape-checked), else drawn from `generator`. */
  protected stepNoise(sample: tf.Tensor, noise: tf.Tensor | undefined, generator: SeededRNG | undefined): tf.Tensor {
    if (noise !== undefined) {
      this.checkSameShape('options.noise', noise, sample);
      return noise;
    }
    if (generator !== undefined) return generator.randn(sample.shape);
    throw new ArgumentError('options', 'a stochastic step needs options.noise or options.generator (a SeededRNG)');
  }
}

/** Math.fround shorthand: the float32 rounding every scalar op of the float32 reference code applies. */
export const f32 = Math.fround;
