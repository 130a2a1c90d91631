/**
 * Grey and binary morphology equal to scipy.ndimage (1.10): `grey_dilation`, `grey_erosion`,
 * `grey_closing`, `grey_opening` with a flat rectangular footprint (`size=`), and `binary_erosion`
 * with the cross / full structuring element, `iterations` and `border_value`, optionally per slice.
 */
import { MetricsArgumentError, checkOptionKeys } from '../errors.js';
import { type NdArray } from '../ndarray.js';
import { checkMode, perAxis3, shape3, windowTable, type BoundaryMode } from './boundary.js';

export interface GreyMorphologyOptions {
  /** Flat footprint size, one odd value or one per axis (e.g. THOR: `[13, 13]` on an image). */
  size: number | readonly number[];
  /** Default 'reflect' (scipy). THOR `get_region_anomaly_mask` uses 'nearest'. */
  mode?: BoundaryMode;
  cval?: number;
}

function runningExtreme(
  input: NdArray,
  options: GreyMorphologyOptions,
  max: boolean,
  fn: string,
): NdArray<Float64Array> {
  const dims = shape3('input', input);
  const sizes = perAxis3('options.size', options.size, input.shape.length, 1);
  for (const s of sizes) {
    if (!Number.isInteger(s) || s < 1 || s % 2 === 0) {
      // Even flat footprints shift the window by one in scipy (origin rules); only odd sizes are ported.
      throw new MetricsArgumentError('options.size', `${fn} supports odd sizes only, got [${sizes.join(', ')}]`);
    }
  }
  const mode = checkMode('options.mode', options.mode ?? 'reflect');
  const cval = options.cval ?? 0;
  let data: Float64Array = Float64Array.from(input.data as ArrayLike<number>);
  for (let axis = 0; axis < 3; axis++) {
    const size = sizes[axis]!;
    if (size === 1) continue;
    const n = dims[axis]!;
    const table = windowTable(n, size, mode);
    const stride = axis === 2 ? 1 : axis === 1 ? dims[2] : dims[1] * dims[2];
    const outer = axis === 0 ? 1 : axis === 1 ? dims[0] : dims[0] * dims[1];
    const out = new Float64Array(data.length);
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < stride; i++) {
        const base = o * n * stride + i;
        for (let j = 0; j < n; j++) {
          let acc = max ? -Infinity : Infinity;
          for (let k = 0; k < size; k++) {
            const s = table[j * size + k]!;
            const v = s < 0 ? cval : data[base + s * stride]!;
            if (max ? v > acc : v < acc) acc = v;
          }
          out[base + j * stride] = acc;
        }
      }
    }
    data = out;
  }
  return { data, shape: [...input.shape] };
}

/** `scipy.ndimage.grey_dilation(x, size)`: running maximum over a flat odd-sized window. */
export function greyDilation(input: NdArray, options: GreyMorphologyOptions): NdArray<Float64Array> {
  return runningExtreme(input, options, true, 'greyDilation');
}

/** `scipy.ndimage.grey_erosion(x, size)`: running minimum over a flat odd-sized window. */
export function greyErosion(input: NdArray, options: GreyMorphologyOptions): NdArray<Float64Array> {
  return runningExtreme(input, options, false, 'greyErosion');
}

/** `scipy.ndimage.grey_closing` = erosion(dilation(x)) with the same footprint and mode. */
export function greyClosing(input: NdArray, options: GreyMorphologyOptions): NdArray<Float64Array> {
  return greyErosion(greyDilation(input, options), options);
}

/** `scipy.ndimage.grey_opening` = dilation(erosion(x)). */
export function greyOpening(input: NdArray, options: GreyMorphologyOptions): NdArray<Float64Array> {
  return greyDilation(greyErosion(input, options), options);
}

export interface BinaryErosionOptions {
  /**
   * Structuring element: 'cross' (`generate_binary_structure(rank, 1)`, the default and the one
   * Baur and Behrendt use) or 'full' (`generate_binary_structure(rank, rank)`, a 3×3(×3) square).
   */
  structure?: 'cross' | 'full';
  /** Number of erosions (scipy `iterations`); ≤ 0 repeats until nothing changes, as scipy does. Default 1. */
  iterations?: number;
  /** Value of pixels outside the array (scipy `border_value`). Default 0. */
  borderValue?: 0 | 1;
  /**
   * Erode each 2-D slice orthogonal to this axis independently (the structuring element lies in the
   * slice plane). Behrendt erodes per axial slice. Omit to erode in all dimensions.
   */
  sliceAxis?: number;
}

/**
 * `scipy.ndimage.binary_erosion(mask > 0, structure, iterations, border_value)` on rank 1–3, or per
 * slice along `sliceAxis`. Returns a 0/1 Uint8Array.
 */
export function binaryErosion(mask: NdArray, options: BinaryErosionOptions = {}): NdArray<Uint8Array> {
  checkOptionKeys('binaryErosion', options, ['structure', 'iterations', 'borderValue', 'sliceAxis']);
  const dims = shape3('mask', mask);
  const rank = mask.shape.length;
  const iterations = options.iterations ?? 1;
  if (!Number.isInteger(iterations)) throw new MetricsArgumentError('options.iterations', 'must be an integer');
  const border = options.borderValue ?? 0;
  // Active axes in the padded [D,H,W] frame.
  const active = [false, false, false];
  for (let a = 0; a < rank; a++) active[3 - rank + a] = true;
  if (options.sliceAxis !== undefined) {
    const sa = options.sliceAxis;
    if (!Number.isInteger(sa) || sa < 0 || sa >= rank) {
      throw new MetricsArgumentError('options.sliceAxis', `must be an axis of the rank-${rank} mask, got ${sa}`);
    }
    active[3 - rank + sa] = false;
  }
  const nActive = active.filter(Boolean).length;
  const connectivity = (options.structure ?? 'cross') === 'cross' ? 1 : nActive;
  const offsets: [number, number, number][] = [];
  for (let dz = -1; dz <= 1; dz++)
    for (let dy = -1; dy <= 1; dy++)
      for (let dx = -1; dx <= 1; dx++) {
        const d = [dz, dy, dx];
        if (d.some((v, a) => v !== 0 && !active[a])) continue;
        const nz = d.filter((v) => v !== 0).length;
        if (nz === 0 || nz > connectivity) continue;
        offsets.push([dz, dy, dx]);
      }
  const [D, H, W] = dims;
  let cur = new Uint8Array(mask.data.length);
  for (let i = 0; i < cur.length; i++) cur[i] = (mask.data[i] as number) > 0 ? 1 : 0;
  let next = new Uint8Array(cur.length);
  for (let it = 0; iterations <= 0 || it < iterations; it++) {
    let changed = false;
    for (let z = 0; z < D; z++)
      for (let y = 0; y < H; y++)
        for (let x = 0; x < W; x++) {
          const i = (z * H + y) * W + x;
          let v = cur[i]!;
          if (v) {
            for (const [dz, dy, dx] of offsets) {
              const zz = z + dz;
              const yy = y + dy;
              const xx = x + dx;
              const inside = zz >= 0 && zz < D && yy >= 0 && yy < H && xx >= 0 && xx < W;
              if (!(inside ? cur[(zz * H + yy) * W + xx]! : border)) {
                v = 0;
                break;
              }
            }
          }
          next[i] = v;
          if (v !== cur[i]) changed = true;
        }
    [cur, next] = [next, cur];
    if (!changed) break;
  }
  return { data: cur, shape: [...mask.shape] };
}

/** Element-wise `map · mask` (mask > 0), e.g. multiplying an anomaly map by an eroded brain mask. */
export function applyMask(map: NdArray, mask: NdArray): NdArray<Float64Array> {
  if (map.data.length !== mask.data.length) {
    throw new MetricsArgumentError('mask', `has ${mask.data.length} elements, map has ${map.data.length}`);
  }
  const out = new Float64Array(map.data.length);
  for (let i = 0; i < out.length; i++) out[i] = (mask.data[i] as number) > 0 ? (map.data[i] as number) : 0;
  return { data: out, shape: [...map.shape] };
}
