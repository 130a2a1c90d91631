import { describe, expect, it } from 'vitest';
import { expectClose, readJson, readNpy } from '@adx/test-utils';
import { rankingMetrics } from '../ranking/curves.js';
import { collectWarnings } from '../warnings.js';
import { bestDiceBisection, bestDiceOverGrid, bestDiceRecursive, dice, diceAtThreshold, diceCurve } from './dice.js';

const dir = new URL('../../test-fixtures/metrics/', import.meta.url);

interface Thresholds {
  threshold_values: number[];
  best: { max_dice_gt: number; argmax_threshold: number; argmax_index: number; gt_count: number };
  per_threshold: Record<string, number[]>;
}
interface PerVolume {
  per_volume: {
    'dice_at_0.5_gt': number;
    'dice_at_0.3_gt': number;
    best_dice_over_linspace_gt: number;
    best_threshold: number;
    roc_auc_score: number;
    average_precision_score: number;
  }[];
  pooled: {
    'dice_at_0.5_gt': number;
    best: { max_dice_gt: number; argmax_threshold: number };
    dice_gt_per_threshold: number[];
    roc_auc_score: number;
    average_precision_score: number;
  };
}

describe('Dice vs NumPy/scikit-learn fixtures', () => {
  const ref = readJson<Thresholds>(new URL('dice_thresholds.json', dir));
  const map = readNpy(new URL('dice_map_24x24x16_f32.npy', dir)).data as Float32Array;
  const mask = readNpy(new URL('dice_mask_24x24x16_u8.npy', dir)).data as Uint8Array;

  it('curve over linspace(0, 1, 101): strict, inclusive and ε = 1e-6 variants, counts', () => {
    const t = ref.threshold_values;
    const gt = diceCurve(map, mask, t);
    expectClose(gt.dice, ref.per_threshold.dice_gt!, 1e-12, 'dice_gt');
    expectClose(gt.dice, ref.per_threshold.sklearn_f1_gt!, 1e-12, 'sklearn f1');
    expect(Array.from(gt.intersection)).toEqual(ref.per_threshold.intersection_gt);
    expect(Array.from(gt.predicted)).toEqual(ref.per_threshold.pred_count_gt);
    expect(gt.truthCount).toBe(ref.best.gt_count);
    expectClose(diceCurve(map, mask, t, { inclusive: true }).dice, ref.per_threshold.dice_ge!, 1e-12, 'dice_ge');
    expectClose(diceCurve(map, mask, t, { epsilon: 1e-6 }).dice, ref.per_threshold['dice_gt_eps1e-6']!, 1e-12, 'eps');
    // Thresholds in any order give the same per-threshold values.
    const rev = [...t].reverse();
    expectClose(diceCurve(map, mask, rev).dice, [...ref.per_threshold.dice_gt!].reverse(), 1e-12, 'reversed');
    // single-threshold function agrees
    expect(diceAtThreshold(map, mask, t[39]!)).toBeCloseTo(ref.per_threshold.dice_gt![39]!, 14);
  });

  it('best Dice over the THOR grid is the first maximum', () => {
    const best = bestDiceOverGrid(map, mask);
    expect(best.index).toBe(ref.best.argmax_index);
    expect(best.threshold).toBe(ref.best.argmax_threshold);
    expect(Math.abs(best.dice - ref.best.max_dice_gt)).toBeLessThanOrEqual(1e-12);
  });

  it('per-volume and pooled values (dice_per_volume.json)', () => {
    const v = readJson<PerVolume>(new URL('dice_per_volume.json', dir));
    const maps = readNpy(new URL('dice_volumes_maps_3x20x20x12_f32.npy', dir)).data as Float32Array;
    const masks = readNpy(new URL('dice_volumes_masks_3x20x20x12_u8.npy', dir)).data as Uint8Array;
    const n = 20 * 20 * 12;
    v.per_volume.forEach((ref, i) => {
      const m = maps.subarray(i * n, (i + 1) * n);
      const g = masks.subarray(i * n, (i + 1) * n);
      expect(Math.abs(diceAtThreshold(m, g, 0.5) - ref['dice_at_0.5_gt'])).toBeLessThanOrEqual(1e-12);
      expect(Math.abs(diceAtThreshold(m, g, 0.3) - ref['dice_at_0.3_gt'])).toBeLessThanOrEqual(1e-12);
      const best = bestDiceOverGrid(m, g);
      expect(best.threshold).toBe(ref.best_threshold);
      expect(Math.abs(best.dice - ref.best_dice_over_linspace_gt)).toBeLessThanOrEqual(1e-12);
      const r = rankingMetrics(g, m);
      expect(Math.abs(r.rocAuc - ref.roc_auc_score)).toBeLessThanOrEqual(1e-9);
      expect(Math.abs(r.averagePrecision - ref.average_precision_score)).toBeLessThanOrEqual(1e-9);
    });
    const pooled = bestDiceOverGrid(maps, masks);
    expect(pooled.threshold).toBe(v.pooled.best.argmax_threshold);
    expectClose(pooled.curve.dice, v.pooled.dice_gt_per_threshold, 1e-12, 'pooled curve');
    const r = rankingMetrics(masks, maps);
    expect(Math.abs(r.rocAuc - v.pooled.roc_auc_score)).toBeLessThanOrEqual(1e-9);
    expect(Math.abs(r.averagePrecision - v.pooled.average_precision_score)).toBeLessThanOrEqual(1e-9);
  });

  it('edge cases: both empty is NaN with a warning (plain) and 0 with ε', () => {
    const e = readJson<{
      cases: { pred: number[]; gt: number[]; plain_formula: number | null; 'with_eps_1e-6': number }[];
    }>(new URL('dice_edge_cases.json', dir));
    for (const c of e.cases) {
      const { result, warnings } = collectWarnings(() => dice(c.pred, c.gt));
      if (c.plain_formula === null) {
        expect(result).toBeNaN();
        expect(warnings).toHaveLength(1);
      } else expect(result).toBe(c.plain_formula);
      expect(dice(c.pred, c.gt, { epsilon: 1e-6 })).toBeCloseTo(c['with_eps_1e-6'], 15);
    }
    expect(() => dice([1, 0], [1])).toThrow(/inconsistent/);
  });
});

describe('threshold searches', () => {
  it('Zimmerer bisection follows the upstream recursion (hand-traced example)', () => {
    // map 0..1 in steps of 0.1, lesion = values > 0.55. Range [0, 1]:
    // step 0: q=.25 (Dice 2·5/(7+5)=.833), q=.75 (Dice 2·3/(3+5)=.75) -> keep .25, go to [0, .5]
    // step 1: q=.125 (P=9: 10/14=.714), q=.375 (P=7: 10/12=.833) -> .375 ties the best (>=) -> [.25, .5]
    const map = Array.from({ length: 11 }, (_, i) => i / 10);
    const gt = map.map((v) => (v > 0.55 ? 1 : 0));
    const r = bestDiceBisection(map, gt, { steps: 2 });
    expect(r.evaluations.map((e) => e.threshold)).toEqual([0.25, 0.75, 0.125, 0.375]);
    expect(r.threshold).toBe(0.375);
    expect(r.dice).toBeCloseTo(10 / 12, 15);
    // The search is greedy: after [.25, .5] it never looks above 0.5, so with 10 steps it stays at
    // the plateau 0.4 <= t < 0.5 (P = 6 voxels, Dice 10/11) although 0.5 <= t < 0.55 gives Dice 1.
    const r10 = bestDiceBisection(map, gt);
    expect(r10.dice).toBeCloseTo(10 / 11, 15);
    expect(r10.threshold).toBeGreaterThanOrEqual(0.4);
    expect(r10.threshold).toBeLessThan(0.5);
    expect(r10.evaluations).toHaveLength(20);
  });

  it('Baur recursive sweep (hand-traced): refines once below the first non-increase', () => {
    // map (2k+1)/20 = 0.05, 0.15, ..., 0.95; lesion = values > 0.55 (4 voxels).
    const map = Array.from({ length: 10 }, (_, k) => (2 * k + 1) / 20);
    const gt = map.map((v) => (v > 0.55 ? 1 : 0));
    const r = bestDiceRecursive(map, gt, { granularity: 3 });
    // Level 1 (step 0.1): Dice rises to 1 at t = 6·0.1 and first drops at t = 7·0.1 (3 voxels: 6/7),
    // so level 2 (step 0.01) runs once on [5·0.1, 7·0.1): 0.5 + j·0.01 < 0.7000000000000001, i.e. 21
    // thresholds (0.5 + 0.2 = 0.7 is below 7·0.1 in float64).
    // Inside it Dice is flat (8/9) at j = 0..2, so at j = 2 level 3 would run, but granularity 3 stops it.
    const level1 = Array.from({ length: 10 }, (_, i) => i * 0.1);
    const level2 = Array.from({ length: 30 }, (_, j) => 0.5 + j * 0.01).filter((t) => t < 7 * 0.1);
    expect(level2).toHaveLength(21);
    expect(Array.from(r.thresholds)).toEqual([...level1, ...level2].sort((a, b) => a - b));
    // the first maximum in threshold order: 0.5 + 5·0.01 (= 0.55, not > 0.55 for the value 0.55)
    expect(r.threshold).toBe(0.5 + 5 * 0.01);
    expect(r.dice).toBe(1);
  });
});
