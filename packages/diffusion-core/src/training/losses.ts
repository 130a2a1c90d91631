/**
 * Diffusion training objectives and timestep sampling.
 *
 * - ε-prediction MSE (THOR / Wolleb; guided-diffusion `training_losses` with LossType.MSE:
 *   `mean_flat((target − model_output)²)`, then the mean over the batch).
 * - x0-prediction L1 (Behrendt cDDPM, `cond_DDPM.py` p_losses with loss_type 'l1', objective
 *   'pred_x0', p2 weight 1: `F.l1_loss(model_out, x0)` averaged over every pixel, background included).
 * - Uniform timestep sampling (guided-diffusion `resample.py` UniformSampler: t ~ U{0, …, T−1},
 *   importance weights 1).
 * Every loss returns a scalar (reduction 'mean') or per-sample losses [B] (reduction 'none', the
 * guided-diffusion `mean_flat`).
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError } from '../errors.js';
import type { SeededRNG } from '../random/rng.js';

export interface LossOptions {
  /** 'mean' (default): one scalar; 'none': per-sample means over all non-batch axes, shape [B]. */
  reduction?: 'mean' | 'none';
  /**
   * Optional mask broadcastable to the prediction: where it is 0 the prediction is replaced by
   * the target before the loss (Behrendt's inpainting variant); the mean still runs over all pixels.
   */
  mask?: tf.Tensor;
}

function checkPair(pred: tf.Tensor, target: tf.Tensor): void {
  if (pred.shape.length < 1 || pred.shape.join() !== target.shape.join()) {
    throw new ArgumentError(
      'target',
      `shape [${target.shape.join(', ')}] must equal the prediction's [${pred.shape.join(', ')}]`,
    );
  }
}

function reduce(err: tf.Tensor, reduction: 'mean' | 'none'): tf.Tensor {
  if (reduction === 'mean') return tf.mean(err);
  const axes = err.shape.slice(1).map((_, i) => i + 1);
  return axes.length > 0 ? tf.mean(err, axes) : err;
}

function elementwise(
  pred: tf.Tensor,
  target: tf.Tensor,
  f: (d: tf.Tensor) => tf.Tensor,
  options: LossOptions,
): tf.Tensor {
  checkPair(pred, target);
  return tf.tidy(() => {
    const p = options.mask ? tf.where(tf.cast(options.mask, 'bool'), pred, target) : pred;
    return reduce(f(tf.sub(p, target)), options.reduction ?? 'mean');
  });
}

/** Mean squared error ‖pred − target‖² averaged (guided-diffusion `mean_flat`). */
export function mseLoss(pred: tf.Tensor, target: tf.Tensor, options: LossOptions = {}): tf.Tensor {
  return elementwise(pred, target, tf.square, options);
}

/** Mean absolute error |pred − target| averaged (torch `F.l1_loss`). */
export function l1Loss(pred: tf.Tensor, target: tf.Tensor, options: LossOptions = {}): tf.Tensor {
  return elementwise(pred, target, tf.abs, options);
}

/** ε-prediction objective (THOR, Wolleb et al.): MSE between the predicted and the true noise. */
export function epsilonMseLoss(predictedNoise: tf.Tensor, noise: tf.Tensor, options: LossOptions = {}): tf.Tensor {
  return mseLoss(predictedNoise, noise, options);
}

/** x0-prediction objective (Behrendt et al. cDDPM): L1 between the predicted and the clean image. */
export function x0L1Loss(predictedX0: tf.Tensor, x0: tf.Tensor, options: LossOptions = {}): tf.Tensor {
  return l1Loss(predictedX0, x0, options);
}

/** `batchSize` timesteps drawn uniformly from {0, …, numTimesteps − 1} (guided-diffusion UniformSampler). */
export function sampleUniformTimesteps(rng: SeededRNG, batchSize: number, numTimesteps: number): Int32Array {
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new ArgumentError('batchSize', `expected an integer ≥ 1, got ${batchSize}`);
  if (!Number.isInteger(numTimesteps) || numTimesteps < 1) {
    throw new ArgumentError('numTimesteps', `expected an integer ≥ 1, got ${numTimesteps}`);
  }
  const t = new Int32Array(batchSize);
  for (let i = 0; i < batchSize; i++) t[i] = rng.randint(0, numTimesteps);
  return t;
}

/** {@link sampleUniformTimesteps} as an int32 tensor [B], with the UniformSampler's importance weights (all 1). */
export function sampleUniformTimestepTensor(
  rng: SeededRNG,
  batchSize: number,
  numTimesteps: number,
): { timesteps: tf.Tensor1D; weights: tf.Tensor1D } {
  const t = sampleUniformTimesteps(rng, batchSize, numTimesteps);
  return { timesteps: tf.tensor1d(t, 'int32'), weights: tf.ones([batchSize]) };
}
