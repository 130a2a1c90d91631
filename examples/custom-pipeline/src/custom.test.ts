import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { SeededRNG } from '@adx/diffusion-core';
import { describeBackends, expectNoLeaks } from '@adx/test-utils';
import { SsimGradientDistance, pyramidNoise } from './custom.js';

describeBackends('custom THOR building blocks', () => {
  it('pyramid noise is N(0, 1) per pixel, reproducible per seed and leak-free', async () => {
    const shape: [number, number, number, number] = [8, 32, 32, 1];
    const draw = (seed: number) => pyramidNoise(0.25)(shape, new SeededRNG(seed), 100);
    const a = await expectNoLeaks(async () => {
      const t = draw(3);
      const d = (await t.data()) as Float32Array;
      t.dispose();
      return d;
    });
    const b = draw(3);
    expect(Array.from((await b.data()) as Float32Array)).toEqual(Array.from(a));
    b.dispose();
    const mean = a.reduce((s, v) => s + v, 0) / a.length;
    const variance = a.reduce((s, v) => s + (v - mean) ** 2, 0) / a.length;
    // 8192 samples: the standard error of the mean is 0.011 and of the variance 0.016.
    expect(Math.abs(mean)).toBeLessThan(0.05);
    expect(Math.abs(variance - 1)).toBeLessThan(0.08);
  });

  it('with weight 1 the noise is constant on 2×2 blocks (the upsampled coarse field), odd sizes cropped', async () => {
    const t = pyramidNoise(1)([1, 5, 5, 1], new SeededRNG(1), 0);
    expect(t.shape).toEqual([1, 5, 5, 1]);
    const d = (await t.data()) as Float32Array;
    t.dispose();
    for (let y = 0; y < 4; y += 2)
      for (let x = 0; x < 4; x += 2) {
        const v = d[y * 5 + x]!;
        expect([d[y * 5 + x + 1], d[(y + 1) * 5 + x], d[(y + 1) * 5 + x + 1]]).toEqual([v, v, v]);
      }
    expect(() => pyramidNoise(1.5)).toThrow(/coarseWeight/);
  });

  it('ssim+gradient distance: 0 for identical images, in [0, 1], largest at a new edge, leak-free', async () => {
    // b: a smooth ramp; a: the same ramp with a bright 4×4 square (a "lesion") in the middle.
    const size = 16;
    const ramp = Float32Array.from({ length: size * size }, (_, i) => (i % size) / (2 * size));
    const lesion = ramp.map((v, i) => {
      const y = Math.floor(i / size);
      const x = i % size;
      return y >= 6 && y < 10 && x >= 6 && x < 10 ? 1 : v;
    });
    const b = tf.tensor4d(ramp, [1, size, size, 1]);
    const a = tf.tensor4d(lesion, [1, size, size, 1]);
    const dist = new SsimGradientDistance(0.5);
    const same = await expectNoLeaks(async () => {
      const m = dist.distanceMap(b, b);
      const d = (await m.data()) as Float32Array;
      m.dispose();
      return d;
    });
    expect(Math.max(...same)).toBeLessThan(1e-5);
    const m = dist.distanceMap(a, b);
    expect(m.shape).toEqual([1, size, size, 1]);
    const d = (await m.data()) as Float32Array;
    m.dispose();
    tf.dispose([a, b]);
    expect(Math.min(...d)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...d)).toBeLessThanOrEqual(1);
    // The square's rim (row 6, column 6) differs far more than a far corner (row 0, column 15).
    expect(d[6 * size + 6]!).toBeGreaterThan(0.2);
    expect(d[0 * size + 15]!).toBeLessThan(0.01);
  });
});

describe('argument checks', () => {
  it('rejects a gradient weight outside [0, 1]', () => {
    expect(() => new SsimGradientDistance(-0.1)).toThrow(/gradientWeight/);
  });
});
