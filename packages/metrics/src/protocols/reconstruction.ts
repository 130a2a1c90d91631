/**
 * Reconstruction errors: L1 over all / healthy / unhealthy voxels (Behrendt `utils_eval.py`
 * `l1recoErrorAll/Healthy/Unhealthy`, on the raw reconstruction) and SSIM equal to
 * `skimage.metrics.structural_similarity(x, y, data_range=1)` (THOR `DownstreamEvaluatorAtlas.py`).
 */
import { MetricsArgumentError } from '../errors.js';
import { checkNdArray, checkSameShape, type NdArray } from '../ndarray.js';
import { uniformFilter } from '../ops/filters.js';

/** Mean |x − x̂| over voxels where `mask > 0` (all voxels without a mask); NaN if the mask is empty. */
export function l1Error(input: NdArray, reconstruction: NdArray, mask?: NdArray, invertMask = false): number {
  checkNdArray('input', input);
  checkSameShape('input', input, 'reconstruction', reconstruction);
  if (mask) checkSameShape('input', input, 'mask', mask);
  let s = 0;
  let n = 0;
  for (let i = 0; i < input.data.length; i++) {
    if (mask && (mask.data[i] as number) > 0 === invertMask) continue;
    s += Math.abs((input.data[i] as number) - (reconstruction.data[i] as number));
    n++;
  }
  return n === 0 ? NaN : s / n;
}

/** Behrendt's three L1 numbers: all voxels, healthy (seg == 0), unhealthy (seg > 0; NaN without lesion). */
export function reconstructionErrors(
  input: NdArray,
  reconstruction: NdArray,
  segmentation: NdArray,
): { all: number; healthy: number; unhealthy: number } {
  return {
    all: l1Error(input, reconstruction),
    healthy: l1Error(input, reconstruction, segmentation, true),
    unhealthy: l1Error(input, reconstruction, segmentation),
  };
}

export interface SsimOptions {
  /** skimage `data_range`. Default 1 (THOR, images in [0, 1]). */
  dataRange?: number;
  /** Odd window size. Default 7 (skimage). */
  winSize?: number;
  /**
   * Average the SSIM map only over `mask > 0` pixels (e.g. healthy pixels) instead of skimage's
   * border-cropped mean. An ADX addition; without it the value equals skimage.
   */
  mask?: NdArray;
}

/**
 * Mean structural similarity, skimage 0.19 defaults: uniform 7×7 window (`uniform_filter`, mode
 * 'reflect'), sample covariance (N/(N−1)), K1 = 0.01, K2 = 0.03, mean over the map cropped by
 * (win−1)/2 pixels on every side. Computed in float64. Rank 2 or 3 (all axes windowed).
 */
export function ssim(x: NdArray, y: NdArray, options: SsimOptions = {}): number {
  checkNdArray('x', x, [2, 3]);
  checkSameShape('x', x, 'y', y);
  const win = options.winSize ?? 7;
  const R = options.dataRange ?? 1;
  if (!Number.isInteger(win) || win < 3 || win % 2 === 0)
    throw new MetricsArgumentError('options.winSize', 'must be an odd integer >= 3');
  if (x.shape.some((s) => s < win)) throw new MetricsArgumentError('x', `every side must be >= winSize ${win}`);
  const n = x.data.length;
  const X = Float64Array.from(x.data as ArrayLike<number>);
  const Y = Float64Array.from(y.data as ArrayLike<number>);
  const XX = X.map((v) => v * v);
  const YY = Y.map((v) => v * v);
  const XY = X.map((v, i) => v * Y[i]!);
  const f = (d: Float64Array) => uniformFilter({ data: d, shape: x.shape }, { size: win }).data;
  const ux = f(X);
  const uy = f(Y);
  const uxx = f(XX);
  const uyy = f(YY);
  const uxy = f(XY);
  const NP = win ** x.shape.length;
  const covNorm = NP / (NP - 1);
  const C1 = (0.01 * R) ** 2;
  const C2 = (0.03 * R) ** 2;
  const S = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const vx = covNorm * (uxx[i]! - ux[i]! * ux[i]!);
    const vy = covNorm * (uyy[i]! - uy[i]! * uy[i]!);
    const vxy = covNorm * (uxy[i]! - ux[i]! * uy[i]!);
    const A1 = 2 * ux[i]! * uy[i]! + C1;
    const A2 = 2 * vxy + C2;
    const B1 = ux[i]! * ux[i]! + uy[i]! * uy[i]! + C1;
    const B2 = vx + vy + C2;
    S[i] = (A1 * A2) / (B1 * B2);
  }
  if (options.mask) {
    checkSameShape('x', x, 'options.mask', options.mask);
    let s = 0;
    let c = 0;
    for (let i = 0; i < n; i++) {
      if ((options.mask.data[i] as number) > 0) {
        s += S[i]!;
        c++;
      }
    }
    return c === 0 ? NaN : s / c;
  }
  // crop(S, pad).mean()
  const pad = (win - 1) / 2;
  const shape = x.shape.length === 2 ? [1, x.shape[0]!, x.shape[1]!] : [...x.shape];
  const [D, H, W] = shape as [number, number, number];
  const dPad = x.shape.length === 2 ? 0 : pad;
  let s = 0;
  let c = 0;
  for (let d = dPad; d < D - dPad; d++)
    for (let h = pad; h < H - pad; h++)
      for (let w = pad; w < W - pad; w++) {
        s += S[(d * H + h) * W + w]!;
        c++;
      }
  return s / c;
}
