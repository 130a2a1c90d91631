import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import { describeBackends, expectClose, expectNoLeaks, readJson, readNpy, type NpyArray } from '@adx/test-utils';
import {
  gaussianBlur2d,
  gaussianKernel1d,
  greyClosing2d,
  greyDilation2d,
  harmonicMean,
  padImage,
  resizeBilinear,
} from './image.js';

const fx = (p: string) => new URL(`../../test-fixtures/ops/${p}`, import.meta.url);
const img = readNpy(fx('input_img2d_32x40_f32.npy'));
const asNHWC = (a: NpyArray) =>
  tf.tensor4d(Float32Array.from(a.data as Float32Array), [1, a.shape[0]!, a.shape[1]!, 1]);

it('gaussianKernel1d equals scipy taps', () => {
  const ref = readJson<{ weights: number[] }>(fx('gaussian_kernel_sigma2.json'));
  expectClose(gaussianKernel1d(2), ref.weights, 1e-15);
});

describeBackends('ops/image', () => {
  it('gaussianBlur2d(σ=2, reflect) matches scipy.ndimage.gaussian_filter', async () => {
    const ref = readNpy(fx('gaussian_img2d_sigma2_f64.npy'));
    await expectNoLeaks(async () => {
      const x = asNHWC(img);
      const y = gaussianBlur2d(x, 2);
      expectClose(await y.data(), ref.data as Float64Array, 1e-6, 'blur');
      tf.dispose([x, y]);
    });
  });

  it('grey dilation, closing and closing→dilation (13×13, nearest) match scipy exactly', async () => {
    for (const [file, f] of [
      ['grey_dilation_img2d_13x13_nearest.npy', (x: tf.Tensor4D) => greyDilation2d(x, 13)],
      ['grey_closing_img2d_13x13_nearest.npy', (x: tf.Tensor4D) => greyClosing2d(x, 13)],
      [
        'grey_dilation_of_closing_img2d_13x13_nearest.npy',
        (x: tf.Tensor4D) => greyDilation2d(greyClosing2d(x, 13), 13),
      ],
    ] as const) {
      const ref = readNpy(fx(file));
      await expectNoLeaks(async () => {
        const y = tf.tidy(() => f(asNHWC(img)));
        expectClose(await y.data(), ref.data as Float32Array, 0, file);
        y.dispose();
      });
    }
  });

  it('filters each channel and image independently', async () => {
    const a = asNHWC(img);
    const stacked = tf.concat([tf.concat([a, tf.mul(a, 2)], 3), tf.concat([tf.neg(a), a], 3)], 0) as tf.Tensor4D;
    const y = gaussianBlur2d(stacked, 2);
    const single = gaussianBlur2d(a, 2);
    const s = await single.data();
    const ch = await tf.slice(y, [0, 0, 0, 1], [1, -1, -1, 1]).data();
    expectClose(
      ch,
      Array.from(s, (v) => 2 * v),
      1e-5,
      'channel 1',
    );
    const b1 = await tf.slice(y, [1, 0, 0, 0], [1, -1, -1, 1]).data();
    expectClose(
      b1,
      Array.from(s, (v) => -v),
      1e-6,
      'batch 1',
    );
    tf.dispose([a, stacked, y, single]);
  });

  it('padImage reflects like scipy even when the pad exceeds the image', async () => {
    const x = tf.tensor4d([1, 2, 3], [1, 1, 3, 1]);
    const y = padImage(x, [0, 0], [4, 4], 'reflect');
    // scipy reflect of [1 2 3] (period 6): 3 3 2 1 | 1 2 3 | 3 2 1 1
    expect(Array.from(await y.data())).toEqual([3, 3, 2, 1, 1, 2, 3, 3, 2, 1, 1]);
    const z = padImage(x, [0, 0], [2, 1], 'nearest');
    expect(Array.from(await z.data())).toEqual([1, 1, 1, 2, 3, 3]);
    tf.dispose([x, y, z]);
  });

  it('resizeBilinear matches the align_corners=False reference (down and up)', async () => {
    for (const [input, out, size] of [
      ['resize_input_50x70_f32.npy', 'bilinear_halfpixel_50x70_to_32x32_f64.npy', [32, 32]],
      ['bilinear_up_input_7x9_f32.npy', 'bilinear_halfpixel_7x9_to_16x20_f64.npy', [16, 20]],
    ] as const) {
      const x = asNHWC(readNpy(fx(input)));
      const y = resizeBilinear(x, [size[0], size[1]]);
      expectClose(await y.data(), readNpy(fx(out)).data as Float64Array, 1e-5, out);
      tf.dispose([x, y]);
    }
  });

  it('harmonicMean is K/Σ(1/A) and 0 where any map is 0', async () => {
    const a = tf.tensor([0.5, 0.2, 0.0, 1]);
    const b = tf.tensor([0.25, 0.2, 0.9, 1]);
    const hm = await expectNoLeaks(async () => {
      const t = harmonicMean([a, b]);
      const v = await t.data();
      t.dispose();
      return v;
    });
    expectClose(hm, [2 / (2 + 4), 0.2, 0, 1], 1e-7);
    tf.dispose([a, b]);
  });

  it('rejects even or invalid structuring sizes and wrong ranks', () => {
    const x = tf.zeros([1, 4, 4, 1]) as tf.Tensor4D;
    expect(() => greyDilation2d(x, 4)).toThrow(/size/);
    expect(() => gaussianBlur2d(tf.zeros([4, 4]) as unknown as tf.Tensor4D, 1)).toThrow(/'x'/);
    x.dispose();
  });
});
