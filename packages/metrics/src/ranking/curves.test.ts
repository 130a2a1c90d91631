import { describe, expect, it } from 'vitest';
import { readJson, readNpy } from '@adx/test-utils';
import { MetricsArgumentError, UndefinedMetricError } from '../errors.js';
import { collectWarnings } from '../warnings.js';
import {
  averagePrecisionScore,
  binaryClfCurve,
  precisionRecallCurve,
  rankingMetrics,
  rocAucScore,
  rocCurve,
} from './curves.js';
import { HistogramRanking } from './histogram.js';
import { radixSortFloat32, radixSortFloat64 } from './sort.js';

const dir = new URL('../../test-fixtures/metrics/', import.meta.url);
type Curve = Record<string, (number | null)[] | string[]>;
interface Case {
  y_true: number[];
  y_score: number[];
  roc_auc_score: { value: number | null; error: { message: string } | null };
  average_precision_score: { value: number; warnings: string[] };
  roc_curve_drop_intermediate_true?: Curve;
  roc_curve_drop_intermediate_false?: Curve;
  precision_recall_curve?: Curve;
}
const nan = (a: (number | null)[]) => a.map((v) => (v === null ? NaN : v));
function expectArrayEq(actual: Float64Array, expected: (number | null)[], tol: number, label: string): void {
  const e = nan(expected);
  expect(actual.length, label).toBe(e.length);
  for (let i = 0; i < e.length; i++) {
    if (Number.isNaN(e[i]!)) expect(Number.isNaN(actual[i]!), `${label}[${i}]`).toBe(true);
    else expect(Math.abs(actual[i]! - e[i]!), `${label}[${i}]`).toBeLessThanOrEqual(tol);
  }
}

const cases = [
  'n4_sklearn_doc_example',
  'n100_continuous',
  'n100_ties_2dp',
  'n8_all_scores_equal',
  'n10000_continuous',
  'n10000_ties_2dp',
  'n12_all_negative',
  'n12_all_positive',
];

describe('ranking metrics vs scikit-learn 1.2.1 fixtures', () => {
  it('pins AP = 0.8333 (step, not interpolated 0.79) and AUROC = 0.75 on the sklearn doc example (evaluation.md §6.2)', () => {
    const y = [0, 0, 1, 1];
    const s = [0.1, 0.4, 0.35, 0.8];
    // By hand: thresholds 0.8 (P=1,R=.5), 0.4 (P=.5,R=.5), 0.35 (P=2/3,R=1) -> AP = .5·1 + .5·2/3.
    expect(averagePrecisionScore(y, s)).toBeCloseTo(0.5 + 0.5 * (2 / 3), 15);
    expect(rocAucScore(y, s)).toBe(0.75);
  });

  for (const name of cases) {
    it(`${name}: AUROC, AP, ROC and PR curves`, () => {
      const c = readJson<Case>(new URL(`${name}.json`, dir));
      const { result: ap, warnings } = collectWarnings(() => averagePrecisionScore(c.y_true, c.y_score));
      expect(Math.abs(ap - c.average_precision_score.value)).toBeLessThanOrEqual(1e-9);
      expect(warnings.length).toBe(c.average_precision_score.warnings.length);
      if (c.roc_auc_score.error) {
        expect(() => rocAucScore(c.y_true, c.y_score)).toThrow(UndefinedMetricError);
        expect(() => rocAucScore(c.y_true, c.y_score)).toThrow(c.roc_auc_score.error.message);
      } else {
        expect(Math.abs(rocAucScore(c.y_true, c.y_score) - c.roc_auc_score.value!)).toBeLessThanOrEqual(1e-9);
        const both = rankingMetrics(c.y_true, c.y_score);
        expect(Math.abs(both.rocAuc - c.roc_auc_score.value!)).toBeLessThanOrEqual(1e-9);
        expect(Math.abs(both.averagePrecision - c.average_precision_score.value)).toBeLessThanOrEqual(1e-9);
      }
      for (const [key, drop] of [
        ['roc_curve_drop_intermediate_true', true],
        ['roc_curve_drop_intermediate_false', false],
      ] as const) {
        const ref = c[key];
        if (!ref) continue;
        const roc = collectWarnings(() => rocCurve(c.y_true, c.y_score, { dropIntermediate: drop })).result;
        expectArrayEq(roc.fpr, ref.fpr as (number | null)[], 1e-12, `${key}.fpr`);
        expectArrayEq(roc.tpr, ref.tpr as (number | null)[], 1e-12, `${key}.tpr`);
        expectArrayEq(roc.thresholds, ref.thresholds as number[], 0, `${key}.thresholds`);
      }
      const pr = c.precision_recall_curve;
      if (pr) {
        const got = collectWarnings(() => precisionRecallCurve(c.y_true, c.y_score)).result;
        expectArrayEq(got.precision, pr.precision as number[], 1e-12, 'precision');
        expectArrayEq(got.recall, pr.recall as number[], 1e-12, 'recall');
        expectArrayEq(got.thresholds, pr.thresholds as number[], 0, 'thresholds');
      }
    });
  }

  it('n1000000 (float32 scores, many ties): AUROC and AP to 1e-9', () => {
    const ref = readJson<Case>(new URL('n1000000.json', dir));
    const y = readNpy(new URL('n1000000_y_true_u8.npy', dir)).data as Uint8Array;
    const s = readNpy(new URL('n1000000_y_score_f32.npy', dir)).data as Float32Array;
    const r = rankingMetrics(y, s);
    expect(r.nPos).toBe(20084);
    expect(Math.abs(r.rocAuc - ref.roc_auc_score.value!)).toBeLessThanOrEqual(1e-9);
    expect(Math.abs(r.averagePrecision - ref.average_precision_score.value)).toBeLessThanOrEqual(1e-9);
    // The float64 (native sort) path must agree with the float32 radix path.
    const s64 = Float64Array.from(s);
    s64[0] = s64[0]! + 1e-12; // no longer float32-exact -> native sort path
    expect(Math.abs(averagePrecisionScore(y, s64) - ref.average_precision_score.value)).toBeLessThanOrEqual(1e-6);
    expect(binaryClfCurve(y, s).thresholds.length).toBe(963690);
    // Histogram variant: its error is within its own reported bound.
    const h = new HistogramRanking({ bins: 1 << 16 }).update(y, s);
    const b = h.errorBounds();
    expect(Math.abs(h.rocAuc() - ref.roc_auc_score.value!)).toBeLessThanOrEqual(b.rocAuc + 1e-12);
    expect(Math.abs(h.averagePrecision() - ref.average_precision_score.value)).toBeLessThanOrEqual(
      b.averagePrecision + 1e-12,
    );
    expect(b.rocAuc).toBeLessThan(1e-3);
    expect(b.averagePrecision).toBeLessThan(1e-2);
  });
});

describe('histogram ranking', () => {
  it('is exact when every distinct score has its own bin', () => {
    const c = readJson<Case>(new URL('n100_ties_2dp.json', dir));
    // Scores have 2 decimals in [0, 1]: 100 bins of width 0.01 centred-safe via range [-0.005, 0.995].
    const h = new HistogramRanking({ bins: 100, range: [-0.005, 0.995] }).update(c.y_true, c.y_score);
    expect(Math.abs(h.rocAuc() - c.roc_auc_score.value!)).toBeLessThanOrEqual(1e-12);
    expect(Math.abs(h.averagePrecision() - c.average_precision_score.value)).toBeLessThanOrEqual(1e-12);
    // streaming in two halves and merging gives the same counts
    const a = new HistogramRanking({ bins: 100, range: [-0.005, 0.995] }).update(
      c.y_true.slice(0, 50),
      c.y_score.slice(0, 50),
    );
    const b = new HistogramRanking({ bins: 100, range: [-0.005, 0.995] }).update(
      c.y_true.slice(50),
      c.y_score.slice(50),
    );
    expect(a.merge(b).averagePrecision()).toBe(h.averagePrecision());
    expect(() => a.merge(new HistogramRanking({ bins: 10 }))).toThrow(/differ/);
  });
});

describe('bad input', () => {
  it('length mismatch, empty input, NaN scores are typed errors', () => {
    expect(() => rocAucScore([0, 1], [0.5])).toThrow(MetricsArgumentError);
    expect(() => averagePrecisionScore([], [])).toThrow(/empty/);
    expect(() => averagePrecisionScore([0, 1], [0.1, NaN])).toThrow(/NaN/);
    expect(() => new HistogramRanking().update([0, 1], [NaN, 0])).toThrow(MetricsArgumentError);
  });
  it('radix sort orders negatives, -0/+0 and positives', () => {
    const a = Float32Array.from([3, -1, 0, -0, -2.5, 1e-30, -1e-30, 2]);
    const sorted = Array.from(radixSortFloat32(a));
    expect(sorted).toEqual([-2.5, -1, -1e-30, -0, 0, 1e-30, 2, 3].map(Math.fround));
  });
});

describe('float64 radix sort', () => {
  it('equals the native numeric sort on mixed-sign values with ties, ±0 and subnormals', () => {
    const v = new Float64Array(5000);
    for (let i = 0; i < v.length; i++) v[i] = Math.sin(i * 12.9898) * 10 ** ((i % 7) - 3);
    v[1] = 0;
    v[2] = -0;
    v[3] = 5e-324;
    v[4] = -5e-324;
    v[5] = v[6]!;
    const expected = Float64Array.from(v).sort();
    expect(Array.from(radixSortFloat64(v))).toEqual(Array.from(expected));
  });
});
