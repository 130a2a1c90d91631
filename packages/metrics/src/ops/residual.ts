/**
 * Residual maps and the intensity prior (evaluation.md §1): Baur keeps positive residuals
 * max(x − x̂, 0) (`keepOnlyPositiveResiduals=True`, lesions are hyperintense in FLAIR); Behrendt
 * and Wolleb use |x − x̂| (Wolleb summed over channels).
 */
import { MetricsArgumentError } from '../errors.js';
import { type NdArray } from '../ndarray.js';
import { percentile } from '../dice/thresholds.js';

function check(input: NdArray, reconstruction: NdArray): void {
  if (input.data.length !== reconstruction.data.length) {
    throw new MetricsArgumentError(
      'reconstruction',
      `has ${reconstruction.data.length} elements, input has ${input.data.length}`,
    );
  }
}

/** max(x − x̂, 0) (Baur et al.). */
export function positiveResidual(input: NdArray, reconstruction: NdArray): NdArray<Float64Array> {
  check(input, reconstruction);
  const out = new Float64Array(input.data.length);
  for (let i = 0; i < out.length; i++)
    out[i] = Math.max((input.data[i] as number) - (reconstruction.data[i] as number), 0);
  return { data: out, shape: [...input.shape] };
}

/** |x − x̂| (Behrendt `utils_eval.py` L27-28). */
export function absResidual(input: NdArray, reconstruction: NdArray): NdArray<Float64Array> {
  check(input, reconstruction);
  const out = new Float64Array(input.data.length);
  for (let i = 0; i < out.length; i++)
    out[i] = Math.abs((input.data[i] as number) - (reconstruction.data[i] as number));
  return { data: out, shape: [...input.shape] };
}

/**
 * Σ_c |x − x̂| over the channel axis (Wolleb `classifier_sample_known.py` L163) of NHWC / HWC data:
 * `[..., C]` → `[...]`.
 */
export function channelSumAbsResidual(input: NdArray, reconstruction: NdArray): NdArray<Float64Array> {
  check(input, reconstruction);
  const C = input.shape[input.shape.length - 1]!;
  const out = new Float64Array(input.data.length / C);
  for (let i = 0; i < out.length; i++) {
    let s = 0;
    for (let c = 0; c < C; c++)
      s += Math.abs((input.data[i * C + c] as number) - (reconstruction.data[i * C + c] as number));
    out[i] = s;
  }
  return { data: out, shape: input.shape.slice(0, -1) };
}

/**
 * Baur's optional hyper-intensity prior (upper-bound runs only): zero the map where the input is
 * below the `q`-th percentile (default 90) of the volume's intensities.
 */
export function hyperintensityPrior(map: NdArray, input: NdArray, q = 90): NdArray<Float64Array> {
  check(input, map);
  const t = percentile(input.data as ArrayLike<number>, q);
  const out = new Float64Array(map.data.length);
  for (let i = 0; i < out.length; i++) out[i] = (input.data[i] as number) < t ? 0 : (map.data[i] as number);
  return { data: out, shape: [...map.shape] };
}

/** Min-max normalisation to [0, 1] (Wolleb's `minmax` before AUROC); a constant map gives zeros. */
export function minMaxNormalize(map: ArrayLike<number>): Float64Array {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < map.length; i++) {
    if (map[i]! < lo) lo = map[i]!;
    if (map[i]! > hi) hi = map[i]!;
  }
  const out = new Float64Array(map.length);
  const r = hi - lo;
  for (let i = 0; i < map.length; i++) out[i] = r > 0 ? (map[i]! - lo) / r : 0;
  return out;
}
