import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import { describeBackends, expectClose, expectNoLeaks } from '@adx/test-utils';
import { ConstantDistance, SsimDistance } from './perceptual.js';

describeBackends('perceptual distances', () => {
  it('SsimDistance: 0 for identical images, the closed form for constant images', async () => {
    const d = new SsimDistance();
    const a = tf.fill([1, 12, 12, 1], 0.25) as tf.Tensor4D;
    const b = tf.fill([1, 12, 12, 1], 0.75) as tf.Tensor4D;
    await expectNoLeaks(async () => {
      const same = d.distanceMap(a, a);
      const diff = d.distanceMap(a, b);
      expect(Math.max(...(await same.data()))).toBeLessThan(1e-6);
      // zero variance: SSIM = (2·μa·μb + C1)/(μa² + μb² + C1), C1 = 1e-4
      const ssim = (2 * 0.25 * 0.75 + 1e-4) / (0.25 ** 2 + 0.75 ** 2 + 1e-4);
      // float32 local variances cancel to ~1e-8, amplified by 1/C2 ≈ 1e3: allow 2e-4.
      expectClose(await diff.data(), new Array(144).fill((1 - ssim) / 2), 2e-4);
      tf.dispose([same, diff]);
    });
    tf.dispose([a, b]);
  });

  it('SsimDistance is local: a structural change raises the distance only near it', async () => {
    const d = new SsimDistance();
    const a = tf.tidy(() => tf.tile(tf.tensor4d([0.2, 0.8], [1, 1, 2, 1]), [1, 32, 16, 1])) as tf.Tensor4D; // stripes
    const b = tf.tidy(() => {
      const patch = tf.pad(tf.fill([1, 6, 6, 1], 0.5), [
        [0, 0],
        [2, 24],
        [2, 24],
        [0, 0],
      ]);
      const mask = tf.pad(tf.ones([1, 6, 6, 1]), [
        [0, 0],
        [2, 24],
        [2, 24],
        [0, 0],
      ]);
      return tf.add(tf.mul(a, tf.sub(1, mask)), patch);
    }) as tf.Tensor4D;
    const m = await d.distanceMap(a, b).data();
    expect(m[5 * 32 + 5]).toBeGreaterThan(0.2);
    expect(m[28 * 32 + 28]).toBeLessThan(1e-4);
    tf.dispose([a, b]);
  });

  it('ConstantDistance is ones of the map shape', async () => {
    const x = tf.zeros([2, 5, 7, 3]) as tf.Tensor4D;
    const p = new ConstantDistance().distanceMap(x);
    expect(p.shape).toEqual([2, 5, 7, 1]);
    expect(Math.min(...(await p.data()))).toBe(1);
    tf.dispose([x, p]);
  });
});
