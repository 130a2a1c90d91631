/**
 * Seeded Gaussian noise. Values come from {@link SeededRNG} on the CPU (float64 Box–Muller, then
 * float32), so the same seed gives the same tensor on every tfjs backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError } from '../errors.js';
import type { SeededRNG } from '../random/rng.js';

function checkShape(shape: readonly number[]): void {
  if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new ArgumentError('shape', `expected an array of non-negative integers, got ${JSON.stringify(shape)}`);
  }
}

/** A float32 tensor of standard normal samples of `shape` (the `torch.randn` of the ports). */
export function gaussianNoise(shape: readonly number[], rng: SeededRNG): tf.Tensor {
  checkShape(shape);
  return rng.randn([...shape]);
}

/** Standard normal noise with the shape of `x` (`torch.randn_like`). */
export function randnLike(x: tf.Tensor, rng: SeededRNG): tf.Tensor {
  return rng.randn([...x.shape]);
}
