/**
 * Threshold rules: Otsu (skimage 0.19 `threshold_otsu`), NumPy percentiles, voxel-FPR thresholds on
 * healthy data (Behrendt `t_1p/t_5p/t_10p`), THOR's wrist grid rule, and applying a threshold chosen
 * on a validation set to test data.
 */
import { MetricsArgumentError } from '../errors.js';
import { checkFinite, linspace } from '../ndarray.js';
import { rocCurve } from '../ranking/curves.js';
import { collectWarnings } from '../warnings.js';

/**
 * `skimage.filters.threshold_otsu(image, nbins=256)` (skimage 0.19.3) for float images: a
 * `numpy.histogram` with `nbins` equal-width bins over [min, max] (float32 edges for a Float32Array,
 * as NumPy builds them in the input dtype), threshold = the bin centre maximising the between-class
 * variance `w1[:-1]·w2[1:]·(m1[:-1] − m2[1:])²` (first maximum). A constant image returns its value.
 */
export function thresholdOtsu(image: ArrayLike<number>, nbins = 256): number {
  const n = image.length;
  if (n === 0) throw new MetricsArgumentError('image', 'empty input');
  checkFinite('image', image);
  const f32 = image instanceof Float32Array;
  const cast = f32 ? Math.fround : (v: number) => v;
  const first = image[0]!;
  let lo = Infinity;
  let hi = -Infinity;
  let constant = true;
  for (let i = 0; i < n; i++) {
    const v = image[i]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
    if (v !== first) constant = false;
  }
  if (constant) return first;
  // numpy.histogram: edges = linspace(min, max, nbins + 1) cast to the input dtype.
  const edges = linspace(lo, hi, nbins + 1).map(cast);
  const counts = new Float64Array(nbins);
  const norm = nbins / (hi - lo);
  for (let i = 0; i < n; i++) {
    const v = image[i]!;
    let k = Math.floor((v - lo) * norm);
    if (k >= nbins) k = nbins - 1;
    // NumPy's correction step: make edges[k] <= v < edges[k+1] (last bin closed).
    while (k > 0 && v < edges[k]!) k--;
    while (k < nbins - 1 && v >= edges[k + 1]!) k++;
    counts[k]!++;
  }
  const centers = new Float64Array(nbins);
  for (let k = 0; k < nbins; k++) centers[k] = cast((edges[k]! + edges[k + 1]!) / 2);
  // weight1 = cumsum(counts); weight2 = reverse cumsum; mean1, mean2 accordingly.
  const w1 = new Float64Array(nbins);
  const w2 = new Float64Array(nbins);
  const m1 = new Float64Array(nbins);
  const m2 = new Float64Array(nbins);
  let cw = 0;
  let cm = 0;
  for (let k = 0; k < nbins; k++) {
    cw += counts[k]!;
    cm += counts[k]! * centers[k]!;
    w1[k] = cw;
    m1[k] = cm / cw;
  }
  cw = 0;
  cm = 0;
  for (let k = nbins - 1; k >= 0; k--) {
    cw += counts[k]!;
    cm += counts[k]! * centers[k]!;
    w2[k] = cw;
    m2[k] = cm / cw;
  }
  let bestIdx = 0;
  let bestVar = -Infinity;
  for (let k = 0; k < nbins - 1; k++) {
    const d = m1[k]! - m2[k + 1]!;
    const v = w1[k]! * w2[k + 1]! * d * d;
    // numpy.argmax: first maximum; NaN (empty classes, 0/0 means) counts as maximal there.
    if (Number.isNaN(v)) {
      if (!Number.isNaN(bestVar)) {
        bestVar = v;
        bestIdx = k;
      }
    } else if (v > bestVar) {
      bestVar = v;
      bestIdx = k;
    }
  }
  return centers[bestIdx]!;
}

/**
 * `numpy.percentile(x, q)` with the default linear method: sorted v, h = (n−1)·q/100,
 * v[⌊h⌋] + (h − ⌊h⌋)·(v[⌊h⌋+1] − v[⌊h⌋]). `q` may be a number or a list.
 */
export function percentile(values: ArrayLike<number>, q: number): number;
export function percentile(values: ArrayLike<number>, q: readonly number[]): number[];
export function percentile(values: ArrayLike<number>, q: number | readonly number[]): number | number[] {
  if (values.length === 0) throw new MetricsArgumentError('values', 'empty input');
  checkFinite('values', values);
  const qs = typeof q === 'number' ? [q] : q;
  for (const p of qs)
    if (!(p >= 0 && p <= 100)) throw new MetricsArgumentError('q', `percentile ${p} outside [0, 100]`);
  const v = Float64Array.from(values).sort();
  const n = v.length;
  const out = qs.map((p) => {
    const h = ((n - 1) * p) / 100;
    const i = Math.floor(h);
    if (i >= n - 1) return v[n - 1]!;
    const frac = h - i;
    // NumPy's _lerp: a + (b - a) * t, switched to b - (b - a) * (1 - t) for t >= 0.5.
    const a = v[i]!;
    const b = v[i + 1]!;
    const diff = b - a;
    return frac >= 0.5 ? b - diff * (1 - frac) : a + diff * frac;
  });
  return typeof q === 'number' ? out[0]! : out;
}

/**
 * Threshold with a voxel false-positive rate `fpr` on healthy data: the (1 − fpr) quantile of the
 * pooled healthy scores (NumPy linear percentile), i.e. Behrendt's `t_1p`, `t_5p`, `t_10p` for
 * fpr = 0.01, 0.05, 0.10. Voxels with score > threshold are ≈ fpr of the healthy voxels.
 */
export function thresholdAtFpr(healthyScores: ArrayLike<number>, fpr: number): number {
  if (!(fpr >= 0 && fpr <= 1)) throw new MetricsArgumentError('fpr', `must be in [0, 1], got ${fpr}`);
  return percentile(healthyScores, 100 * (1 - fpr));
}

/**
 * The ROC-based FPR threshold of Behrendt's `utils_eval.py` (`calc_thresh`):
 * `thresholds[argmax(fpr > target)]` of `sklearn.metrics.roc_curve(labels, scores)` (default
 * `drop_intermediate=True`, which can drop the points between equal fps steps; replicated). With
 * healthy data only, pass all-zero labels. If no point exceeds the target, NumPy's `argmax` gives
 * index 0, i.e. `max(score) + 1`.
 */
export function thresholdAtRocFpr(
  yTrue: ArrayLike<number>,
  yScore: ArrayLike<number>,
  fpr: number,
  options: { dropIntermediate?: boolean } = {},
): number {
  if (!(fpr >= 0 && fpr <= 1)) throw new MetricsArgumentError('fpr', `must be in [0, 1], got ${fpr}`);
  const roc = collectWarnings(() =>
    rocCurve(yTrue, yScore, { dropIntermediate: options.dropIntermediate ?? true }),
  ).result;
  let idx = 0;
  for (let i = 0; i < roc.fpr.length; i++) {
    if (roc.fpr[i]! > fpr) {
      idx = i;
      break;
    }
  }
  return roc.thresholds[idx]!;
}

/**
 * THOR wrist rule (`DownstreamEvaluatorWXR.py` `thresholding`): for th in
 * `linspace(0, 1, gridSize, endpoint=False)` the mean over healthy images of the fraction of pixels
 * with map > th; return the smallest th whose mean FPR ≤ `targetFpr` (default 5 %), and the curve.
 */
export function thresholdAtMeanImageFpr(
  healthyMaps: readonly ArrayLike<number>[],
  options: { targetFpr?: number; gridSize?: number } = {},
): { threshold: number; meanFpr: number; grid: Float64Array; meanFprCurve: Float64Array } {
  if (healthyMaps.length === 0) throw new MetricsArgumentError('healthyMaps', 'needs at least one image');
  const target = options.targetFpr ?? 0.05;
  const grid = linspace(0, 1, options.gridSize ?? 1000, false);
  const curve = new Float64Array(grid.length);
  for (const m of healthyMaps) {
    if (m.length === 0) throw new MetricsArgumentError('healthyMaps', 'contains an empty image');
    checkFinite('healthyMaps', m);
    const c = countsAbove(m, grid);
    for (let k = 0; k < grid.length; k++) curve[k]! += c[k]! / m.length;
  }
  for (let k = 0; k < grid.length; k++) curve[k] = curve[k]! / healthyMaps.length;
  for (let k = 0; k < grid.length; k++) {
    if (curve[k]! <= target) return { threshold: grid[k]!, meanFpr: curve[k]!, grid, meanFprCurve: curve };
  }
  return { threshold: NaN, meanFpr: NaN, grid, meanFprCurve: curve };
}

/** Number of values > t for each threshold of an ascending grid, O(n log T). */
export function countsAbove(map: ArrayLike<number>, grid: ArrayLike<number>): Float64Array {
  const T = grid.length;
  const hist = new Float64Array(T + 1);
  for (let i = 0; i < map.length; i++) {
    const v = map[i]!;
    let lo = 0;
    let hi = T;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (grid[mid]! < v) lo = mid + 1;
      else hi = mid;
    }
    hist[lo]!++;
  }
  const out = new Float64Array(T);
  let c = 0;
  for (let k = T - 1; k >= 0; k--) {
    c += hist[k + 1]!;
    out[k] = c;
  }
  return out;
}
