import { describe, expect, it } from 'vitest';
import { expectClose, readJson, readNpy } from '@adx/test-utils';
import { MetricsArgumentError } from '../errors.js';
import type { NdArray } from '../ndarray.js';
import { mapIndex } from './boundary.js';
import { gaussianFilter, gaussianKernel1d, medianFilter, uniformFilter } from './filters.js';
import { label, removeSmallComponents } from './label.js';
import { binaryErosion, greyClosing, greyDilation } from './morphology.js';
import { absResidual, positiveResidual } from './residual.js';

const dir = new URL('../../test-fixtures/ops/', import.meta.url);
const load = (name: string): NdArray => {
  const a = readNpy(new URL(name, dir));
  return { data: a.data as Float32Array, shape: a.shape };
};
const img = load('input_img2d_32x40_f32.npy');
const vol = load('input_vol3d_12x16x10_f32.npy');
const exact = (a: ArrayLike<number>, b: ArrayLike<number>) => expect(Array.from(a)).toEqual(Array.from(b));

describe('scipy boundary modes', () => {
  it('reflect / mirror / nearest / wrap index maps (n = 4: a b c d)', () => {
    expect([-3, -2, -1, 4, 5, 6, 9].map((i) => mapIndex(i, 4, 'reflect'))).toEqual([2, 1, 0, 3, 2, 1, 1]);
    expect([-3, -2, -1, 4, 5, 6].map((i) => mapIndex(i, 4, 'mirror'))).toEqual([3, 2, 1, 2, 1, 0]);
    expect([-2, 5].map((i) => mapIndex(i, 4, 'nearest'))).toEqual([0, 3]);
    expect([-1, 4].map((i) => mapIndex(i, 4, 'wrap'))).toEqual([3, 0]);
  });
});

describe('gaussian_filter (scipy 1.10.1)', () => {
  it('kernel σ = 2 (17 taps)', () => {
    const ref = readJson<{ weights: number[] }>(new URL('gaussian_kernel_sigma2.json', dir));
    expectClose(gaussianKernel1d(2), ref.weights, 1e-16, 'kernel'); // within 1 ulp
  });
  it('2-D σ = 2: float64 to 1e-12, float32 passes to 1e-6', () => {
    expectClose(gaussianFilter(img, { sigma: 2 }).data, load('gaussian_img2d_sigma2_f64.npy').data, 1e-12, 'f64');
    const f32 = gaussianFilter(img, { sigma: 2, precision: 'float32' });
    expect(f32.data).toBeInstanceOf(Float32Array);
    expectClose(f32.data, load('gaussian_img2d_sigma2_f32.npy').data, 1e-6, 'f32');
  });
  it('3-D σ = 1', () => {
    expectClose(gaussianFilter(vol, { sigma: 1 }).data, load('gaussian_vol3d_sigma1_f64.npy').data, 1e-12, 'f64');
    expectClose(gaussianFilter(vol, { sigma: 1 }).data, load('gaussian_vol3d_sigma1_f32.npy').data, 1e-6, 'vs f32');
  });
  it('uniform filter of a constant is the constant; per-axis sigma validated', () => {
    const c = { data: new Float64Array(30).fill(2.5), shape: [5, 6] };
    expectClose(uniformFilter(c, { size: 3 }).data, new Float64Array(30).fill(2.5), 1e-15, 'uniform');
    expect(() => gaussianFilter(img, { sigma: [1, 2, 3] })).toThrow(MetricsArgumentError);
  });
});

describe('median_filter (exact)', () => {
  it('2-D size 5 reflect', () =>
    exact(medianFilter(img, { size: 5 }).data, load('median_img2d_size5_reflect.npy').data));
  it('3-D size 5 reflect (125 values, 63rd smallest)', () => {
    const out = medianFilter(vol, { size: 5 });
    expect(out.data).toBeInstanceOf(Float32Array);
    exact(out.data, load('median_vol3d_size5_reflect.npy').data);
  });
});

describe('grey morphology 13×13, mode nearest (THOR region mask)', () => {
  const opts = { size: [13, 13], mode: 'nearest' as const };
  it('grey_dilation', () => exact(greyDilation(img, opts).data, load('grey_dilation_img2d_13x13_nearest.npy').data));
  it('grey_closing', () => exact(greyClosing(img, opts).data, load('grey_closing_img2d_13x13_nearest.npy').data));
  it('grey_dilation(grey_closing)', () =>
    exact(
      greyDilation(greyClosing(img, opts), opts).data,
      load('grey_dilation_of_closing_img2d_13x13_nearest.npy').data,
    ));
  it('even sizes are rejected', () => expect(() => greyDilation(img, { size: 4 })).toThrow(/odd/));
});

describe('binary_erosion, cross element, 3 iterations, border 0', () => {
  it('2-D', () =>
    exact(
      binaryErosion(load('mask2d_32x40_u8.npy'), { iterations: 3 }).data,
      load('binary_erosion_mask2d_cross_iter3.npy').data,
    ));
  it('per slice of 3-D along axis 2 and axis 0', () => {
    const m = load('mask3d_12x16x10_u8.npy');
    exact(
      binaryErosion(m, { iterations: 3, sliceAxis: 2 }).data,
      load('binary_erosion_mask3d_per_slice_axis2.npy').data,
    );
    exact(
      binaryErosion(m, { iterations: 3, sliceAxis: 0 }).data,
      load('binary_erosion_mask3d_per_slice_axis0.npy').data,
    );
  });
  it('iterations <= 0 erodes until stable (scipy semantics); border 1 keeps edge pixels', () => {
    const m = { data: new Uint8Array(25).fill(1), shape: [5, 5] };
    expect(binaryErosion(m, { iterations: 0 }).data.every((v) => v === 0)).toBe(true);
    expect(binaryErosion(m, { iterations: 2, borderValue: 1 }).data.every((v) => v === 1)).toBe(true);
    // 5×5 full mask, one cross erosion with border 0 leaves the inner 3×3.
    expect(binaryErosion(m).data.reduce((s, v) => s + v, 0)).toBe(9);
  });
});

describe('connected components (skimage 0.19.3)', () => {
  const v = load('binary_vol3d_16x20x14_u8.npy');
  const ref = readJson<{
    connectivity3: { num_components: number; sizes_by_label: number[] };
    connectivity1: { num_components: number; sizes_by_label: number[] };
  }>(new URL('connected_components.json', dir));
  it('26-connectivity labels equal skimage (same numbering)', () => {
    const l = label(v, 3);
    expect(l.count).toBe(ref.connectivity3.num_components);
    expect(l.sizes).toEqual(ref.connectivity3.sizes_by_label);
    exact(l.labels, load('label_vol3d_connectivity3_i32.npy').data);
  });
  it('6-connectivity labels equal skimage', () => {
    const l = label(v, 1);
    expect(l.count).toBe(ref.connectivity1.num_components);
    expect(l.sizes).toEqual(ref.connectivity1.sizes_by_label);
    exact(l.labels, load('label_vol3d_connectivity1_i32.npy').data);
  });
  it('removal of components <= 7 voxels (remove_small_objects min_size=8)', () => {
    exact(removeSmallComponents(v).data, load('remove_components_le7_connectivity3_u8.npy').data);
  });
  it('bad connectivity is a typed error', () => {
    expect(() => label({ data: new Uint8Array(4), shape: [2, 2] }, 3)).toThrow(MetricsArgumentError);
  });
});

describe('residuals', () => {
  it('positive and absolute residuals', () => {
    const x = { data: [0.5, 0.2, 0.9], shape: [3] };
    const r = { data: [0.25, 0.5, 0.9], shape: [3] };
    expect(Array.from(positiveResidual(x, r).data)).toEqual([0.25, 0, 0]);
    expectClose(absResidual(x, r).data, [0.25, 0.3, 0], 1e-15);
  });
});
