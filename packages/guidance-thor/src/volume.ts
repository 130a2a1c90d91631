/**
 * Slice-wise THOR on a 3D volume: every slice along `axis` is padded to square and resized to the
 * model's size (THOR's 2D pipeline, thor.md §3.1), processed in batches, and the maps are mapped
 * back onto the original slice grid and re-stacked, so the result shares the input's geometry.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError } from '@adx/diffusion-core';
import { extractSlices, prepareSlice, stackSlices, type Image2D, type Volume } from '@adx/io-medical';
import { thor, type ThorDenoiser, type ThorOptions, type ThorResult } from './thor.js';

export interface SlicewiseOptions {
  /** Slice axis of the volume (default 2, axial for RAS volumes). */
  axis?: number;
  /** Model input size (square, default 128 as in THOR). */
  size?: number;
  /** Slices per model batch (default 8). */
  batchSize?: number;
  /** Skip slices whose maximum is ≤ this value (their maps are 0; default: process all). */
  skipEmptyBelow?: number;
  /** Called after each batch. */
  onBatch?: (info: { done: number; total: number }) => void;
}

export interface VolumeResult {
  /** Anomaly map on the input grid (same shape and affine). */
  anomalyMap: Volume<Float32Array>;
  /** Pseudo-healthy reconstruction on the input grid. */
  reconstruction: Volume<Float32Array>;
  /** Image-level score of each slice (0 for skipped slices). */
  sliceScores: Float32Array;
  /** Volume score: mean of the volume's anomaly map. */
  score: number;
}

/** A 2D detection method on an NHWC batch (e.g. `(b) => thor(model, b, options)`). */
export type SliceMethod = (batch: tf.Tensor4D) => Promise<Pick<ThorResult, 'anomalyMap' | 'reconstruction' | 'score'>>;

/** Runs any 2D method slice-wise over a volume with intensities in [0, 1]. */
export async function runSlicewise(
  volume: Volume,
  method: SliceMethod,
  options: SlicewiseOptions = {},
): Promise<VolumeResult> {
  const { axis = 2, size = 128, batchSize = 8, skipEmptyBelow, onBatch } = options;
  if (volume.shape.length < 3)
    throw new ArgumentError('volume', `expected a 3D volume, got shape [${volume.shape.join(', ')}]`);
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new ArgumentError('options.batchSize', `must be a positive integer, got ${batchSize}`);
  const slices = extractSlices(volume, { axis });
  const prepared = slices.map((s) => prepareSlice(s, { size }));
  const maps: Image2D[] = slices.map((s) => ({
    data: new Float32Array(s.width * s.height),
    width: s.width,
    height: s.height,
  }));
  const recos: Image2D[] = slices.map((s) => ({ data: new Float32Array(s.data), width: s.width, height: s.height }));
  const sliceScores = new Float32Array(slices.length);
  const todo = slices
    .map((_, i) => i)
    .filter((i) => skipEmptyBelow === undefined || Math.max(...slices[i]!.data) > skipEmptyBelow);
  for (let start = 0; start < todo.length; start += batchSize) {
    const idx = todo.slice(start, start + batchSize);
    const data = new Float32Array(idx.length * size * size);
    idx.forEach((i, k) => data.set(prepared[i]!.image.data, k * size * size));
    const batch = tf.tensor4d(data, [idx.length, size, size, 1]);
    try {
      const res = await method(batch);
      const [m, r] = (await Promise.all([res.anomalyMap.data(), res.reconstruction.data()])) as [
        Float32Array,
        Float32Array,
      ];
      tf.dispose([res.anomalyMap, res.reconstruction]);
      idx.forEach((i, k) => {
        const cut = (a: Float32Array): Image2D => ({
          data: a.slice(k * size * size, (k + 1) * size * size),
          width: size,
          height: size,
        });
        maps[i] = prepared[i]!.restore(cut(m));
        recos[i] = prepared[i]!.restore(cut(r));
        sliceScores[i] = res.score[k]!;
      });
    } finally {
      batch.dispose();
    }
    onBatch?.({ done: Math.min(start + batchSize, todo.length), total: todo.length });
  }
  // stackSlices writes onto the input's grid (shape, affine, spacing).
  const anomalyMap = stackSlices(maps, volume, { axis });
  const reconstruction = stackSlices(recos, volume, { axis });
  let sum = 0;
  for (const v of anomalyMap.data) sum += v;
  return { anomalyMap, reconstruction, sliceScores, score: sum / anomalyMap.data.length };
}

/** THOR on every slice of a volume (intensities in [0, 1]); maps come back on the input grid. */
export function thorVolume(
  model: ThorDenoiser,
  volume: Volume,
  options: ThorOptions & SlicewiseOptions = {},
): Promise<VolumeResult> {
  return runSlicewise(volume, (batch) => thor(model, batch, options), options);
}
