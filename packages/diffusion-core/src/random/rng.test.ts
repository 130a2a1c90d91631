import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { describeBackends, expectNoLeaks } from '@adx/test-utils';
import { SeededRNG } from './rng.js';

describe('SeededRNG', () => {
  it('is deterministic per seed and differs across seeds', () => {
    const a = new SeededRNG(42).normalArray(8);
    const b = new SeededRNG(42).normalArray(8);
    const c = new SeededRNG(43).normalArray(8);
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(a)).not.toEqual(Array.from(c));
    expect(new SeededRNG(-5).uniform()).not.toBe(new SeededRNG(5).uniform());
  });

  it('has the moments of a standard normal and uniform', () => {
    const rng = new SeededRNG(1);
    const n = 200_000;
    let s = 0;
    let s2 = 0;
    let u = 0;
    for (let i = 0; i < n; i++) {
      const z = rng.normal();
      s += z;
      s2 += z * z;
      u += rng.uniform();
    }
    expect(Math.abs(s / n)).toBeLessThan(0.01);
    expect(Math.abs(s2 / n - 1)).toBeLessThan(0.01);
    expect(Math.abs(u / n - 0.5)).toBeLessThan(0.005);
  });

  it('saves and restores its state exactly (including the cached Box–Muller value)', () => {
    const rng = new SeededRNG(7);
    rng.normal(); // leaves a spare
    const state = JSON.parse(JSON.stringify(rng.getState()));
    const expected = rng.normalArray(5);
    const restored = SeededRNG.fromState(state);
    expect(Array.from(restored.normalArray(5))).toEqual(Array.from(expected));
  });

  it('rejects non-integer seeds and bad ranges', () => {
    expect(() => new SeededRNG(1.5)).toThrow(/seed/);
    expect(() => new SeededRNG(1).randint(3, 3)).toThrow(/randint/);
  });
});

describeBackends('SeededRNG tensors', () => {
  it('gives the same values on every backend and leaks nothing', async () => {
    const values = await expectNoLeaks(async () => {
      const t = new SeededRNG(123).randn([2, 3]);
      const v = await t.data();
      t.dispose();
      return v;
    });
    expect(Array.from(values)).toEqual(Array.from(new SeededRNG(123).normalArray(6)));
    expect(tf.getBackend()).toBeTruthy();
  });
});
