/**
 * guided-diffusion timestep respacing (`guided_diffusion/respace.py` `space_timesteps`).
 */
import { ArgumentError } from '../errors.js';

/** A respacing spec: `"ddimN"` (integer stride), `"a,b,c"` (per-section counts), a count or a list of counts. */
export type RespacingSpec = string | number | readonly number[];

/** Python's `round()` (round half to even) on a float64. */
function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * The sorted set of timesteps to keep from a process of `numTimesteps` steps (`space_timesteps`).
 *
 * - `"ddimN"`: the first integer stride i ≥ 1 with `len(range(0, T, i)) == N`, i.e. 0, i, 2i, …
 *   (`"ddim1000"` on T = 1000 is stride 1, the identity).
 * - `"10,15,20"` or `[10, 15, 20]`: T is split into equal sections (the first `T mod k` one step
 *   longer) and each section is strided with a fractional stride, rounded half-to-even as Python does.
 * - a number N or `"N"`: one section of N steps.
 */
export function spaceTimesteps(numTimesteps: number, spec: RespacingSpec): number[] {
  if (!Number.isInteger(numTimesteps) || numTimesteps < 1) {
    throw new ArgumentError('numTimesteps', `expected a positive integer, got ${numTimesteps}`);
  }
  let sectionCounts: number[];
  if (typeof spec === 'string') {
    const s = spec.trim();
    if (s.startsWith('ddim')) {
      const desired = Number(s.slice(4));
      if (!Number.isInteger(desired) || desired < 1) {
        throw new ArgumentError('spec', `'${spec}' is not of the form "ddimN" with a positive integer N`);
      }
      for (let i = 1; i < numTimesteps; i++) {
        if (Math.ceil(numTimesteps / i) === desired) {
          return Array.from({ length: desired }, (_, k) => k * i);
        }
      }
      throw new ArgumentError(
        'spec',
        `cannot create exactly ${desired} steps out of ${numTimesteps} with an integer stride`,
      );
    }
    sectionCounts = s.split(',').map((x) => Number(x.trim()));
  } else if (typeof spec === 'number') {
    sectionCounts = [spec];
  } else if (Array.isArray(spec)) {
    sectionCounts = [...spec];
  } else {
    throw new ArgumentError('spec', `expected a string, number or number array, got ${typeof spec}`);
  }
  if (sectionCounts.length === 0 || sectionCounts.some((c) => !Number.isInteger(c) || c < 0)) {
    throw new ArgumentError('spec', `'${String(spec)}' is not a list of non-negative integer section counts`);
  }
  const sizePer = Math.floor(numTimesteps / sectionCounts.length);
  const extra = numTimesteps % sectionCounts.length;
  let startIdx = 0;
  const all = new Set<number>();
  sectionCounts.forEach((sectionCount, i) => {
    const size = sizePer + (i < extra ? 1 : 0);
    if (size < sectionCount) {
      throw new ArgumentError('spec', `cannot divide section ${i} of ${size} steps into ${sectionCount}`);
    }
    const fracStride = sectionCount <= 1 ? 1 : (size - 1) / (sectionCount - 1);
    let curIdx = 0.0;
    for (let k = 0; k < sectionCount; k++) {
      all.add(startIdx + roundHalfEven(curIdx));
      curIdx += fracStride;
    }
    startIdx += size;
  });
  if (all.size === 0) throw new ArgumentError('spec', `'${String(spec)}' keeps no timesteps`);
  return [...all].sort((a, b) => a - b);
}
