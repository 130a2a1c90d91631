/**
 * SparK masking pieces for the optional encoder pre-training of cDDPM (conditioned.md §1.1;
 * `src/models/modules/spark/Spark_2D.py` `SparK_2D.mask` and `spatial_loss` of
 * `FinnBehrendt/Conditioned-Diffusion-Models-UAD` @ c5904a71, after Tian et al., ICLR 2023):
 *
 *   len_keep = round(h·w·(1 − mask_ratio))                    3×3 grid, ratio 0.65 → 3 visible patches
 *   idx      = argsort(rand(B, h·w))[:, :len_keep]            visible patches per sample
 *   masked x = x · upsample(mask)                             (patch = H/h px, 32 at 96²)
 *   loss     = Σ_b,l mse_l(x, x̂)·[l masked] / (Σ [l masked] + 1e-8)   per-patch MSE, masked patches only
 *
 * The sparse ResNet and the SparK decoder are not part of ADX yet; these helpers are the data side.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError, SeededRNG } from '@adx/diffusion-core';

export interface SparkMaskOptions {
  /** Patches per side (downsample ratio 32 at 96 px → 3). */
  gridSize?: number;
  /** Fraction of masked patches (default 0.65). */
  maskRatio?: number;
}

/**
 * Visible-patch masks `[B, g, g]` (1 = visible, row-major patches): for every sample, the
 * `round(g²·(1 − maskRatio))` patches with the smallest uniform draws (`rand(B, L).argsort()[:, :len_keep]`).
 */
export function sparkMask(batch: number, rng: SeededRNG, options: SparkMaskOptions = {}): Uint8Array {
  const { gridSize = 3, maskRatio = 0.65 } = options;
  if (!Number.isInteger(batch) || batch < 1) throw new ArgumentError('batch', `expected an integer ≥ 1, got ${batch}`);
  if (!Number.isInteger(gridSize) || gridSize < 1)
    throw new ArgumentError('options.gridSize', `expected an integer ≥ 1, got ${gridSize}`);
  if (!(maskRatio >= 0 && maskRatio < 1))
    throw new ArgumentError('options.maskRatio', `must be in [0, 1), got ${maskRatio}`);
  const L = gridSize * gridSize;
  const keep = Math.round(L * (1 - maskRatio));
  const out = new Uint8Array(batch * L);
  for (let b = 0; b < batch; b++) {
    const draws = Array.from({ length: L }, (_, l) => ({ l, u: rng.uniform() }));
    draws.sort((p, q) => p.u - q.u);
    for (let k = 0; k < keep; k++) out[b * L + draws[k]!.l] = 1;
  }
  return out;
}

/** The pixel mask `[B, H, W, 1]` of patch masks `[B, g, g]` (nearest upsampling; H and W multiples of g). */
export function sparkPixelMask(
  mask: Uint8Array,
  batch: number,
  height: number,
  width: number,
  gridSize = 3,
): tf.Tensor4D {
  if (height % gridSize !== 0 || width % gridSize !== 0)
    throw new ArgumentError('height', `the image ${height}×${width} must be a multiple of the grid ${gridSize}`);
  if (mask.length !== batch * gridSize * gridSize)
    throw new ArgumentError('mask', `expected ${batch * gridSize * gridSize} entries, got ${mask.length}`);
  const ph = height / gridSize;
  const pw = width / gridSize;
  const px = new Float32Array(batch * height * width);
  for (let b = 0; b < batch; b++)
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++)
        px[(b * height + y) * width + x] =
          mask[b * gridSize * gridSize + Math.floor(y / ph) * gridSize + Math.floor(x / pw)]!;
  return tf.tensor4d(px, [batch, height, width, 1]);
}

/**
 * SparK `spatial_loss` (`loss_l2`, no pixel normalisation, loss on masked patches only): per-patch
 * MSE over the patch pixels and channels, averaged over the masked patches of the batch.
 */
export function sparkMaskedLoss(
  input: tf.Tensor4D,
  reconstruction: tf.Tensor4D,
  mask: Uint8Array,
  gridSize = 3,
): tf.Scalar {
  const [b, h, w, c] = input.shape;
  if (reconstruction.shape.join() !== input.shape.join())
    throw new ArgumentError('reconstruction', `shape [${reconstruction.shape.join(', ')}] differs from the input's`);
  if (h % gridSize !== 0 || w % gridSize !== 0)
    throw new ArgumentError('input', `the image ${h}×${w} must be a multiple of the grid ${gridSize}`);
  const g = gridSize;
  const masked = Float32Array.from(mask, (v) => (v ? 0 : 1)); // non_active = mask.logical_not()
  if (masked.length !== b * g * g)
    throw new ArgumentError('mask', `expected ${b * g * g} entries, got ${masked.length}`);
  return tf.tidy(() => {
    const d = tf.square(tf.sub(input, reconstruction));
    // patchify: [B, g, H/g, g, W/g, C] → mean over the patch pixels and channels → [B, g, g]
    const perPatch = tf.mean(tf.reshape(d, [b, g, h / g, g, w / g, c]), [2, 4, 5]);
    const weights = tf.tensor3d(masked, [b, g, g]);
    return tf.div(tf.sum(tf.mul(perPatch, weights)), tf.add(tf.sum(weights), 1e-8)) as tf.Scalar;
  });
}
