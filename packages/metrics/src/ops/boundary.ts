/**
 * scipy.ndimage boundary modes and the rank-≤3 layout shared by the filters. Every operation works
 * on a C-order array of rank 1, 2 or 3, internally padded to `[D, H, W]` with leading 1s.
 */
import { MetricsArgumentError } from '../errors.js';
import { checkNdArray, type NdArray } from '../ndarray.js';

/**
 * scipy.ndimage `mode`: 'reflect' (d c b a | a b c d | d c b a, scipy's default), 'mirror'
 * (d c b | a b c d | c b a), 'nearest' (a a a | a b c d | d d d), 'wrap' and 'constant' (cval).
 */
export type BoundaryMode = 'reflect' | 'mirror' | 'nearest' | 'wrap' | 'constant';

const MODES: readonly BoundaryMode[] = ['reflect', 'mirror', 'nearest', 'wrap', 'constant'];

/** Maps a possibly out-of-range index onto [0, n) for `mode`; -1 means "use cval" (constant). */
export function mapIndex(i: number, n: number, mode: BoundaryMode): number {
  if (i >= 0 && i < n) return i;
  switch (mode) {
    case 'nearest':
      return i < 0 ? 0 : n - 1;
    case 'wrap':
      return ((i % n) + n) % n;
    case 'constant':
      return -1;
    case 'reflect': {
      const p = 2 * n;
      let j = ((i % p) + p) % p;
      if (j >= n) j = p - 1 - j;
      return j;
    }
    case 'mirror': {
      if (n === 1) return 0;
      const p = 2 * n - 2;
      let j = ((i % p) + p) % p;
      if (j >= n) j = p - j;
      return j;
    }
  }
}

export function checkMode(argument: string, mode: string): BoundaryMode {
  if (!MODES.includes(mode as BoundaryMode)) {
    throw new MetricsArgumentError(argument, `unknown mode '${mode}' (allowed: ${MODES.join(', ')})`);
  }
  return mode as BoundaryMode;
}

/** Validates rank 1–3 and returns the shape padded to [D, H, W]. */
export function shape3(argument: string, arr: NdArray): [number, number, number] {
  checkNdArray(argument, arr, [1, 2, 3]);
  const s = arr.shape;
  if (s.length === 1) return [1, 1, s[0]!];
  if (s.length === 2) return [1, s[0]!, s[1]!];
  return [s[0]!, s[1]!, s[2]!];
}

/** Expands a per-axis parameter (number or one value per axis of the original rank) to 3 axes. */
export function perAxis3(argument: string, value: number | readonly number[], rank: number, pad: number): number[] {
  const v = typeof value === 'number' ? new Array<number>(rank).fill(value) : [...value];
  if (v.length !== rank)
    throw new MetricsArgumentError(argument, `expected ${rank} values (one per axis), got ${v.length}`);
  while (v.length < 3) v.unshift(pad);
  return v;
}

/** Table t[i*size + k] = source index of window tap k at output index i along an axis of length n. */
export function windowTable(n: number, size: number, mode: BoundaryMode): Int32Array {
  const t = new Int32Array(n * size);
  const half = Math.floor(size / 2);
  for (let i = 0; i < n; i++) for (let k = 0; k < size; k++) t[i * size + k] = mapIndex(i + k - half, n, mode);
  return t;
}
