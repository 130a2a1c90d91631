import { describe, expect, it } from 'vitest';
import { readJson, readNpy } from '@adx/test-utils';
import { percentile, thresholdAtFpr, thresholdAtMeanImageFpr, thresholdAtRocFpr, thresholdOtsu } from './thresholds.js';

const ops = new URL('../../test-fixtures/ops/', import.meta.url);

describe('Otsu (skimage 0.19.3)', () => {
  const ref = readJson<{ cases: { input: string; threshold: number; count_above: number }[] }>(
    new URL('otsu.json', ops),
  );
  for (const c of ref.cases) {
    it(c.input, () => {
      const x = readNpy(new URL(c.input, ops)).data as Float32Array;
      const t = thresholdOtsu(x);
      expect(t).toBe(c.threshold);
      expect(x.filter((v) => v > t).length).toBe(c.count_above);
    });
  }
  it('constant image returns its value', () => {
    expect(thresholdOtsu([0.3, 0.3, 0.3])).toBe(0.3);
  });
});

describe('percentile (numpy linear) and FPR thresholds', () => {
  const ref = readJson<{ cases: { input: string; q: number[]; result: number[] }[] }>(new URL('percentile.json', ops));
  for (const c of ref.cases) {
    it(c.input, () => {
      const x = readNpy(new URL(c.input, ops)).data as Float32Array;
      const got = percentile(x, c.q);
      got.forEach((v, i) => expect(Math.abs(v - c.result[i]!)).toBeLessThanOrEqual(1e-12 * Math.abs(c.result[i]!)));
    });
  }
  it('FPR threshold is the (1 - fpr) quantile of healthy voxels', () => {
    const healthy = Array.from({ length: 101 }, (_, i) => i / 100); // 0, 0.01, ..., 1
    expect(thresholdAtFpr(healthy, 0.05)).toBeCloseTo(0.95, 12);
    expect(thresholdAtFpr(healthy, 0.01)).toBeCloseTo(0.99, 12);
    expect(() => thresholdAtFpr(healthy, 2)).toThrow(/fpr/);
  });
  it('ROC rule thresholds[argmax(fpr > f)] (Behrendt calc_thresh), incl. drop_intermediate', () => {
    // 10 healthy voxels with scores 0.0 (x4), 0.5 (x3), 0.7, 0.8, 0.9: distinct descending thresholds
    // 0.9 (fps 1), 0.8 (2), 0.7 (3), 0.5 (6), 0.0 (10). drop_intermediate keeps points whose second
    // difference of fps is non-zero: 0.9 (end), 0.7 (steps 1 -> 3), 0.5 (3 -> 4), 0.0 (end).
    const s = [0, 0, 0, 0, 0.5, 0.5, 0.5, 0.7, 0.8, 0.9];
    const y = new Array(10).fill(0);
    // fpr after the prepended point: [0, .1, .3, .6, 1] with thresholds [1.9, .9, .7, .5, 0]
    expect(thresholdAtRocFpr(y, s, 0.05)).toBe(0.9);
    expect(thresholdAtRocFpr(y, s, 0.1)).toBe(0.7); // fpr must exceed 0.1: 0.8 (fpr .2) was dropped
    expect(thresholdAtRocFpr(y, s, 0.1, { dropIntermediate: false })).toBe(0.8);
    expect(thresholdAtRocFpr(y, s, 1)).toBe(1.9); // argmax of all-False is 0
  });

  it('THOR wrist rule: smallest grid value with mean image FPR <= 5 %', () => {
    // Two 100-px images with values k/100: fraction > th is (99 - floor(100 th)) / 100 at grid th = j/1000.
    const img = Array.from({ length: 100 }, (_, i) => i / 100);
    const r = thresholdAtMeanImageFpr([img, img]);
    // need #{i/100 > th} <= 5 -> i >= 95 only -> th >= 0.94 (values 0.95..0.99 are > 0.94).
    expect(r.threshold).toBe(940 * (1 / 1000)); // numpy.linspace value 0.9400000000000001
    expect(r.meanFpr).toBeCloseTo(0.05, 15);
  });
});
