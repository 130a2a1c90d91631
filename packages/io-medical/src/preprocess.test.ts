import { describe, expect, it } from 'vitest';
import { applyAffine, axcodes } from './affine.js';
import { IoArgumentError } from './errors.js';
import {
  brainMaskFromNonzero,
  cropOrPad,
  extractSlice,
  extractSlices,
  mapToOriginal,
  PAPER_PIPELINES,
  percentile,
  percentileNormalize,
  prepareSlice,
  preprocessSubject,
  resampleToReference,
  resampleToSpacing,
  resize2D,
  stackSlices,
} from './preprocess.js';
import { createVolume, sameGeometry, toCanonical, voxel } from './volume.js';

const ramp = (shape: number[], f: (i: number, j: number, k: number) => number, affine?: number[][]) => {
  const [nx, ny, nz] = shape as [number, number, number];
  const data = new Float32Array(nx * ny * nz);
  for (let k = 0; k < nz; k++)
    for (let j = 0; j < ny; j++) for (let i = 0; i < nx; i++) data[i + nx * (j + ny * k)] = f(i, j, k);
  return createVolume({ data, shape, affine, spacing: affine ? undefined : [1, 1, 1] });
};

describe('percentiles (numpy linear)', () => {
  it('matches hand-computed numpy values', () => {
    expect(percentile([1, 2, 3, 4], 50)).toBe(2.5);
    expect(percentile([4, 1, 3, 2], 25)).toBe(1.75);
    expect(
      percentile(
        Array.from({ length: 100 }, (_, i) => i),
        1,
      ),
    ).toBeCloseTo(0.99, 12);
    expect(percentile([7], 99)).toBe(7);
    expect(() => percentile([], 50)).toThrowError(IoArgumentError);
  });
  it('percentileNormalize clips to the masked 1st/99th percentiles and maps to [0, 1]', () => {
    const v = ramp([10, 10, 1], (i, j) => i + 10 * j); // values 0..99
    const mask = createVolume({ data: new Uint8Array(100).map((_, p) => (p >= 50 ? 1 : 0)), shape: [10, 10, 1] });
    const out = percentileNormalize(v, { mask });
    // masked values 50..99: p1 = 50.49, p99 = 98.51
    const lo = 50 + 0.01 * 49;
    const hi = 50 + 0.99 * 49;
    expect(out.data[0]).toBe(0);
    expect(out.data[99]).toBe(1);
    expect(out.data[70]).toBeCloseTo((70 - lo) / (hi - lo), 6);
    expect(() =>
      percentileNormalize(v, { mask: createVolume({ data: new Uint8Array(100), shape: [10, 10, 1] }) }),
    ).toThrowError(/empty/);
  });
  it('brain mask from nonzero voxels', () => {
    const v = createVolume({ data: new Float32Array([0, 2, -1, 0]), shape: [2, 2, 1] });
    expect(Array.from(brainMaskFromNonzero(v).data)).toEqual([0, 1, 1, 0]);
  });
});

describe('geometry', () => {
  const affine = [
    [0, -2, 0, 10],
    [1.5, 0, 0, -3],
    [0, 0, 3, 7],
    [0, 0, 0, 1],
  ];
  it('cropOrPad keeps world positions (ceil(d/2) before, floor(d/2) after)', () => {
    const v = ramp([4, 5, 3], (i, j, k) => 1 + i + 10 * j + 100 * k, affine);
    const out = cropOrPad(v, [6, 2, 4]);
    expect(out.shape).toEqual([6, 2, 4]);
    // x: pad 2 → 1 before; y: crop 3 → 2 before; z: pad 1 → 1 before
    expect(voxel(out, [0, 0, 0])).toBe(0);
    expect(voxel(out, [1, 0, 1])).toBe(voxel(v, [0, 2, 0]));
    expect(voxel(out, [4, 1, 3])).toBe(voxel(v, [3, 3, 2]));
    expect(applyAffine(out.affine, [1, 0, 1])).toEqual(applyAffine(v.affine, [0, 2, 0]));
  });
  it('resampleToSpacing: linear is exact on a linear ramp, field of view kept', () => {
    const v = ramp([8, 6, 4], (i, j, k) => 2 * i - j + 0.5 * k);
    const out = resampleToSpacing(v, [2, 2, 2]);
    expect(out.shape).toEqual([4, 3, 2]);
    expect(out.spacing).toEqual([2, 2, 2]);
    // new voxel 0 sits at old continuous index 0.5 on every axis
    expect(applyAffine(out.affine, [0, 0, 0])).toEqual([0.5, 0.5, 0.5]);
    for (const idx of [
      [0, 0, 0],
      [3, 2, 1],
      [1, 2, 0],
    ]) {
      const [x, y, z] = idx.map((n) => 2 * n! + 0.5);
      expect(voxel(out, idx)).toBeCloseTo(2 * x! - y! + 0.5 * z!, 5);
    }
    const lab = ramp([4, 4, 4], (i) => (i >= 2 ? 3 : 1));
    const near = resampleToSpacing(lab, [0.5, 1, 1], { interpolation: 'nearest' });
    expect(new Set(near.data)).toEqual(new Set([1, 3]));
  });
  it('resampleToReference back onto the original grid restores a linear ramp', () => {
    const v = ramp([9, 7, 5], (i, j, k) => i + 2 * j + 3 * k);
    const down = resampleToSpacing(v, [1.5, 1.5, 1.5]);
    const back = resampleToReference(down, v);
    expect(sameGeometry(back, v)).toBe(true);
    expect(voxel(back, [4, 3, 2])).toBeCloseTo(4 + 6 + 6, 4);
  });
  it('cubic B-spline on a 1-D step matches the exact spline (tridiagonal solve with mirror ends)', () => {
    const n = 20;
    const v = createVolume({ data: new Float32Array(n).map((_, i) => (i >= 10 ? 1 : 0)), shape: [n, 1, 1] });
    const half = {
      shape: [2 * n - 1, 1, 1],
      affine: [
        [0.5, 0, 0, 0],
        [0, 1, 0, 0],
        [0, 0, 1, 0],
        [0, 0, 0, 1],
      ],
    };
    const r = resampleToReference(v, half, { interpolation: 'bspline' });
    // reference: numpy.linalg.solve of (c[k-1] + 4 c[k] + c[k+1]) / 6 = s[k] with c[-1] = c[1], c[n] = c[n-2],
    // evaluated at x = 7.5, 8, …, 11.5
    const expected = [0.0269, 0.0, -0.1005, 0.0, 0.5, 1.0, 1.1005, 1.0, 0.9731];
    expected.forEach((e, m) => expect(r.data[15 + m]!).toBeCloseTo(e, 4));
  });
  it('cubic B-spline: interpolates the samples exactly and beats linear on a smooth signal', () => {
    const f = (x: number, y: number, z: number) => Math.sin(0.5 * x) + Math.cos(0.4 * y) * 0.5 + 0.1 * z;
    const v = ramp([24, 12, 6], f); // x: longer than the prefilter horizon (truncated init), y/z: exact mirror init
    const same = resampleToReference(v, v, { interpolation: 'bspline' });
    for (let i = 0; i < v.data.length; i++) expect(Math.abs(same.data[i]! - v.data[i]!)).toBeLessThan(1e-5);
    const fine = {
      shape: [46, 22, 6],
      affine: [
        [0.5, 0, 0, 0],
        [0, 0.5, 0, 0],
        [0, 0, 1, 0],
        [0, 0, 0, 1],
      ],
    };
    const err = (interp: 'linear' | 'bspline') => {
      const r = resampleToReference(v, fine, { interpolation: interp });
      let e = 0;
      for (let k = 0; k < 6; k++)
        for (let j = 4; j < 18; j++)
          for (let i = 4; i < 42; i++) e = Math.max(e, Math.abs(voxel(r, [i, j, k]) - f(i / 2, j / 2, k)));
      return e;
    };
    expect(err('bspline')).toBeLessThan(err('linear') / 4);
  });
  it('slices along each axis re-stack to the identical volume', () => {
    const v = ramp([3, 4, 5], (i, j, k) => i + 10 * j + 100 * k, affine);
    for (const axis of [0, 1, 2]) {
      for (const flipVertical of [false, true]) {
        const s = extractSlices(v, { axis, flipVertical });
        const back = stackSlices(s, v, { axis, flipVertical });
        expect(Array.from(back.data)).toEqual(Array.from(v.data));
        expect(back.affine).toEqual(v.affine);
      }
    }
    const s = extractSlice(v, 2, { axis: 2 });
    expect([s.width, s.height]).toEqual([3, 4]);
    expect(s.data[1 * 3 + 2]).toBe(2 + 10 + 200); // row j=1, column i=2
  });
  it('2D resize and THOR pad-to-square pipeline restore shape; constant stays constant', () => {
    const img = { width: 4, height: 2, data: new Float32Array([0, 1, 2, 3, 4, 5, 6, 7]) };
    const up = resize2D(img, 8, 4);
    // half-pixel bilinear: output (0, 1) samples x = 0.25
    expect(up.data[1]).toBeCloseTo(0.25, 6);
    const t = prepareSlice(img, { size: 16 });
    expect([t.image.width, t.image.height]).toEqual([16, 16]);
    expect(Math.min(...t.image.data)).toBe(0);
    const restored = t.restore({ width: 16, height: 16, data: new Float32Array(256).fill(0.7) });
    expect([restored.width, restored.height]).toEqual([4, 2]);
    for (const v of restored.data) expect(v).toBeCloseTo(0.7, 6);
  });
});

describe('declared pipeline and mapping back', () => {
  it("Behrendt et al.'s load-time pipeline gives 96×96×50 at 2 mm in [0, 1]", () => {
    const image = ramp([40, 44, 30], (i, j, k) =>
      i > 4 && i < 36 && j > 4 && j < 40 && k > 2 && k < 28 ? 100 + i + j + k : 0,
    );
    const p = preprocessSubject({ image, brainMask: brainMaskFromNonzero(image) }, PAPER_PIPELINES.behrendt);
    expect(p.image.shape).toEqual([96, 96, 50]);
    expect(p.image.spacing).toEqual([2, 2, 2]);
    expect(p.brainMask!.shape).toEqual([96, 96, 50]);
    const inBrain = p.image.data.filter((_, i) => p.brainMask!.data[i]! > 0);
    // cubic B-splines overshoot at the hard brain edge (≈ 10 % per axis on a step), as SimpleITK's do
    expect(Math.max(...inBrain)).toBeLessThanOrEqual(1.35);
    expect(Math.min(...inBrain)).toBeGreaterThanOrEqual(-0.35);
    const centre = p.image.data[48 + 96 * (48 + 96 * 25)]!;
    expect(centre).toBeGreaterThan(0.2);
    expect(centre).toBeLessThan(0.8);
    expect(mapToOriginal(p.image, p).shape).toEqual([40, 44, 30]);
  });
  it('canonical → resample → crop/pad → percentile, and mapToOriginal returns to the original grid', () => {
    const lps = [
      [-2, 0, 0, 30],
      [0, -2, 0, 40],
      [0, 0, 2.5, -10],
      [0, 0, 0, 1],
    ];
    const image = ramp([12, 10, 8], (i, j, k) => (i > 1 && i < 10 && j > 1 && j < 8 ? 1 + i + j + k : 0), lps);
    const mask = ramp([12, 10, 8], (i, j, k) => (i === 5 && j === 5 && k === 4 ? 1 : 0), lps);
    const brainMask = brainMaskFromNonzero(image);
    const p = preprocessSubject({ image, mask, brainMask }, [
      { op: 'canonical' },
      { op: 'resample', spacing: [1, 1, 1] },
      { op: 'cropOrPad', shape: [24, 24, 20] },
      { op: 'percentile', lower: 1, upper: 99 },
    ]);
    expect(axcodes(p.image.affine)).toEqual(['R', 'A', 'S']);
    expect(p.image.shape).toEqual([24, 24, 20]);
    expect(Math.min(...p.image.data)).toBe(0);
    expect(Math.max(...p.image.data)).toBe(1);
    expect(new Set(p.mask!.data)).toEqual(new Set([0, 1]));
    const back = mapToOriginal(p.mask!, p, 'nearest');
    expect(sameGeometry(back, image)).toBe(true);
    expect(voxel(back, [5, 5, 4])).toBe(1);
    // canonical reorientation alone is exactly invertible
    const can = toCanonical(image);
    expect(Array.from(mapToOriginal(can, p, 'nearest').data)).toEqual(Array.from(image.data));
  });
});
