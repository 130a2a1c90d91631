/**
 * Sinusoidal timestep embeddings and the time-embedding MLP.
 *
 * Ports `timestep_embedding` of guided-diffusion (`guided_diffusion/nn.py`), of the LDM utilities
 * used by Behrendt et al. (`ldm/modules/diffusionmodules/util.py`) and MONAI-generative's
 * `get_timestep_embedding` (THOR's `diffusion_unet.py`). All three compute, in float32,
 *   freqs_i = exp(−ln(max_period)·i / half),  i < half,
 *   emb = [cos(t·freqs) | sin(t·freqs)]        (cos first; `order: 'sinCos'` swaps the halves),
 * with a zero column appended for odd `dim`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError } from '../errors.js';
import { SeededRNG } from '../random/rng.js';
import { Linear, ModuleDict, silu } from './layers.js';

/** Timesteps as a number (broadcast over the batch), one per sample, or a float/int tensor of rank 1. */
export type TimestepsInput = number | readonly number[] | tf.Tensor1D;

export interface TimestepEmbeddingOptions {
  /** `max_period` (10000 in all three code bases). */
  maxPeriod?: number;
  /** `'cosSin'` (all three papers) or `'sinCos'` (e.g. diffusers' `flip_sin_to_cos=False`). */
  order?: 'cosSin' | 'sinCos';
}

/** The float32 frequency table exactly as PyTorch evaluates it (float32 products and exp). */
export function timestepFrequencies(dim: number, maxPeriod = 10000): Float32Array {
  const half = Math.floor(dim / 2);
  const f = Math.fround;
  const negLog = f(-Math.log(maxPeriod));
  const out = new Float32Array(half);
  // `th.exp(-math.log(max_period) * th.arange(0, half, dtype=float32) / half)`
  for (let i = 0; i < half; i++) out[i] = f(Math.exp(f(f(negLog * i) / half)));
  return out;
}

/** Converts a {@link TimestepsInput} into a float32 `[N]` tensor (caller disposes). */
export function timestepsTensor(timesteps: TimestepsInput, argument = 'timesteps'): tf.Tensor1D {
  if (typeof timesteps === 'number') {
    if (!Number.isFinite(timesteps)) throw new ArgumentError(argument, `must be finite, got ${timesteps}`);
    return tf.tensor1d([timesteps], 'float32');
  }
  if (timesteps instanceof tf.Tensor) {
    if (timesteps.rank !== 1) {
      throw new ArgumentError(argument, `expected a rank-1 tensor, got shape [${timesteps.shape.join(', ')}]`);
    }
    return tf.cast(timesteps, 'float32');
  }
  if (!Array.isArray(timesteps) || timesteps.length === 0) {
    throw new ArgumentError(argument, 'expected a number, a non-empty number[] or a rank-1 tensor');
  }
  for (const t of timesteps) {
    if (typeof t !== 'number' || !Number.isFinite(t))
      throw new ArgumentError(argument, `must be finite numbers, got ${t}`);
  }
  return tf.tensor1d(timesteps as number[], 'float32');
}

/**
 * Sinusoidal embedding `[N, dim]` of `timesteps` (float32 like upstream: the product t·f is rounded
 * to float32 before cos/sin, which matters at t ≈ 1000).
 */
export function timestepEmbedding(
  timesteps: TimestepsInput,
  dim: number,
  options: TimestepEmbeddingOptions = {},
): tf.Tensor2D {
  if (!Number.isInteger(dim) || dim < 2) throw new ArgumentError('dim', `expected an integer ≥ 2, got ${dim}`);
  const { maxPeriod = 10000, order = 'cosSin' } = options;
  const half = Math.floor(dim / 2);
  const freqs = timestepFrequencies(dim, maxPeriod);
  if (!(timesteps instanceof tf.Tensor)) {
    // Numbers: evaluate on the host, cos/sin in float64 of the float32 argument, rounded once.
    // Exact on every backend (WebGPU's cos/sin can be off by ~2e-4, e.g. on SwiftShader).
    const ts = typeof timesteps === 'number' ? [timesteps] : timesteps;
    const t32 = timestepsTensor(timesteps); // validates
    t32.dispose();
    const out = new Float32Array(ts.length * dim);
    ts.forEach((t, n) => {
      for (let i = 0; i < half; i++) {
        const arg = Math.fround(Math.fround(t) * freqs[i]!); // `timesteps[:, None].float() * freqs[None]`
        const [first, second] = order === 'cosSin' ? [Math.cos(arg), Math.sin(arg)] : [Math.sin(arg), Math.cos(arg)];
        out[n * dim + i] = first;
        out[n * dim + half + i] = second;
      }
    });
    return tf.tensor2d(out, [ts.length, dim]);
  }
  return tf.tidy(() => {
    const t = timestepsTensor(timesteps);
    const args = tf.mul(tf.reshape(t, [-1, 1]), tf.tensor2d(freqs, [1, half]));
    const cos = tf.cos(args);
    const sin = tf.sin(args);
    let emb = tf.concat(order === 'cosSin' ? [cos, sin] : [sin, cos], 1);
    if (dim % 2 === 1)
      emb = tf.pad(emb, [
        [0, 0],
        [0, 1],
      ]);
    return emb as tf.Tensor2D;
  });
}

/**
 * The two-layer embedding MLP `nn.Sequential(Linear(in, out), SiLU(), Linear(out, out))`, with the
 * upstream child names `0` and `2` (guided-diffusion/MONAI `time_embed`, Behrendt's `label_emb`).
 */
export class EmbeddingMLP extends ModuleDict {
  readonly fc1: Linear;
  readonly fc2: Linear;

  constructor(inFeatures: number, outFeatures: number, options: { rng?: SeededRNG } = {}) {
    super();
    const rng = options.rng ?? new SeededRNG(0);
    this.fc1 = this.set(0, new Linear(inFeatures, outFeatures, { rng }));
    this.fc2 = this.set(2, new Linear(outFeatures, outFeatures, { rng }));
  }

  apply(x: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => this.fc2.apply(silu(this.fc1.apply(x))));
  }
}
