/**
 * Baur et al. (MedIA 2021) pooled protocol (evaluation.md §2; `utils/Evaluation.py`, `run.py`):
 * pixel AUROC and step-wise AUPRC over all test voxels pooled, the oracle best-possible Dice ⌈DSC⌉
 * by a threshold sweep on the pooled test map, and the realistic Dice at a threshold fixed on a
 * labelled validation set; per-patient Dice and lesion-wise TP/FP/FN at that threshold.
 * Post-processing (positive residual, eroded mask, median 5) is applied beforehand with
 * {@link baurPostprocess}; connected components ≤ 7 voxels are removed after thresholding.
 */
import { MetricsArgumentError, checkOptionKeys } from '../errors.js';
import { nanMeanStd, type NdArray } from '../ndarray.js';
import { bestDiceBisection, bestDiceOverGrid, bestDiceRecursive, diceFromCounts } from '../dice/dice.js';
import { rankingMetrics } from '../ranking/curves.js';
import { medianFilter } from '../ops/filters.js';
import { removeSmallComponents, type Connectivity } from '../ops/label.js';
import { applyMask, binaryErosion } from '../ops/morphology.js';
import { hyperintensityPrior, positiveResidual } from '../ops/residual.js';
import type { MetricEntry, MetricsReport } from '../report/report.js';
import { binarize, checkCases, overlapCounts, pool, type EvaluationCase } from './common.js';
import { lesionDetection } from './lesion.js';

export interface BaurPostprocessOptions {
  /** Erosion iterations of the brain mask with the 3×3 cross (Baur default 12). */
  erosionIterations?: number;
  /** Axis along which the 2-D slices lie (the 3×3 cross is in-plane). Default 0 for `[D, H, W]`. */
  sliceAxis?: number;
  /** Median kernel (Baur default 5; 0 disables). */
  medianSize?: number;
  /** Apply the 90th-percentile hyper-intensity prior (upper-bound runs only). Default false. */
  hyperintensityPrior?: boolean;
}

/**
 * Baur's default residual post-processing: max(x − x̂, 0) → × brain mask eroded with a 3×3 cross
 * (12 iterations, per slice) → 3-D median filter 5 (scipy, mode 'reflect').
 */
export function baurPostprocess(
  input: NdArray,
  reconstruction: NdArray,
  brainMask: NdArray | undefined,
  options: BaurPostprocessOptions = {},
): NdArray<Float64Array> {
  checkOptionKeys('baurPostprocess', options, ['erosionIterations', 'sliceAxis', 'medianSize', 'hyperintensityPrior']);
  let map: NdArray<Float64Array> = positiveResidual(input, reconstruction);
  if (options.hyperintensityPrior) map = hyperintensityPrior(map, input, 90);
  if (brainMask) {
    const rank = brainMask.shape.length;
    const eroded = binaryErosion(brainMask, {
      iterations: options.erosionIterations ?? 12,
      ...(rank === 3 ? { sliceAxis: options.sliceAxis ?? 0 } : {}),
    });
    map = applyMask(map, eroded);
  }
  const size = options.medianSize ?? 5;
  if (size > 0) map = medianFilter(map, { size }) as NdArray<Float64Array>;
  return map;
}

export interface BaurPooledOptions {
  /** Labelled validation cases: the best-Dice threshold on them is fixed and applied to the test set. */
  validation?: readonly EvaluationCase[];
  /** A fixed external threshold (takes precedence over `validation`). */
  threshold?: number;
  /**
   * Oracle search: 'recursive' (default; Baur's `compute_dice_curve_recursive`, maps in [0, 1]),
   * 'grid' (`thresholds`, default linspace(0, 1, 101)), or 'bisection' (Zimmerer, 10 steps).
   */
  search?: 'recursive' | 'grid' | 'bisection';
  /** Depth of the recursive sweep (decimals); Baur's `Evaluation.py` uses 10. Default 10. */
  granularity?: number;
  thresholds?: ArrayLike<number>;
  /** Remove components of ≤ this many voxels after thresholding (default 7; `null` disables). */
  removeComponentsLe?: number | null;
  connectivity?: Connectivity;
  /** Lesion-wise detection ignores predicted components smaller than this (default 8). */
  lesionMinSize?: number;
}

function search(
  map: ArrayLike<number>,
  gt: ArrayLike<number>,
  o: BaurPooledOptions,
): { dice: number; threshold: number } {
  switch (o.search ?? 'recursive') {
    case 'grid':
      return bestDiceOverGrid(map, gt, o.thresholds);
    case 'bisection':
      return bestDiceBisection(map, gt);
    case 'recursive':
      return bestDiceRecursive(map, gt, { granularity: o.granularity ?? 10 });
    default:
      throw new MetricsArgumentError('options.search', `unknown search '${String(o.search)}'`);
  }
}

/** Runs the pooled protocol; see the module comment. */
export function baurPooledProtocol(test: readonly EvaluationCase[], options: BaurPooledOptions = {}): MetricsReport {
  checkOptionKeys('baurPooledProtocol', options, [
    'validation',
    'threshold',
    'search',
    'granularity',
    'thresholds',
    'removeComponentsLe',
    'connectivity',
    'lesionMinSize',
  ]);
  checkCases('test', test);
  const pooled = pool(test);
  const r = rankingMetrics(pooled.gt, pooled.map);
  const oracle = search(pooled.map, pooled.gt, options);
  const entries: MetricEntry[] = [
    { metric: 'AUROC', value: r.rocAuc, n: test.length, aggregation: 'pooled', thresholdSource: 'none' },
    { metric: 'AUPRC', value: r.averagePrecision, n: test.length, aggregation: 'pooled', thresholdSource: 'none' },
    {
      metric: '⌈DSC⌉',
      value: oracle.dice,
      n: test.length,
      aggregation: 'pooled',
      thresholdSource: 'oracle',
      threshold: oracle.threshold,
    },
  ];
  const details: Record<string, unknown> = { oracleThreshold: oracle.threshold, nPos: r.nPos, nNeg: r.nNeg };
  let threshold = options.threshold;
  let source: 'fixed' | 'validation' = 'fixed';
  if (threshold === undefined && options.validation) {
    checkCases('options.validation', options.validation);
    const v = pool(options.validation);
    threshold = search(v.map, v.gt, options).threshold;
    source = 'validation';
  }
  if (threshold !== undefined) {
    const le = options.removeComponentsLe === undefined ? 7 : options.removeComponentsLe;
    let P = 0;
    let G = 0;
    let PG = 0;
    const perPatient: number[] = [];
    const det = { tp: 0, fp: 0, fn: 0 };
    for (const c of test) {
      let pred = binarize(c.map, threshold);
      if (le !== null)
        pred = removeSmallComponents(pred, {
          maxSize: le,
          ...(options.connectivity ? { connectivity: options.connectivity } : {}),
        });
      const { p, g, pg } = overlapCounts(pred.data, c.gt.data as ArrayLike<number>);
      P += p;
      G += g;
      PG += pg;
      perPatient.push(p + g === 0 ? NaN : (2 * pg) / (p + g));
      const d = lesionDetection(pred, c.gt, {
        minPredictedSize: options.lesionMinSize ?? 8,
        ...(options.connectivity ? { connectivity: options.connectivity } : {}),
      });
      det.tp += d.tp;
      det.fp += d.fp;
      det.fn += d.fn;
    }
    const pp = nanMeanStd(perPatient);
    entries.push(
      {
        metric: 'Dice',
        value: diceFromCounts(PG, P, G),
        n: test.length,
        aggregation: 'pooled',
        thresholdSource: source,
        threshold,
      },
      {
        metric: 'Dice',
        value: pp.mean,
        std: pp.std,
        n: pp.n,
        aggregation: 'per-volume',
        thresholdSource: source,
        threshold,
      },
      { metric: 'lesion TP', value: det.tp, n: test.length, aggregation: 'pooled', thresholdSource: source, threshold },
      { metric: 'lesion FP', value: det.fp, n: test.length, aggregation: 'pooled', thresholdSource: source, threshold },
      { metric: 'lesion FN', value: det.fn, n: test.length, aggregation: 'pooled', thresholdSource: source, threshold },
      {
        metric: 'lesion TPR',
        value: det.tp + det.fn === 0 ? NaN : det.tp / (det.tp + det.fn),
        n: test.length,
        aggregation: 'pooled',
        thresholdSource: source,
        threshold,
      },
    );
    details.threshold = threshold;
    details.thresholdSource = source;
    details.perPatientDice = test.map((c, i) => ({ id: c.id ?? String(i), dice: perPatient[i] }));
  }
  return {
    protocol: 'baur-pooled',
    description:
      'Baur et al. 2021 pooled protocol: pixel AUROC / AUPRC (sklearn average precision) over all test voxels pooled; ⌈DSC⌉ = oracle best Dice on the pooled test map; Dice at a threshold fixed beforehand.',
    entries,
    details,
  };
}
