/**
 * The Volume model (in the spirit of itk-wasm's `Image`): voxel data in NIfTI file order (first index fastest),
 * shape, spacing, origin, direction and the equivalent 4x4 affine (voxel → world mm, RAS+), plus free metadata.
 */
import { affineFromGeometry, affineZooms, axcodes, invOrntAff, ioOrientation, matmul4, type Affine } from './affine.js';
import { IoArgumentError } from './errors.js';

export type VoxelArray =
  Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array;

export interface Volume<T extends VoxelArray = VoxelArray> {
  /** Voxels, index `i + nx * (j + ny * (k + nz * t))` (NIfTI / Fortran order). */
  data: T;
  /** [nx, ny, nz] or [nx, ny, nz, nt]. */
  shape: number[];
  /** Voxel size per axis in mm (NIfTI pixdim[1..], or the affine's column norms). */
  spacing: number[];
  /** World position (mm, RAS+) of voxel [0, 0, 0]. */
  origin: [number, number, number];
  /** 3x3 row-major; column c is the unit world direction of voxel axis c. */
  direction: number[][];
  /** 4x4 voxel → world affine; equals direction · diag(spacing) with `origin` as translation. */
  affine: Affine;
  metadata: Record<string, unknown>;
}

/** Number of voxels of a shape. */
export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Builds a Volume from data + shape and either an affine or ITK-style geometry. Missing geometry defaults to an
 * identity direction, unit spacing and zero origin. `spacing` given together with `affine` overrides the reported
 * voxel sizes (as NIfTI pixdim does) without changing the affine.
 */
export function createVolume<T extends VoxelArray>(init: {
  data: T;
  shape: readonly number[];
  affine?: Affine;
  spacing?: readonly number[];
  origin?: readonly number[];
  direction?: number[][];
  metadata?: Record<string, unknown>;
}): Volume<T> {
  const shape = [...init.shape];
  if (shape.length < 2 || shape.length > 4 || shape.some((s) => !Number.isInteger(s) || s < 1)) {
    throw new IoArgumentError('shape', `expected 2 to 4 positive integers, got [${shape.join(', ')}]`);
  }
  while (shape.length < 3) shape.push(1);
  if (init.data.length !== numel(shape)) {
    throw new IoArgumentError(
      'data',
      `length ${init.data.length} does not match shape [${shape.join(', ')}] (${numel(shape)})`,
    );
  }
  let affine: Affine;
  if (init.affine) {
    affine = init.affine.map((r) => r.slice());
  } else {
    const dir = init.direction ?? [
      [1, 0, 0],
      [0, 1, 0],
      [0, 0, 1],
    ];
    const sp = [init.spacing?.[0] ?? 1, init.spacing?.[1] ?? 1, init.spacing?.[2] ?? 1];
    affine = affineFromGeometry(dir, sp, init.origin ?? [0, 0, 0]);
  }
  const zooms = affineZooms(affine);
  const spacing = init.spacing ? [...init.spacing] : [...zooms];
  while (spacing.length < shape.length) spacing.push(1);
  const direction = [0, 1, 2].map((r) => [0, 1, 2].map((c) => (zooms[c] === 0 ? 0 : affine[r]![c]! / zooms[c]!)));
  return {
    data: init.data,
    shape,
    spacing,
    origin: [affine[0]![3]!, affine[1]![3]!, affine[2]![3]!],
    direction,
    affine,
    metadata: { ...(init.metadata ?? {}) },
  };
}

/** A copy of `v` with new data (same length or same spatial grid with `shape`), keeping the geometry. */
export function withData<T extends VoxelArray>(v: Volume, data: T, shape: readonly number[] = v.shape): Volume<T> {
  return createVolume({
    data,
    shape,
    affine: v.affine,
    spacing: v.spacing.slice(0, shape.length),
    metadata: v.metadata,
  });
}

/** Voxel value at [i, j, k(, t)]. */
export function voxel(v: Volume, index: readonly number[]): number {
  let off = 0;
  let stride = 1;
  for (let a = 0; a < v.shape.length; a++) {
    off += (index[a] ?? 0) * stride;
    stride *= v.shape[a]!;
  }
  return v.data[off]!;
}

/** Orientation letters of the volume's axes, e.g. ['R', 'A', 'S'] (nibabel `aff2axcodes`). */
export function volumeAxcodes(v: Volume): string[] {
  return axcodes(v.affine);
}

/** True when two volumes share the same voxel grid (shape and affine within `tol`). */
export function sameGeometry(a: Volume, b: Volume, tol = 1e-6): boolean {
  if (a.shape.length < 3 || b.shape.length < 3) return false;
  for (let d = 0; d < 3; d++) if (a.shape[d] !== b.shape[d]) return false;
  for (let r = 0; r < 4; r++)
    for (let c = 0; c < 4; c++) if (Math.abs(a.affine[r]![c]! - b.affine[r]![c]!) > tol) return false;
  return true;
}

function allocLike(data: VoxelArray, n: number): VoxelArray {
  const C = data.constructor as new (n: number) => VoxelArray;
  return new C(n);
}

/**
 * `nibabel.as_closest_canonical(img)`: flips and permutes the first three axes so that the voxel axes point to
 * R, A, S (closest axes of the affine), with `affine @ inv_ornt_aff(ornt, shape)` as new affine. Returns the input
 * unchanged when it is already RAS. Trailing (time) axes are kept.
 */
export function toCanonical<T extends VoxelArray>(v: Volume<T>): Volume<T> {
  const ornt = ioOrientation(v.affine);
  if (ornt.some(([ax]) => Number.isNaN(ax))) {
    throw new IoArgumentError('volume.affine', 'has a degenerate (zero) axis; cannot reorient to RAS');
  }
  if (ornt.every(([ax, dir], i) => ax === i && dir === 1)) return v;
  const shape = v.shape;
  const newShape = shape.slice();
  for (let i = 0; i < 3; i++) newShape[ornt[i]![0]] = shape[i]!;
  const [nx, ny, nz] = shape as [number, number, number];
  const nt = shape[3] ?? 1;
  const out = allocLike(v.data, v.data.length) as T;
  // strides of the new array, indexed by old axis
  const newStrides = [1, newShape[0]!, newShape[0]! * newShape[1]!];
  const sOld = [0, 1, 2].map((i) => newStrides[ornt[i]![0]]!);
  const flips = [0, 1, 2].map((i) => ornt[i]![1] === -1);
  const vol3 = nx * ny * nz;
  for (let t = 0; t < nt; t++) {
    const base = t * vol3;
    let src = base;
    for (let k = 0; k < nz; k++) {
      const kk = flips[2] ? nz - 1 - k : k;
      for (let j = 0; j < ny; j++) {
        const jj = flips[1] ? ny - 1 - j : j;
        const rowOff = base + jj * sOld[1]! + kk * sOld[2]!;
        for (let i = 0; i < nx; i++) {
          const ii = flips[0] ? nx - 1 - i : i;
          out[rowOff + ii * sOld[0]!] = v.data[src++]!;
        }
      }
    }
  }
  const affine = matmul4(v.affine, invOrntAff(ornt, shape));
  const spacing = v.spacing.slice();
  for (let i = 0; i < 3; i++) spacing[ornt[i]![0]] = v.spacing[i]!;
  return createVolume({
    data: out,
    shape: newShape,
    affine,
    spacing,
    metadata: { ...v.metadata, reorientedFrom: ornt.map((o) => [...o]) },
  });
}
