import * as tf from '@tensorflow/tfjs-core';
import { describe, it, expect } from 'vitest';
import { describeBackends, expectClose, expectNoLeaks } from '@adx/test-utils';
import { SeededRNG } from '../random/rng.js';
import { ArgumentError } from '../errors.js';
import {
  epsilonMseLoss,
  x0L1Loss,
  mseLoss,
  l1Loss,
  sampleUniformTimesteps,
  sampleUniformTimestepTensor,
} from './losses.js';

describeBackends('losses', () => {
  const pred = [
    [1, 2, 3, 4],
    [0, 0, 0, 0],
  ];
  const target = [
    [1, 0, 3, 0],
    [1, -1, 1, -1],
  ];
  it('ε-MSE: mean of squared errors (hand-computed), per-sample with reduction none', async () => {
    const p = tf.tensor2d(pred);
    const t = tf.tensor2d(target);
    await expectNoLeaks(async () => {
      const l = epsilonMseLoss(p, t);
      // sample 0: (0 + 4 + 0 + 16)/4 = 5; sample 1: (1 + 1 + 1 + 1)/4 = 1; mean 3.
      expect(Array.from(await l.data())).toEqual([3]);
      const ps = mseLoss(p, t, { reduction: 'none' });
      expect(Array.from(await ps.data())).toEqual([5, 1]);
      tf.dispose([l, ps]);
    });
    tf.dispose([p, t]);
  });

  it('x0-L1: mean absolute error over every pixel; mask replaces the prediction outside by the target', async () => {
    const p = tf.tensor4d([1, 2, 3, 4, 0, 0, 0, 0], [2, 2, 2, 1]);
    const t = tf.tensor4d([1, 0, 3, 0, 1, -1, 1, -1], [2, 2, 2, 1]);
    const mask = tf.tensor4d([1, 1, 0, 0], [1, 2, 2, 1]);
    await expectNoLeaks(async () => {
      const l = x0L1Loss(p, t);
      // |errors| = 0,2,0,4,1,1,1,1 → 10/8.
      expectClose(await l.data(), [1.25], 1e-7);
      const lm = l1Loss(p, t, { mask });
      // masked errors: 0,2,(0),(0),1,1,(0),(0) → 4/8.
      expectClose(await lm.data(), [0.5], 1e-7);
      tf.dispose([l, lm]);
    });
    expect(() => x0L1Loss(p, tf.zeros([2, 2, 2]))).toThrow(ArgumentError);
    tf.dispose([p, t, mask]);
  });
});

describe('uniform timestep sampling', () => {
  it('draws integers in [0, T) deterministically from the seed, covering the range uniformly', () => {
    const a = sampleUniformTimesteps(new SeededRNG(5), 4000, 10);
    const b = sampleUniformTimesteps(new SeededRNG(5), 4000, 10);
    expect(a).toEqual(b);
    const counts = new Array<number>(10).fill(0);
    for (const t of a) {
      expect(t >= 0 && t < 10).toBe(true);
      counts[t]! += 1;
    }
    // 400 expected per bin; ±5σ (σ ≈ 19).
    for (const c of counts) expect(Math.abs(c - 400)).toBeLessThan(95);
    expect(() => sampleUniformTimesteps(new SeededRNG(0), 0, 10)).toThrow(ArgumentError);
  });

  it('tensor form gives int32 timesteps and unit weights; the RNG state advances', async () => {
    const rng = new SeededRNG(1);
    const { timesteps, weights } = sampleUniformTimestepTensor(rng, 3, 1000);
    expect(timesteps.dtype).toBe('int32');
    expect(Array.from(await weights.data())).toEqual([1, 1, 1]);
    const again = sampleUniformTimesteps(new SeededRNG(1), 3, 1000);
    expect(Array.from(await timesteps.data())).toEqual(Array.from(again));
    expect(sampleUniformTimesteps(rng, 3, 1000)).not.toEqual(again);
    tf.dispose([timesteps, weights]);
  });
});
