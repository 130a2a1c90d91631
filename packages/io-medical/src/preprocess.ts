/**
 * Geometry and intensity preprocessing on Volumes, as the papers prepare their data:
 * - reorientation to RAS+ (`toCanonical`, nibabel `as_closest_canonical`, in volume.ts);
 * - resampling to a spacing (trilinear for images, nearest for labels; torchio `Resample` keeps the field of view)
 *   and resampling onto any reference grid through the affines (how anomaly maps go back to the scan's grid);
 * - centred crop/pad (torchio `CropOrPad`: ceil(d/2) before, floor(d/2) after);
 * - percentile rescaling inside a brain mask (torchio `RescaleIntensity(out_min_max, percentiles, masking_method)`,
 *   numpy linear percentiles), brain mask from nonzero voxels;
 * - slice extraction along an axis and re-stacking; 2D pad-to-square + resize as THOR's PNG pipeline.
 */
import { affineZooms, invertAffine, matmul4, type Affine } from './affine.js';
import { IoArgumentError } from './errors.js';
import type { Image2D } from './image2d.js';
import { createVolume, numel, toCanonical, type Volume, type VoxelArray } from './volume.js';

export type Interpolation = 'linear' | 'nearest' | 'bspline';

/**
 * Cubic B-spline coefficients of a 3-D grid, in place (Unser's recursive prefilter with pole √3 − 2 and mirror
 * boundaries, as ITK's `BSplineDecompositionImageFilter` used by SimpleITK / torchio B-spline resampling).
 */
function bsplineCoefficients(data: ArrayLike<number>, shape: readonly number[]): Float64Array {
  const [nx, ny, nz] = shape as [number, number, number];
  const c = Float64Array.from(data as ArrayLike<number>).subarray(0, nx * ny * nz);
  const z = Math.sqrt(3) - 2;
  const lambda = (1 - z) * (1 - 1 / z);
  const tol = 1e-10;
  const horizonMax = Math.ceil(Math.log(tol) / Math.log(Math.abs(z)));
  const line = new Float64Array(Math.max(nx, ny, nz));
  const filter = (n: number) => {
    if (n < 2) return;
    for (let i = 0; i < n; i++) line[i] = line[i]! * lambda;
    // causal initialisation (mirror boundary): truncated sum for long lines, exact mirror sum for short ones
    if (horizonMax < n) {
      let sum = line[0]!;
      let zn = z;
      for (let i = 1; i < horizonMax; i++) {
        sum += zn * line[i]!;
        zn *= z;
      }
      line[0] = sum;
    } else {
      let zn = z;
      const iz = 1 / z;
      let z2n = Math.pow(z, n - 1);
      let sum = line[0]! + z2n * line[n - 1]!;
      z2n *= z2n * iz;
      for (let i = 1; i <= n - 2; i++) {
        sum += (zn + z2n) * line[i]!;
        zn *= z;
        z2n *= iz;
      }
      line[0] = sum / (1 - zn * zn);
    }
    for (let i = 1; i < n; i++) line[i] = line[i]! + z * line[i - 1]!;
    // anti-causal initialisation
    line[n - 1] = (z / (z * z - 1)) * (z * line[n - 2]! + line[n - 1]!);
    for (let i = n - 2; i >= 0; i--) line[i] = z * (line[i + 1]! - line[i]!);
  };
  const strides = [1, nx, nx * ny];
  for (let axis = 0; axis < 3; axis++) {
    const n = shape[axis]!;
    if (n < 2) continue;
    const st = strides[axis]!;
    const others = [0, 1, 2].filter((a) => a !== axis);
    const [a0, a1] = others as [number, number];
    for (let q = 0; q < shape[a1]!; q++) {
      for (let p = 0; p < shape[a0]!; p++) {
        const base = p * strides[a0]! + q * strides[a1]!;
        for (let i = 0; i < n; i++) line[i] = c[base + i * st]!;
        filter(n);
        for (let i = 0; i < n; i++) c[base + i * st] = line[i]!;
      }
    }
  }
  return c;
}

/** Cubic B-spline weights of the 4 neighbours starting at floor(x) − 1. */
function bsplineWeights(x: number, w: Float64Array): number {
  const i0 = Math.floor(x) - 1;
  const t = x - Math.floor(x);
  w[0] = ((1 - t) * (1 - t) * (1 - t)) / 6;
  w[1] = (4 - 6 * t * t + 3 * t * t * t) / 6;
  const s = 1 - t;
  w[2] = (4 - 6 * s * s + 3 * s * s * s) / 6;
  w[3] = (t * t * t) / 6;
  return i0;
}

function mirror(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  let m = Math.abs(i) % period;
  if (m >= n) m = period - m;
  return m;
}

/** numpy `percentile(values, q)` with the default 'linear' method. Sorts a copy. */
export function percentile(values: ArrayLike<number>, q: number): number {
  const arr = Float64Array.from(values as ArrayLike<number>).sort();
  return percentileSorted(arr, q);
}

function percentileSorted(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) throw new IoArgumentError('values', 'is empty');
  if (!(q >= 0 && q <= 100)) throw new IoArgumentError('q', `must be in [0, 100], got ${q}`);
  const pos = (q / 100) * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  const frac = pos - lo;
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * frac;
}

/** Binary mask (1 where |value| > threshold) of the first 3-D frame, same grid. */
export function brainMaskFromNonzero(volume: Volume, threshold = 0): Volume<Uint8Array> {
  const n = volume.shape[0]! * volume.shape[1]! * volume.shape[2]!;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.abs(volume.data[i]!) > threshold ? 1 : 0;
  return createVolume({
    data: out,
    shape: volume.shape.slice(0, 3),
    affine: volume.affine,
    spacing: volume.spacing.slice(0, 3),
    metadata: { ...volume.metadata, kind: 'brainMask' },
  });
}

export interface PercentileNormalizeOptions {
  /** Percentiles are taken inside this mask (voxels > 0); default: all voxels. */
  mask?: Volume;
  lower?: number;
  upper?: number;
  outMin?: number;
  outMax?: number;
}

/**
 * torchio `RescaleIntensity(out_min_max=(outMin, outMax), percentiles=(lower, upper), masking_method=mask)`:
 * the cut-offs are numpy percentiles of the masked voxels; the whole image is clipped to them and linearly mapped
 * to [outMin, outMax]. Defaults: 1st/99th percentile → [0, 1] (Behrendt et al.'s IXI/BraTS/MSLUB pipeline).
 */
export function percentileNormalize(volume: Volume, options: PercentileNormalizeOptions = {}): Volume<Float32Array> {
  const { lower = 1, upper = 99, outMin = 0, outMax = 1, mask } = options;
  const n = volume.data.length;
  let values: Float64Array;
  if (mask) {
    if (mask.data.length !== volume.shape[0]! * volume.shape[1]! * volume.shape[2]!) {
      throw new IoArgumentError(
        'mask',
        `grid [${mask.shape.join(', ')}] does not match the volume [${volume.shape.join(', ')}]`,
      );
    }
    let count = 0;
    for (let i = 0; i < mask.data.length; i++) if (mask.data[i]! > 0) count++;
    if (count === 0) throw new IoArgumentError('mask', 'is empty: no voxel to take percentiles from');
    values = new Float64Array(count);
    let c = 0;
    for (let i = 0; i < mask.data.length; i++) if (mask.data[i]! > 0) values[c++] = volume.data[i]!;
  } else {
    values = Float64Array.from(volume.data as ArrayLike<number>);
  }
  values.sort();
  const lo = percentileSorted(values, lower);
  const hi = percentileSorted(values, upper);
  const out = new Float32Array(n);
  const range = hi - lo;
  for (let i = 0; i < n; i++) {
    const v = Math.min(hi, Math.max(lo, volume.data[i]!));
    out[i] = range > 0 ? ((v - lo) / range) * (outMax - outMin) + outMin : outMin;
  }
  return createVolume({
    data: out,
    shape: volume.shape,
    affine: volume.affine,
    spacing: volume.spacing,
    metadata: { ...volume.metadata, percentileCutoffs: [lo, hi] },
  });
}

function alloc(like: VoxelArray, n: number): VoxelArray {
  const C = like.constructor as new (n: number) => VoxelArray;
  return new C(n);
}

/**
 * Centred crop or pad of the first three axes to `shape` (torchio `CropOrPad`, padding with `padValue`). The affine is
 * shifted so that every kept voxel keeps its world position.
 */
export function cropOrPad<T extends VoxelArray>(volume: Volume<T>, shape: readonly number[], padValue = 0): Volume<T> {
  if (shape.length !== 3 || shape.some((s) => !Number.isInteger(s) || s < 1)) {
    throw new IoArgumentError('shape', `expected 3 positive integers, got [${shape.join(', ')}]`);
  }
  const [sx, sy, sz] = volume.shape as [number, number, number];
  const nt = volume.shape[3] ?? 1;
  // start[d]: index in the source of target voxel 0 (negative when padding)
  const start = [0, 1, 2].map((d) => {
    const diff = shape[d]! - volume.shape[d]!;
    return diff >= 0 ? -Math.ceil(diff / 2) : Math.ceil(-diff / 2);
  });
  const [tx, ty, tz] = shape as [number, number, number];
  const out = alloc(volume.data, tx * ty * tz * nt) as T;
  out.fill(padValue);
  for (let t = 0; t < nt; t++) {
    for (let k = 0; k < tz; k++) {
      const kk = k + start[2]!;
      if (kk < 0 || kk >= sz) continue;
      for (let j = 0; j < ty; j++) {
        const jj = j + start[1]!;
        if (jj < 0 || jj >= sy) continue;
        const i0 = Math.max(0, -start[0]!);
        const i1 = Math.min(tx, sx - start[0]!);
        if (i1 <= i0) continue;
        const src = ((t * sz + kk) * sy + jj) * sx + start[0]!;
        const dst = ((t * tz + k) * ty + j) * tx;
        out.set(volume.data.subarray(src + i0, src + i1), dst + i0);
      }
    }
  }
  const shift: Affine = [
    [1, 0, 0, start[0]!],
    [0, 1, 0, start[1]!],
    [0, 0, 1, start[2]!],
    [0, 0, 0, 1],
  ];
  const newShape = [tx, ty, tz, ...(volume.shape.length > 3 ? [nt] : [])];
  return createVolume({
    data: out,
    shape: newShape,
    affine: matmul4(volume.affine, shift),
    spacing: volume.spacing,
    metadata: volume.metadata,
  });
}

/**
 * Resamples `volume` onto the voxel grid of `reference` (shape + affine), through world coordinates. Linear:
 * trilinear; nearest: rounding; bspline: cubic B-spline with mirror boundaries (ITK/SimpleITK `sitkBSpline`, what
 * torchio `Resample` uses for images). Points more than half a voxel outside the source get `fill`. Only the first
 * 3-D frame is resampled.
 */
export function resampleToReference(
  volume: Volume,
  reference: { shape: readonly number[]; affine: Affine; spacing?: readonly number[] },
  options: { interpolation?: Interpolation; fill?: number } = {},
): Volume<Float32Array> {
  const interpolation = options.interpolation ?? 'linear';
  const fill = options.fill ?? 0;
  const [tx, ty, tz] = reference.shape as [number, number, number];
  const m = matmul4(invertAffine(volume.affine), reference.affine);
  const [sx, sy, sz] = volume.shape as [number, number, number];
  const src = volume.data;
  const out = new Float32Array(tx * ty * tz);
  const coef = interpolation === 'bspline' ? bsplineCoefficients(src, [sx, sy, sz]) : null;
  const wx = new Float64Array(4);
  const wy = new Float64Array(4);
  const wz = new Float64Array(4);
  let o = 0;
  for (let k = 0; k < tz; k++) {
    for (let j = 0; j < ty; j++) {
      const bx = m[0]![1]! * j + m[0]![2]! * k + m[0]![3]!;
      const by = m[1]![1]! * j + m[1]![2]! * k + m[1]![3]!;
      const bz = m[2]![1]! * j + m[2]![2]! * k + m[2]![3]!;
      for (let i = 0; i < tx; i++, o++) {
        const x = bx + m[0]![0]! * i;
        const y = by + m[1]![0]! * i;
        const z = bz + m[2]![0]! * i;
        if (x < -0.5 || y < -0.5 || z < -0.5 || x > sx - 0.5 || y > sy - 0.5 || z > sz - 0.5) {
          out[o] = fill;
          continue;
        }
        if (interpolation === 'nearest') {
          const xi = Math.min(sx - 1, Math.max(0, Math.round(x)));
          const yi = Math.min(sy - 1, Math.max(0, Math.round(y)));
          const zi = Math.min(sz - 1, Math.max(0, Math.round(z)));
          out[o] = src[(zi * sy + yi) * sx + xi]!;
          continue;
        }
        if (coef) {
          const ix = bsplineWeights(x, wx);
          const iy = bsplineWeights(y, wy);
          const iz = bsplineWeights(z, wz);
          let acc = 0;
          for (let c = 0; c < 4; c++) {
            const zz = mirror(iz + c, sz) * sy;
            for (let b = 0; b < 4; b++) {
              const yy = (zz + mirror(iy + b, sy)) * sx;
              const wyz = wz[c]! * wy[b]!;
              for (let a = 0; a < 4; a++) acc += wyz * wx[a]! * coef[yy + mirror(ix + a, sx)]!;
            }
          }
          out[o] = acc;
          continue;
        }
        const xc = Math.min(sx - 1, Math.max(0, x));
        const yc = Math.min(sy - 1, Math.max(0, y));
        const zc = Math.min(sz - 1, Math.max(0, z));
        const x0 = Math.floor(xc);
        const y0 = Math.floor(yc);
        const z0 = Math.floor(zc);
        const x1 = Math.min(x0 + 1, sx - 1);
        const y1 = Math.min(y0 + 1, sy - 1);
        const z1 = Math.min(z0 + 1, sz - 1);
        const fx = xc - x0;
        const fy = yc - y0;
        const fz = zc - z0;
        const at = (a: number, b: number, c: number) => src[(c * sy + b) * sx + a]!;
        const c00 = at(x0, y0, z0) * (1 - fx) + at(x1, y0, z0) * fx;
        const c10 = at(x0, y1, z0) * (1 - fx) + at(x1, y1, z0) * fx;
        const c01 = at(x0, y0, z1) * (1 - fx) + at(x1, y0, z1) * fx;
        const c11 = at(x0, y1, z1) * (1 - fx) + at(x1, y1, z1) * fx;
        out[o] = (c00 * (1 - fy) + c10 * fy) * (1 - fz) + (c01 * (1 - fy) + c11 * fy) * fz;
      }
    }
  }
  return createVolume({
    data: out,
    shape: [tx, ty, tz],
    affine: reference.affine,
    spacing: reference.spacing?.slice(0, 3),
    metadata: volume.metadata,
  });
}

/**
 * Resamples to a voxel spacing (mm), keeping the field of view like torchio `Resample`: new size
 * round(size · old / new), and voxel 0 moved by (ratio − 1) / 2 old voxels so that the outer edges stay in place.
 */
export function resampleToSpacing(
  volume: Volume,
  spacing: readonly number[],
  options: { interpolation?: Interpolation } = {},
): Volume<Float32Array> {
  if (spacing.length !== 3 || spacing.some((s) => !(s > 0))) {
    throw new IoArgumentError('spacing', `expected 3 positive numbers, got [${spacing.join(', ')}]`);
  }
  // ratio against the affine's own voxel sizes (pixdim may disagree slightly with an sform)
  const zooms = affineZooms(volume.affine);
  const ratio = [0, 1, 2].map((d) => spacing[d]! / zooms[d]!);
  const shape = [0, 1, 2].map((d) => Math.max(1, Math.round(volume.shape[d]! / ratio[d]!)));
  const scale: Affine = [
    [ratio[0]!, 0, 0, (ratio[0]! - 1) / 2],
    [0, ratio[1]!, 0, (ratio[1]! - 1) / 2],
    [0, 0, ratio[2]!, (ratio[2]! - 1) / 2],
    [0, 0, 0, 1],
  ];
  return resampleToReference(volume, { shape, affine: matmul4(volume.affine, scale), spacing }, options);
}

/** In-plane axes (u = columns, v = rows) of a slice taken along `axis`. */
function planeAxes(axis: number): [number, number] {
  if (axis === 0) return [1, 2];
  if (axis === 1) return [0, 2];
  if (axis === 2) return [0, 1];
  throw new IoArgumentError('axis', `must be 0, 1 or 2, got ${axis}`);
}

export interface SliceOptions {
  /** Slice axis (default 2: axial for RAS volumes). */
  axis?: number;
  /** Time point of a 4-D volume (default 0). */
  t?: number;
  /** Flip rows so that the second in-plane axis runs downwards-to-upwards on screen (display convention). */
  flipVertical?: boolean;
}

/** Extracts one slice as an Image2D: columns along the lower remaining axis, rows along the higher one. */
export function extractSlice(volume: Volume, index: number, options: SliceOptions = {}): Image2D {
  const axis = options.axis ?? 2;
  const [u, v] = planeAxes(axis);
  const shape = volume.shape;
  if (!(index >= 0 && index < shape[axis]!))
    throw new IoArgumentError('index', `${index} outside [0, ${shape[axis]! - 1}] along axis ${axis}`);
  const strides = [1, shape[0]!, shape[0]! * shape[1]!];
  const base = (options.t ?? 0) * strides[2]! * shape[2]! + index * strides[axis]!;
  const w = shape[u]!;
  const h = shape[v]!;
  const data = new Float32Array(w * h);
  for (let r = 0; r < h; r++) {
    const rr = options.flipVertical ? h - 1 - r : r;
    for (let c = 0; c < w; c++) data[r * w + c] = volume.data[base + c * strides[u]! + rr * strides[v]!]!;
  }
  return { data, width: w, height: h };
}

/** All slices along an axis. */
export function extractSlices(volume: Volume, options: SliceOptions = {}): Image2D[] {
  const axis = options.axis ?? 2;
  return Array.from({ length: volume.shape[axis]! }, (_, i) => extractSlice(volume, i, options));
}

/**
 * Inverse of `extractSlices`: writes the slices back along `axis` into a Float32 volume on the reference grid
 * (shape and affine of the first three axes).
 */
export function stackSlices(
  slices: Image2D[],
  reference: Pick<Volume, 'shape' | 'affine' | 'spacing'>,
  options: SliceOptions = {},
): Volume<Float32Array> {
  const axis = options.axis ?? 2;
  const [u, v] = planeAxes(axis);
  const shape = reference.shape.slice(0, 3);
  if (slices.length !== shape[axis])
    throw new IoArgumentError(
      'slices',
      `has ${slices.length} slices, the reference has ${shape[axis]} along axis ${axis}`,
    );
  const strides = [1, shape[0]!, shape[0]! * shape[1]!];
  const data = new Float32Array(numel(shape));
  slices.forEach((s, index) => {
    if (s.width !== shape[u] || s.height !== shape[v]) {
      throw new IoArgumentError(`slices[${index}]`, `is ${s.width}×${s.height}, expected ${shape[u]}×${shape[v]}`);
    }
    const base = index * strides[axis]!;
    for (let r = 0; r < s.height; r++) {
      const rr = options.flipVertical ? s.height - 1 - r : r;
      for (let c = 0; c < s.width; c++) data[base + c * strides[u]! + rr * strides[v]!] = s.data[r * s.width + c]!;
    }
  });
  return createVolume({ data, shape, affine: reference.affine, spacing: reference.spacing.slice(0, 3) });
}

/** Bilinear (half-pixel centres, align_corners = False, no antialiasing) or nearest 2D resize. */
export function resize2D(
  image: Image2D,
  width: number,
  height: number,
  interpolation: Interpolation = 'linear',
): Image2D {
  const { width: w, height: h, data } = image;
  const out = new Float32Array(width * height);
  const sx = w / width;
  const sy = h / height;
  for (let r = 0; r < height; r++) {
    const y = Math.max(0, (r + 0.5) * sy - 0.5);
    for (let c = 0; c < width; c++) {
      const x = Math.max(0, (c + 0.5) * sx - 0.5);
      if (interpolation === 'nearest') {
        const xi = Math.min(w - 1, Math.floor((c + 0.5) * sx));
        const yi = Math.min(h - 1, Math.floor((r + 0.5) * sy));
        out[r * width + c] = data[yi * w + xi]!;
        continue;
      }
      const x0 = Math.min(Math.floor(x), w - 1);
      const y0 = Math.min(Math.floor(y), h - 1);
      const x1 = Math.min(x0 + 1, w - 1);
      const y1 = Math.min(y0 + 1, h - 1);
      const fx = x - x0;
      const fy = y - y0;
      const top = data[y0 * w + x0]! * (1 - fx) + data[y0 * w + x1]! * fx;
      const bot = data[y1 * w + x0]! * (1 - fx) + data[y1 * w + x1]! * fx;
      out[r * width + c] = top * (1 - fy) + bot * fy;
    }
  }
  return { data: out, width, height };
}

/** Pads to a centred square (THOR pads with the image minimum); returns the offsets for undoing it. */
export function padToSquare(image: Image2D, value?: number): { image: Image2D; left: number; top: number } {
  const size = Math.max(image.width, image.height);
  let fill = value;
  if (fill === undefined) {
    fill = Infinity;
    for (let i = 0; i < image.data.length; i++) if (image.data[i]! < fill) fill = image.data[i]!;
  }
  const left = Math.floor((size - image.width) / 2);
  const top = Math.floor((size - image.height) / 2);
  const data = new Float32Array(size * size).fill(fill);
  for (let r = 0; r < image.height; r++)
    data.set(image.data.subarray(r * image.width, (r + 1) * image.width), (r + top) * size + left);
  return { image: { data, width: size, height: size }, left, top };
}

/** Crops a rectangle out of an image. */
export function crop2D(image: Image2D, left: number, top: number, width: number, height: number): Image2D {
  const data = new Float32Array(width * height);
  for (let r = 0; r < height; r++)
    data.set(image.data.subarray((r + top) * image.width + left, (r + top) * image.width + left + width), r * width);
  return { data, width, height };
}

export interface SliceTransform {
  /** Model input (size × size). */
  image: Image2D;
  /** Maps an image on the model grid (e.g. an anomaly map) back to the original slice grid. */
  restore(map: Image2D, interpolation?: Interpolation): Image2D;
}

/**
 * THOR's 2D pipeline: pad to square (with the minimum or `padValue`), then bilinear resize to `size` × `size`;
 * `restore` undoes both on a map computed at model resolution.
 */
export function prepareSlice(
  image: Image2D,
  options: { size: number; padToSquare?: boolean; padValue?: number; interpolation?: Interpolation },
): SliceTransform {
  const { size } = options;
  const padded = options.padToSquare === false ? { image, left: 0, top: 0 } : padToSquare(image, options.padValue);
  const out = resize2D(padded.image, size, size, options.interpolation ?? 'linear');
  return {
    image: out,
    restore(map: Image2D, interpolation: Interpolation = 'linear') {
      const big = resize2D(map, padded.image.width, padded.image.height, interpolation);
      return options.padToSquare === false ? big : crop2D(big, padded.left, padded.top, image.width, image.height);
    },
  };
}

/** One step of a declared volume preprocessing pipeline. */
export type PreprocessStep =
  | { op: 'canonical' }
  | { op: 'resample'; spacing: [number, number, number]; interpolation?: 'linear' | 'bspline' }
  | { op: 'cropOrPad'; shape: [number, number, number]; padValue?: number }
  | { op: 'percentile'; lower?: number; upper?: number; outMin?: number; outMax?: number; useBrainMask?: boolean }
  | { op: 'maskImage' };

export interface SubjectVolumes {
  image: Volume;
  /** Lesion / segmentation labels (nearest-neighbour in every geometric step). */
  mask?: Volume;
  brainMask?: Volume;
}

export interface PreprocessedSubject {
  image: Volume<Float32Array>;
  mask?: Volume<Float32Array>;
  brainMask?: Volume<Float32Array>;
  /** Geometry of the input image: `mapToOriginal` resamples maps back onto it. */
  original: { shape: number[]; affine: Affine; spacing: number[] };
  steps: PreprocessStep[];
}

function toFloat(v: Volume): Volume<Float32Array> {
  if (v.data instanceof Float32Array) return v as Volume<Float32Array>;
  return createVolume({
    data: Float32Array.from(v.data as ArrayLike<number>),
    shape: v.shape,
    affine: v.affine,
    spacing: v.spacing,
    metadata: v.metadata,
  });
}

/**
 * Runs a declared pipeline on an image and its label volumes. Geometric steps apply to all of them (linear for the
 * image, nearest for masks); 'percentile' rescales the image inside the brain mask (or its nonzero voxels);
 * 'maskImage' zeroes the image outside the brain mask.
 */
export function preprocessSubject(subject: SubjectVolumes, steps: PreprocessStep[]): PreprocessedSubject {
  let image = toFloat(subject.image);
  let mask = subject.mask ? toFloat(subject.mask) : undefined;
  let brainMask = subject.brainMask ? toFloat(subject.brainMask) : undefined;
  const original = {
    shape: subject.image.shape.slice(0, 3),
    affine: subject.image.affine.map((r) => r.slice()),
    spacing: subject.image.spacing.slice(0, 3),
  };
  for (const step of steps) {
    switch (step.op) {
      case 'canonical':
        image = toCanonical(image);
        if (mask) mask = toCanonical(mask);
        if (brainMask) brainMask = toCanonical(brainMask);
        break;
      case 'resample':
        image = resampleToSpacing(image, step.spacing, { interpolation: step.interpolation ?? 'linear' });
        if (mask) mask = resampleToSpacing(mask, step.spacing, { interpolation: 'nearest' });
        if (brainMask) brainMask = resampleToSpacing(brainMask, step.spacing, { interpolation: 'nearest' });
        break;
      case 'cropOrPad':
        image = cropOrPad(image, step.shape, step.padValue ?? 0);
        if (mask) mask = cropOrPad(mask, step.shape, 0);
        if (brainMask) brainMask = cropOrPad(brainMask, step.shape, 0);
        break;
      case 'percentile':
        image = percentileNormalize(image, {
          ...step,
          mask: step.useBrainMask === false ? undefined : (brainMask ?? brainMaskFromNonzero(image)),
        });
        break;
      case 'maskImage': {
        const bm = brainMask ?? brainMaskFromNonzero(image);
        const d = image.data.slice();
        for (let i = 0; i < d.length; i++) if (!(bm.data[i % bm.data.length]! > 0)) d[i] = 0;
        image = createVolume({
          data: d,
          shape: image.shape,
          affine: image.affine,
          spacing: image.spacing,
          metadata: image.metadata,
        });
        break;
      }
      default:
        throw new IoArgumentError('steps', `unknown op ${JSON.stringify((step as { op: unknown }).op)}`);
    }
  }
  return { image, mask, brainMask, original, steps };
}

/** Resamples a map computed on the preprocessed grid back onto the original scan grid (world coordinates). */
export function mapToOriginal(
  map: Volume,
  subject: Pick<PreprocessedSubject, 'original'>,
  interpolation: Interpolation = 'linear',
): Volume<Float32Array> {
  return resampleToReference(map, subject.original, { interpolation, fill: 0 });
}

/**
 * Declared volume pipelines of the papers.
 * - `behrendt`: the load-time steps of Behrendt et al. (cDDPM / pDDPM, `conditioned.md` §3.3) on their offline
 *   preprocessed data (1 mm, registered to SRI24, skull-stripped): torchio `CropOrPad((192, 192, 100))`,
 *   `RescaleIntensity((0, 1), percentiles=(1, 99), masking_method='mask')`, `Resample(2)` with B-spline for images
 *   → 96×96×50. The curvature-flow denoising that precedes them is not implemented.
 */
export const PAPER_PIPELINES: Record<'behrendt', PreprocessStep[]> = {
  behrendt: [
    { op: 'cropOrPad', shape: [192, 192, 100] },
    { op: 'percentile', lower: 1, upper: 99, outMin: 0, outMax: 1 },
    { op: 'resample', spacing: [2, 2, 2], interpolation: 'bspline' },
  ],
};

/** THOR's 2-D step (`thor.md`): pad to a square with the image minimum, bilinear resize to 128×128. */
export const THOR_SLICE_RESIZE = { size: 128, padToSquare: true } as const;
