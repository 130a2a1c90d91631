import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import { describeBackends, expectNoLeaks } from '@adx/test-utils';
import { SeededRNG } from '../random/rng.js';
import { gaussianNoise, randnLike } from './gaussian.js';

// Reference values are taken on the CPU from the RNG itself (float64 → float32), independent of tfjs.
const reference = (seed: number, n: number) => new SeededRNG(seed).normalArray(n);

describeBackends('seeded Gaussian noise', () => {
  it('same seed → the same float32 values on every backend; shape as requested', async () => {
    await expectNoLeaks(async () => {
      const t = gaussianNoise([2, 3, 4, 1], new SeededRNG(123));
      expect(t.shape).toEqual([2, 3, 4, 1]);
      expect(t.dtype).toBe('float32');
      expect(Array.from(await t.data())).toEqual(Array.from(reference(123, 24)));
      const like = randnLike(t, new SeededRNG(123));
      expect(Array.from(await like.data())).toEqual(Array.from(reference(123, 24)));
      tf.dispose([t, like]);
    });
  });

  it('moments of a large draw are standard normal', async () => {
    const t = gaussianNoise([20000], new SeededRNG(1));
    const d = await t.data();
    t.dispose();
    let m = 0;
    for (const v of d) m += v;
    m /= d.length;
    let v2 = 0;
    for (const v of d) v2 += (v - m) ** 2;
    v2 /= d.length;
    expect(Math.abs(m)).toBeLessThan(0.03); // 4σ of the mean is 0.028
    expect(Math.abs(v2 - 1)).toBeLessThan(0.05);
  });

  it('rejects bad shapes', () => {
    expect(() => gaussianNoise([2, -1], new SeededRNG(0))).toThrow(/'shape'/);
  });
});
