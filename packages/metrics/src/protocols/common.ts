import { MetricsArgumentError } from '../errors.js';
import { checkNdArray, checkSameShape, type NdArray } from '../ndarray.js';

/** One evaluated unit: an anomaly map and its ground-truth segmentation (> 0 = lesion), same shape. */
export interface EvaluationCase {
  map: NdArray;
  gt: NdArray;
  /** Optional identifier carried into the per-unit details. */
  id?: string;
}

export function checkCases(argument: string, cases: readonly EvaluationCase[]): void {
  if (!Array.isArray(cases) || cases.length === 0) throw new MetricsArgumentError(argument, 'needs at least one case');
  cases.forEach((c, i) => {
    checkNdArray(`${argument}[${i}].map`, c.map);
    checkSameShape(`${argument}[${i}].map`, c.map, `${argument}[${i}].gt`, c.gt);
  });
}

/**
 * Concatenates maps and labels of all cases (the pooled convention: all voxels, background
 * included). Float32 maps stay float32 so the radix-sort path of the ranking metrics applies.
 */
export function pool(cases: readonly EvaluationCase[]): { map: Float32Array | Float64Array; gt: Uint8Array } {
  const n = cases.reduce((s, c) => s + c.map.data.length, 0);
  const f32 = cases.every((c) => c.map.data instanceof Float32Array);
  const map = f32 ? new Float32Array(n) : new Float64Array(n);
  const gt = new Uint8Array(n);
  let o = 0;
  for (const c of cases) {
    const m = c.map.data as ArrayLike<number>;
    const g = c.gt.data as ArrayLike<number>;
    for (let i = 0; i < m.length; i++) {
      map[o + i] = m[i]!;
      gt[o + i] = g[i]! > 0 ? 1 : 0;
    }
    o += m.length;
  }
  return { map, gt };
}

/** Binary prediction `map > threshold` as a 0/1 Uint8Array NdArray. */
export function binarize(map: NdArray, threshold: number): NdArray<Uint8Array> {
  const out = new Uint8Array(map.data.length);
  for (let i = 0; i < out.length; i++) out[i] = (map.data[i] as number) > threshold ? 1 : 0;
  return { data: out, shape: [...map.shape] };
}

/** |P|, |G|, |P ∩ G| of binary arrays (> 0). */
export function overlapCounts(pred: ArrayLike<number>, gt: ArrayLike<number>): { p: number; g: number; pg: number } {
  let p = 0;
  let g = 0;
  let pg = 0;
  for (let i = 0; i < pred.length; i++) {
    const a = pred[i]! > 0;
    const b = gt[i]! > 0;
    if (a) p++;
    if (b) g++;
    if (a && b) pg++;
  }
  return { p, g, pg };
}
