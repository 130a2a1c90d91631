import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { expectNoLeaks } from '@adx/test-utils';
import { ArgumentError, SeededRNG } from '@adx/diffusion-core';
import { sparkMask, sparkMaskedLoss, sparkPixelMask } from './spark.js';

describe('SparK masking (3×3 grid, 65 % masked)', () => {
  it('keeps round(9·0.35) = 3 patches per sample, seeded, varying across samples', () => {
    const m = sparkMask(50, new SeededRNG(1));
    for (let b = 0; b < 50; b++) expect(m.subarray(b * 9, b * 9 + 9).reduce((a, v) => a + v, 0)).toBe(3);
    expect(Array.from(sparkMask(50, new SeededRNG(1)))).toEqual(Array.from(m));
    const patterns = new Set(Array.from({ length: 50 }, (_, b) => m.subarray(b * 9, b * 9 + 9).join('')));
    expect(patterns.size).toBeGreaterThan(10);
    // every patch position is visible in roughly a third of the samples
    for (let l = 0; l < 9; l++) {
      let n = 0;
      for (let b = 0; b < 50; b++) n += m[b * 9 + l]!;
      expect(n).toBeGreaterThan(5);
    }
    expect(() => sparkMask(1, new SeededRNG(1), { maskRatio: 1 })).toThrow(ArgumentError);
  });

  it('pixel mask upsamples the patches (32-px patches at 96²)', async () => {
    const mask = Uint8Array.from([1, 0, 0, 0, 1, 0, 0, 0, 1]);
    const px = sparkPixelMask(mask, 1, 96, 96);
    const d = (await px.data()) as Float32Array;
    expect(d[0]).toBe(1); // patch (0,0)
    expect(d[40]).toBe(0); // y 0, x 40: patch (0,1)
    expect(d[50 * 96 + 50]).toBe(1); // patch (1,1)
    expect(d[95 * 96 + 95]).toBe(1); // patch (2,2)
    expect(d.reduce((a, v) => a + v, 0)).toBe(3 * 32 * 32);
    px.dispose();
    expect(() => sparkPixelMask(mask, 1, 95, 96)).toThrow(ArgumentError);
  });

  it('loss = mean per-patch MSE over the masked patches only (hand-computed)', async () => {
    // 6×6 image, 2-px patches; error 1 on patch 0 (visible), 2 on patch 4 (masked), 0 elsewhere.
    const x = tf.zeros([1, 6, 6, 1]) as tf.Tensor4D;
    const r = new Float32Array(36);
    for (let y = 0; y < 2; y++) for (let xx = 0; xx < 2; xx++) r[y * 6 + xx] = 1;
    for (let y = 2; y < 4; y++) for (let xx = 2; xx < 4; xx++) r[y * 6 + xx] = 2;
    const rec = tf.tensor4d(r, [1, 6, 6, 1]);
    const mask = Uint8Array.from([1, 0, 0, 0, 0, 0, 0, 0, 1]); // visible: 0 and 8 → 7 masked patches
    const loss = await expectNoLeaks(async () => {
      const l = sparkMaskedLoss(x, rec, mask);
      const v = (await l.data())[0]!;
      l.dispose();
      return v;
    });
    expect(loss).toBeCloseTo(4 / (7 + 1e-8), 6); // patch 4: MSE 4; six masked patches with 0
    tf.dispose([x, rec]);
  });
});
