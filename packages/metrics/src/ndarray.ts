import { MetricsArgumentError } from './errors.js';

/** Numeric arrays accepted everywhere: typed arrays or plain number arrays. */
export type NumericArray =
  | Float64Array
  | Float32Array
  | Int32Array
  | Uint32Array
  | Int16Array
  | Uint16Array
  | Int8Array
  | Uint8Array
  | Uint8ClampedArray
  | readonly number[];

/**
 * An n-dimensional array in C order (last axis fastest), exactly as NumPy stores it. Volumes are
 * `[D, H, W]` and images `[H, W]` inside ADX; per-slice operations take an explicit `axis`.
 */
export interface NdArray<T extends NumericArray = NumericArray> {
  data: T;
  shape: readonly number[];
}

/** Number of elements of a shape. */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

/** C-order strides of a shape. */
export function stridesOf(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length).fill(1);
  for (let a = shape.length - 2; a >= 0; a--) strides[a] = strides[a + 1]! * shape[a + 1]!;
  return strides;
}

/** Validates that `arr.data.length` matches its shape (positive integer dims); returns the element count. */
export function checkNdArray(argument: string, arr: NdArray, rank?: number | readonly number[]): number {
  if (!arr || arr.data === undefined || !Array.isArray(arr.shape)) {
    throw new MetricsArgumentError(argument, 'expected an object {data, shape}');
  }
  if (rank !== undefined) {
    const ranks = typeof rank === 'number' ? [rank] : rank;
    if (!ranks.includes(arr.shape.length)) {
      throw new MetricsArgumentError(
        argument,
        `expected rank ${ranks.join(' or ')}, got shape [${arr.shape.join(', ')}]`,
      );
    }
  }
  for (const s of arr.shape) {
    if (!Number.isInteger(s) || s < 1) {
      throw new MetricsArgumentError(
        argument,
        `shape [${arr.shape.join(', ')}] has a non-positive or non-integer size`,
      );
    }
  }
  const n = numel(arr.shape);
  if (arr.data.length !== n) {
    throw new MetricsArgumentError(
      argument,
      `data has ${arr.data.length} elements but shape [${arr.shape.join(', ')}] needs ${n}`,
    );
  }
  return n;
}

/** Throws unless two arrays have the same shape. */
export function checkSameShape(nameA: string, a: NdArray, nameB: string, b: NdArray): void {
  if (a.shape.length !== b.shape.length || a.shape.some((s, i) => s !== b.shape[i])) {
    throw new MetricsArgumentError(
      nameB,
      `shape [${b.shape.join(', ')}] differs from ${nameA} shape [${a.shape.join(', ')}]`,
    );
  }
}

/** Throws unless two flat arrays have the same length (scikit-learn's "inconsistent numbers of samples"). */
export function checkSameLength(nameA: string, a: ArrayLike<number>, nameB: string, b: ArrayLike<number>): void {
  if (a.length !== b.length) {
    throw new MetricsArgumentError(
      nameB,
      `found input variables with inconsistent numbers of samples: ${nameA} has ${a.length}, ${nameB} has ${b.length}`,
    );
  }
}

/** Throws if any value is NaN or ±Infinity (scikit-learn: "Input contains NaN"). */
export function checkFinite(argument: string, a: ArrayLike<number>): void {
  for (let i = 0; i < a.length; i++) {
    const v = a[i]!;
    if (!Number.isFinite(v)) {
      throw new MetricsArgumentError(argument, `contains ${Number.isNaN(v) ? 'NaN' : 'infinity'} at index ${i}`);
    }
  }
}

/** `numpy.linspace(start, stop, num)` with NumPy's float64 arithmetic (step = (stop-start)/(num-1), last = stop). */
export function linspace(start: number, stop: number, num: number, endpoint = true): Float64Array {
  const out = new Float64Array(num);
  const div = endpoint ? num - 1 : num;
  const step = div > 0 ? (stop - start) / div : 0;
  for (let i = 0; i < num; i++) out[i] = start + i * step;
  if (endpoint && num > 1) out[num - 1] = stop;
  return out;
}

/** Mean and population standard deviation (NumPy `std`, ddof 0), ignoring NaN (`nanmean`/`nanstd`). */
export function nanMeanStd(values: ArrayLike<number>): { mean: number; std: number; n: number } {
  let n = 0;
  let s = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isNaN(v)) {
      s += v;
      n++;
    }
  }
  if (n === 0) return { mean: NaN, std: NaN, n: 0 };
  const mean = s / n;
  let ss = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isNaN(v)) ss += (v - mean) * (v - mean);
  }
  return { mean, std: Math.sqrt(ss / n), n };
}
