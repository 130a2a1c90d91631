/**
 * Small float64 4x4 / 3x3 matrix helpers and nibabel's orientation functions
 * (`nibabel.orientations.io_orientation`, `aff2axcodes`, `inv_ornt_aff`) used to reorient volumes to RAS+.
 */

/** A 4x4 affine as row-major nested arrays (voxel index [i, j, k, 1] → world mm, RAS+ for NIfTI). */
export type Affine = number[][];

export function identityAffine(): Affine {
  return [
    [1, 0, 0, 0],
    [0, 1, 0, 0],
    [0, 0, 1, 0],
    [0, 0, 0, 1],
  ];
}

export function matmul4(a: Affine, b: Affine): Affine {
  const out: Affine = [];
  for (let r = 0; r < 4; r++) {
    const row: number[] = [];
    for (let c = 0; c < 4; c++) {
      let s = 0;
      for (let k = 0; k < 4; k++) s += a[r]![k]! * b[k]![c]!;
      row.push(s);
    }
    out.push(row);
  }
  return out;
}

/** Applies an affine to a point. */
export function applyAffine(a: Affine, p: readonly number[]): [number, number, number] {
  const x = p[0] ?? 0;
  const y = p[1] ?? 0;
  const z = p[2] ?? 0;
  return [
    a[0]![0]! * x + a[0]![1]! * y + a[0]![2]! * z + a[0]![3]!,
    a[1]![0]! * x + a[1]![1]! * y + a[1]![2]! * z + a[1]![3]!,
    a[2]![0]! * x + a[2]![1]! * y + a[2]![2]! * z + a[2]![3]!,
  ];
}

export function det3(m: number[][]): number {
  return (
    m[0]![0]! * (m[1]![1]! * m[2]![2]! - m[1]![2]! * m[2]![1]!) -
    m[0]![1]! * (m[1]![0]! * m[2]![2]! - m[1]![2]! * m[2]![0]!) +
    m[0]![2]! * (m[1]![0]! * m[2]![1]! - m[1]![1]! * m[2]![0]!)
  );
}

export function inv3(m: number[][]): number[][] {
  const d = det3(m);
  const [a, b, c] = m[0]!;
  const [e, f, g] = m[1]!;
  const [h, i, j] = m[2]!;
  return [
    [(f! * j! - g! * i!) / d, (c! * i! - b! * j!) / d, (b! * g! - c! * f!) / d],
    [(g! * h! - e! * j!) / d, (a! * j! - c! * h!) / d, (c! * e! - a! * g!) / d],
    [(e! * i! - f! * h!) / d, (b! * h! - a! * i!) / d, (a! * f! - b! * e!) / d],
  ];
}

/** Inverse of an affine (upper 3x3 inverted, translation mapped). */
export function invertAffine(a: Affine): Affine {
  const m = [a[0]!.slice(0, 3), a[1]!.slice(0, 3), a[2]!.slice(0, 3)];
  const mi = inv3(m);
  const t = [a[0]![3]!, a[1]![3]!, a[2]![3]!];
  const out: Affine = [];
  for (let r = 0; r < 3; r++) {
    out.push([mi[r]![0]!, mi[r]![1]!, mi[r]![2]!, -(mi[r]![0]! * t[0]! + mi[r]![1]! * t[1]! + mi[r]![2]! * t[2]!)]);
  }
  out.push([0, 0, 0, 1]);
  return out;
}

function transpose3(m: number[][]): number[][] {
  return [0, 1, 2].map((r) => [0, 1, 2].map((c) => m[c]![r]!));
}

/**
 * Closest orthogonal matrix to `m` (the polar factor, what nibabel obtains as `P @ Qs` from an SVD), by the Newton
 * iteration R ← (R + R^-T) / 2. Returns null for a singular matrix.
 */
export function polarOrthogonal(m: number[][]): number[][] | null {
  let r = m.map((row) => row.slice());
  if (Math.abs(det3(r)) < 1e-12) return null;
  for (let it = 0; it < 100; it++) {
    const rit = transpose3(inv3(r));
    let change = 0;
    const next = r.map((row, i) =>
      row.map((v, j) => {
        const n = 0.5 * (v + rit[i]![j]!);
        change = Math.max(change, Math.abs(n - v));
        return n;
      }),
    );
    r = next;
    if (change < 1e-15) break;
  }
  return r;
}

/** One row per input axis: [output axis, +1 | -1] (nibabel `io_orientation`). NaN rows for degenerate axes. */
export type Orientation = [number, number][];

/**
 * Port of `nibabel.orientations.io_orientation(affine)`: for each voxel axis, the world axis it is closest to and
 * the direction. Normalises the columns by the zooms, takes the closest shear-free matrix (polar decomposition)
 * and assigns axes greedily by largest absolute component, removing used world axes as it goes.
 */
export function ioOrientation(affine: Affine): Orientation {
  const rzs = [0, 1, 2].map((r) => [0, 1, 2].map((c) => affine[r]![c]!));
  const zooms = [0, 1, 2].map((c) => {
    const z = Math.hypot(rzs[0]![c]!, rzs[1]![c]!, rzs[2]![c]!);
    return z === 0 ? 1 : z;
  });
  const rs = rzs.map((row) => row.map((v, c) => v / zooms[c]!));
  const r = polarOrthogonal(rs) ?? rs;
  const ornt: Orientation = [];
  for (let inAx = 0; inAx < 3; inAx++) {
    const col = [r[0]![inAx]!, r[1]![inAx]!, r[2]![inAx]!];
    if (col.every((v) => Math.abs(v) < 1e-8)) {
      ornt.push([NaN, NaN]);
      continue;
    }
    let outAx = 0;
    for (let k = 1; k < 3; k++) if (Math.abs(col[k]!) > Math.abs(col[outAx]!)) outAx = k;
    ornt.push([outAx, col[outAx]! < 0 ? -1 : 1]);
    for (let c = 0; c < 3; c++) r[outAx]![c] = 0;
  }
  return ornt;
}

/** `nibabel.aff2axcodes(affine)` with labels (L,R), (P,A), (I,S): the direction each voxel axis points to. */
export function axcodes(affine: Affine): string[] {
  const labels = [
    ['L', 'R'],
    ['P', 'A'],
    ['I', 'S'],
  ];
  return ioOrientation(affine).map(([ax, dir]) => (Number.isNaN(ax) ? '?' : labels[ax]![dir === 1 ? 1 : 0]!));
}

/**
 * `nibabel.orientations.inv_ornt_aff(ornt, shape)`: the affine mapping indices of the reoriented array back to
 * indices of the original array, so that `newAffine = affine @ invOrntAff(ornt, shape)`.
 */
export function invOrntAff(ornt: Orientation, shape: readonly number[]): Affine {
  const m: Affine = [
    [0, 0, 0, 0],
    [0, 0, 0, 0],
    [0, 0, 0, 0],
    [0, 0, 0, 1],
  ];
  for (let inAx = 0; inAx < 3; inAx++) {
    const [outAx, flip] = ornt[inAx]!;
    const center = -(shape[inAx]! - 1) / 2;
    m[inAx]![outAx] = flip;
    m[inAx]![3] = flip * center - center;
  }
  return m;
}

/** Column norms of the upper 3x3 (voxel sizes implied by an affine). */
export function affineZooms(affine: Affine): [number, number, number] {
  const z = [0, 1, 2].map((c) => Math.hypot(affine[0]![c]!, affine[1]![c]!, affine[2]![c]!));
  return [z[0]!, z[1]!, z[2]!];
}

/** Builds an affine from ITK-style geometry: direction (3x3, columns = axis directions), spacing and origin. */
export function affineFromGeometry(
  direction: number[][],
  spacing: readonly number[],
  origin: readonly number[],
): Affine {
  const a = identityAffine();
  for (let r = 0; r < 3; r++) {
    for (let c = 0; c < 3; c++) a[r]![c] = direction[r]![c]! * spacing[c]!;
    a[r]![3] = origin[r]!;
  }
  return a;
}

/** nibabel `quat2mat` for a quaternion [w, x, y, z]. */
export function quat2mat(q: readonly number[]): number[][] {
  const [w, x, y, z] = q as [number, number, number, number];
  const nq = w * w + x * x + y * y + z * z;
  if (nq < 2.220446049250313e-16)
    return [
      [1, 0, 0],
      [0, 1, 0],
      [0, 0, 1],
    ];
  const s = 2.0 / nq;
  const X = x * s;
  const Y = y * s;
  const Z = z * s;
  const wX = w * X;
  const wY = w * Y;
  const wZ = w * Z;
  const xX = x * X;
  const xY = x * Y;
  const xZ = x * Z;
  const yY = y * Y;
  const yZ = y * Z;
  const zZ = z * Z;
  return [
    [1.0 - (yY + zZ), xY - wZ, xZ + wY],
    [xY + wZ, 1.0 - (xX + zZ), yZ - wX],
    [xZ - wY, yZ + wX, 1.0 - (xX + yY)],
  ];
}

/** Quaternion [w, x, y, z] (w ≥ 0) of a rotation matrix (Shepperd's method; same result as nibabel `mat2quat`). */
export function mat2quat(m: number[][]): [number, number, number, number] {
  const [m00, m01, m02] = m[0] as [number, number, number];
  const [m10, m11, m12] = m[1] as [number, number, number];
  const [m20, m21, m22] = m[2] as [number, number, number];
  const tr = m00 + m11 + m22;
  let w: number, x: number, y: number, z: number;
  if (tr > 0) {
    const s = Math.sqrt(tr + 1) * 2;
    w = 0.25 * s;
    x = (m21 - m12) / s;
    y = (m02 - m20) / s;
    z = (m10 - m01) / s;
  } else if (m00 > m11 && m00 > m22) {
    const s = Math.sqrt(1 + m00 - m11 - m22) * 2;
    w = (m21 - m12) / s;
    x = 0.25 * s;
    y = (m01 + m10) / s;
    z = (m02 + m20) / s;
  } else if (m11 > m22) {
    const s = Math.sqrt(1 + m11 - m00 - m22) * 2;
    w = (m02 - m20) / s;
    x = (m01 + m10) / s;
    y = 0.25 * s;
    z = (m12 + m21) / s;
  } else {
    const s = Math.sqrt(1 + m22 - m00 - m11) * 2;
    w = (m10 - m01) / s;
    x = (m02 + m20) / s;
    y = (m12 + m21) / s;
    z = 0.25 * s;
  }
  if (w < 0) return [-w, -x, -y, -z];
  return [w, x, y, z];
}
