/**
 * Common interfaces of the ADX networks and the input checks they share.
 *
 * Images are NHWC. Timesteps are a number (broadcast over the batch, like THOR's shape-[1] float
 * timestep), one number per sample, or a rank-1 tensor of length 1 or N.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError, ConfigError } from '../errors.js';
import type { SeededRNG } from '../random/rng.js';
import { timestepsTensor, type TimestepsInput } from '../nn/embeddings.js';

export type { TimestepsInput } from '../nn/embeddings.js';

/** Conditioning inputs: class labels (guided-diffusion / MONAI) or a condition vector (cDDPM). */
export interface ModelConditioning {
  /** Integer class labels `[N]` (guided-diffusion `y`, MONAI `class_labels`). */
  classLabels?: tf.Tensor1D | readonly number[];
  /** Condition vectors `[N, numClasses]` (Behrendt's `cond`). */
  condition?: tf.Tensor2D;
}

export interface ForwardOptions {
  /** Training mode enables dropout (default false). */
  training?: boolean;
  /** Generator for dropout masks (required when training with dropout > 0). */
  rng?: SeededRNG;
}

/** A JSON-serialisable model config; `className` names the class for a registry. */
export interface ModelConfig {
  className: string;
}

/** Anything with trainable variables, a JSON config and a parameter count. */
export interface ConfigurableModel {
  readonly className: string;
  toConfig(): ModelConfig;
  /** Trainable scalar parameters, as PyTorch's `sum(p.numel() for p in model.parameters())`. */
  numParameters(): number;
  trainableVariables(): tf.Variable[];
  dispose(): void;
}

/** A denoising UNet: `apply(x_t, t, cond) → ε̂ / x̂₀ (/ learned variance)`, NHWC. */
export interface DenoisingModel extends ConfigurableModel {
  readonly inChannels: number;
  readonly outChannels: number;
  apply(x: tf.Tensor4D, timesteps: TimestepsInput, cond?: ModelConditioning, options?: ForwardOptions): tf.Tensor4D;
}

/** A (noisy) classifier: `apply(x_t, t) → logits [N, K]`. */
export interface Classifier extends ConfigurableModel {
  readonly inChannels: number;
  readonly numClasses: number;
  apply(x: tf.Tensor4D, timesteps: TimestepsInput, options?: ForwardOptions): tf.Tensor2D;
}

/** Checks an NHWC image batch against the model's channel count (and optional fixed size). */
export function checkImageInput(x: tf.Tensor, channels: number, imageSize?: readonly [number, number]): void {
  if (!(x instanceof tf.Tensor) || x.rank !== 4) {
    throw new ArgumentError('x', `expected an NHWC rank-4 tensor, got shape [${x?.shape?.join(', ') ?? typeof x}]`);
  }
  if (x.shape[3] !== channels) {
    throw new ArgumentError('x', `expected ${channels} channels (last axis, NHWC), got shape [${x.shape.join(', ')}]`);
  }
  if (imageSize && (x.shape[1] !== imageSize[0] || x.shape[2] !== imageSize[1])) {
    throw new ArgumentError('x', `expected ${imageSize[0]}×${imageSize[1]} images, got shape [${x.shape.join(', ')}]`);
  }
}

/** Checks that H and W can be halved `levels` times. */
export function checkDivisible(x: tf.Tensor4D, levels: number): void {
  const f = 2 ** levels;
  if (x.shape[1] % f !== 0 || x.shape[2] % f !== 0) {
    throw new ArgumentError(
      'x',
      `H and W must be divisible by ${f} (${levels} down-samplings), got ${x.shape[1]}×${x.shape[2]}`,
    );
  }
}

/**
 * Validates timesteps (finite, in [0, numTrainTimesteps), count 1 or `batch`); tensor values cannot
 * be read synchronously, so for tensors only the shape is checked.
 */
export function validateTimesteps(timesteps: TimestepsInput, batch: number, numTrainTimesteps: number): void {
  prepareTimesteps(timesteps, batch, numTrainTimesteps).dispose();
}

/**
 * Validates timesteps (finite, in [0, numTrainTimesteps), count 1 or `batch`) and returns a float32
 * `[1]` or `[N]` tensor (caller disposes). Tensor values cannot be read synchronously, so for tensor
 * input only the shape is checked.
 */
export function prepareTimesteps(timesteps: TimestepsInput, batch: number, numTrainTimesteps: number): tf.Tensor1D {
  const values = typeof timesteps === 'number' ? [timesteps] : timesteps instanceof tf.Tensor ? null : timesteps;
  if (values) {
    for (const t of values) {
      if (typeof t !== 'number' || !Number.isFinite(t) || t < 0 || t >= numTrainTimesteps) {
        throw new ArgumentError('timesteps', `must lie in [0, ${numTrainTimesteps}), got ${t}`);
      }
    }
  }
  const t = timestepsTensor(timesteps);
  if (t.shape[0] !== 1 && t.shape[0] !== batch) {
    const n = t.shape[0];
    t.dispose();
    throw new ArgumentError('timesteps', `expected 1 or ${batch} (batch size) timesteps, got ${n}`);
  }
  return t;
}

/** Class labels → int32 `[N]` (caller disposes), validated against `numClasses` when given as numbers. */
export function prepareClassLabels(
  labels: tf.Tensor1D | readonly number[] | undefined,
  batch: number,
  numClasses: number,
  model: string,
): tf.Tensor1D {
  if (labels === undefined) {
    throw new ArgumentError(
      'cond.classLabels',
      `${model} is class-conditional (${numClasses} classes); pass class labels`,
    );
  }
  if (labels instanceof tf.Tensor) {
    if (labels.rank !== 1 || labels.shape[0] !== batch) {
      throw new ArgumentError('cond.classLabels', `expected shape [${batch}], got [${labels.shape.join(', ')}]`);
    }
    return tf.cast(labels, 'int32');
  }
  if (labels.length !== batch)
    throw new ArgumentError('cond.classLabels', `expected ${batch} labels, got ${labels.length}`);
  for (const l of labels) {
    if (!Number.isInteger(l) || l < 0 || l >= numClasses) {
      throw new ArgumentError('cond.classLabels', `labels must be integers in [0, ${numClasses}), got ${l}`);
    }
  }
  return tf.tensor1d(labels as number[], 'int32');
}

/** Throws the common "3D is designed for but not implemented" config error. */
export function checkSpatialDims(component: string, spatialDims: unknown): 2 {
  if (spatialDims === 3) throw new ConfigError(component, 'spatialDims', '3 (volumetric) is not yet supported; use 2');
  if (spatialDims !== 2)
    throw new ConfigError(component, 'spatialDims', `must be 2 (or 3 later), got ${String(spatialDims)}`);
  return 2;
}

/** Config value readers that throw {@link ConfigError} naming the key. */
export const cfg = {
  int(component: string, key: string, v: unknown, min = 0): number {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
      throw new ConfigError(component, key, `expected an integer ≥ ${min}, got ${JSON.stringify(v)}`);
    }
    return v;
  },
  num(component: string, key: string, v: unknown): number {
    if (typeof v !== 'number' || !Number.isFinite(v))
      throw new ConfigError(component, key, `expected a number, got ${JSON.stringify(v)}`);
    return v;
  },
  bool(component: string, key: string, v: unknown): boolean {
    if (typeof v !== 'boolean') throw new ConfigError(component, key, `expected a boolean, got ${JSON.stringify(v)}`);
    return v;
  },
  intList(component: string, key: string, v: unknown, min = 0): number[] {
    if (!Array.isArray(v) || v.length === 0)
      throw new ConfigError(component, key, `expected a non-empty integer array, got ${JSON.stringify(v)}`);
    return v.map((x) => cfg.int(component, key, x, min));
  },
  boolList(component: string, key: string, v: unknown): boolean[] {
    if (!Array.isArray(v) || v.length === 0)
      throw new ConfigError(component, key, `expected a non-empty boolean array, got ${JSON.stringify(v)}`);
    return v.map((x) => cfg.bool(component, key, x));
  },
  /** A number or one number per level. */
  perLevel(component: string, key: string, v: unknown, levels: number, min = 0): number[] {
    if (typeof v === 'number') return new Array<number>(levels).fill(cfg.int(component, key, v, min));
    const list = cfg.intList(component, key, v, min);
    if (list.length !== levels)
      throw new ConfigError(component, key, `expected ${levels} entries (one per level), got ${list.length}`);
    return list;
  },
};
