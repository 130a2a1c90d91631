import { describe, expect, it } from 'vitest';
import { readJson, readNpy } from '@adx/test-utils';
import { percentile, thresholdAtFpr, thresholdAtMeanImageFpr, thresholdOtsu } from './thresholds.js';

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
  it('THOR wrist rule: smallest grid value with mean image FPR <= 5 %', () => {
    // Two 100-px images with values k/100: fraction > th is (99 - floor(100 th)) / 100 at grid th = j/1000.
    const img = Array.from({ length: 100 }, (_, i) => i / 100);
    const r = thresholdAtMeanImageFpr([img, img]);
    // need #{i/100 > th} <= 5 -> i >= 95 only -> th >= 0.94 (values 0.95..0.99 are > 0.94).
    expect(r.threshold).toBe(940 * (1 / 1000)); // numpy.linspace value 0.9400000000000001
    expect(r.meanFpr).toBeCloseTo(0.05, 15);
  });
});
