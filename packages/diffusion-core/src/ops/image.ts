/**
 * On-device image filters for NHWC tensors, matching scipy.ndimage / PyTorch conventions, used
 * inside anomaly-detection loops (THOR's temporal maps and region masks) where the data already
 * lives on the accelerator. Each channel of each image is filtered independently (no mixing
 * across the batch, unlike upstream THOR's whole-array blur; see thor.md §1.4).
 *
 * Boundary modes use scipy's names: `reflect` = half-sample symmetric (d c b a | a b c d),
 * `nearest` = edge replication (a a a a | a b c d), `constant` = zeros.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError, assertRank } from '../errors.js';

export type BoundaryMode = 'reflect' | 'nearest' | 'constant';

/** Source index for output position `i` (may be outside [0, n)) under a boundary mode; −1 = zero. */
function boundaryIndex(i: number, n: number, mode: BoundaryMode): number {
  if (i >= 0 && i < n) return i;
  if (mode === 'constant') return -1;
  if (mode === 'nearest') return i < 0 ? 0 : n - 1;
  // scipy 'reflect' (half-sample symmetric), periodic with period 2n.
  const period = 2 * n;
  let j = ((i % period) + period) % period;
  if (j >= n) j = period - 1 - j;
  return j;
}

/**
 * Pads axis 1 (H) and 2 (W) of an NHWC tensor by `[before, after]` with a scipy boundary mode. Works
 * for pads larger than the image (reflect repeats, as scipy does) on every backend.
 */
export function padImage(
  x: tf.Tensor4D,
  padH: [number, number],
  padW: [number, number],
  mode: BoundaryMode = 'reflect',
): tf.Tensor4D {
  assertRank('x', x.shape, 4);
  if (mode === 'constant') {
    return tf.pad(x, [[0, 0], padH, padW, [0, 0]]);
  }
  return tf.tidy(() => {
    const [, h, w] = x.shape;
    const idx = (n: number, [b, a]: [number, number]) =>
      tf.tensor1d(
        Array.from({ length: n + b + a }, (_, k) => boundaryIndex(k - b, n, mode)),
        'int32',
      );
    const rows = tf.gather(x, idx(h, padH), 1);
    return tf.gather(rows, idx(w, padW), 2) as tf.Tensor4D;
  });
}

/** Normalised 1D Gaussian taps as scipy.ndimage builds them: radius = int(truncate·σ + 0.5). */
export function gaussianKernel1d(sigma: number, truncate = 4): Float64Array {
  if (!(sigma > 0)) throw new ArgumentError('sigma', `must be > 0, got ${sigma}`);
  const radius = Math.floor(truncate * sigma + 0.5);
  const w = new Float64Array(2 * radius + 1);
  let sum = 0;
  for (let k = -radius; k <= radius; k++) {
    const v = Math.exp(-0.5 * (k / sigma) ** 2);
    w[k + radius] = v;
    sum += v;
  }
  for (let i = 0; i < w.length; i++) w[i] /= sum;
  return w;
}

/** Moves channels into the batch so single-channel 2D convolutions filter each channel alone. */
function channelsToBatch(x: tf.Tensor4D): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  if (c === 1) return x;
  return tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [n * c, h, w, 1]);
}

function batchToChannels(y: tf.Tensor4D, c: number): tf.Tensor4D {
  if (c === 1) return y;
  const [nc, h, w] = y.shape;
  return tf.transpose(tf.reshape(y, [nc / c, c, h, w]), [0, 2, 3, 1]);
}

/**
 * Separable Gaussian blur of every image/channel, as `scipy.ndimage.gaussian_filter(x, sigma)`
 * applied per 2D image (default mode 'reflect', truncate 4 → radius 8 for σ = 2).
 */
export function gaussianBlur2d(
  x: tf.Tensor4D,
  sigma: number,
  options: { truncate?: number; mode?: BoundaryMode } = {},
): tf.Tensor4D {
  assertRank('x', x.shape, 4);
  const { truncate = 4, mode = 'reflect' } = options;
  const taps = gaussianKernel1d(sigma, truncate);
  const r = (taps.length - 1) / 2;
  return tf.tidy(() => {
    const c = x.shape[3];
    const y = channelsToBatch(x);
    const k = Float32Array.from(taps);
    // scipy filters the first axis, then the second; same order here.
    const alongH = tf.conv2d(padImage(y, [r, r], [0, 0], mode), tf.tensor4d(k, [taps.length, 1, 1, 1]), 1, 'valid');
    const alongW = tf.conv2d(
      padImage(alongH, [0, 0], [r, r], mode),
      tf.tensor4d(k, [1, taps.length, 1, 1]),
      1,
      'valid',
    );
    return batchToChannels(alongW, c);
  });
}

function checkSize(size: number): void {
  if (!Number.isInteger(size) || size < 1 || size % 2 === 0) {
    throw new ArgumentError('size', `flat structuring element size must be an odd positive integer, got ${size}`);
  }
}

/** `scipy.ndimage.grey_dilation(x, size=(s, s), mode)` per image/channel (flat square, odd s). */
export function greyDilation2d(x: tf.Tensor4D, size: number, mode: BoundaryMode = 'nearest'): tf.Tensor4D {
  assertRank('x', x.shape, 4);
  checkSize(size);
  const r = (size - 1) / 2;
  return tf.tidy(() => {
    const c = x.shape[3];
    const y = channelsToBatch(x);
    return batchToChannels(tf.maxPool(padImage(y, [r, r], [r, r], mode), size, 1, 'valid'), c);
  });
}

/** `scipy.ndimage.grey_erosion(x, size=(s, s), mode)` per image/channel (flat square, odd s). */
export function greyErosion2d(x: tf.Tensor4D, size: number, mode: BoundaryMode = 'nearest'): tf.Tensor4D {
  return tf.tidy(() => tf.neg(greyDilation2d(tf.neg(x), size, mode)));
}

/** `scipy.ndimage.grey_closing` = erosion(dilation(x)) with a flat s×s square. */
export function greyClosing2d(x: tf.Tensor4D, size: number, mode: BoundaryMode = 'nearest'): tf.Tensor4D {
  return tf.tidy(() => greyErosion2d(greyDilation2d(x, size, mode), size, mode));
}

/**
 * Bilinear resize with half-pixel centres (PyTorch `F.interpolate(..., mode='bilinear',
 * align_corners=False)`, skimage `resize(order=1, mode='edge')`).
 */
export function resizeBilinear(x: tf.Tensor4D, size: [number, number]): tf.Tensor4D {
  assertRank('x', x.shape, 4);
  return tf.image.resizeBilinear(x, size, false, true);
}

/**
 * Pixel-wise harmonic mean of K maps, `K / Σ 1/A_k`, defined as 0 wherever any map is ≤ 0
 * (scipy.stats.hmean's limit; THOR's final map, thor.md §1.7).
 */
export function harmonicMean(maps: tf.Tensor[]): tf.Tensor {
  if (maps.length === 0) throw new ArgumentError('maps', 'needs at least one map');
  return tf.tidy(() => {
    const stack = tf.stack(maps);
    const positive = tf.all(tf.greater(stack, 0), 0);
    const safe = tf.where(tf.greater(stack, 0), stack, tf.onesLike(stack));
    const hm = tf.div(maps.length, tf.sum(tf.reciprocal(safe), 0));
    return tf.where(positive, hm, tf.zerosLike(hm));
  });
}
