/**
 * ROC and precision-recall curves, ROC AUC and average precision with scikit-learn 1.2.1 semantics
 * (`sklearn/metrics/_ranking.py`: `_binary_clf_curve`, `roc_curve`, `precision_recall_curve`,
 * `average_precision_score`, `roc_auc_score`). Labels: a value > 0 is positive (binary 0/1 masks,
 * segmentation labels, or {-1, 1}). Sorting is O(n) radix for float32 scores, O(n log n) otherwise.
 */
import { MetricsArgumentError, UndefinedMetricError } from '../errors.js';
import { checkFinite, checkSameLength } from '../ndarray.js';
import { warn } from '../warnings.js';
import { splitAndSort, walkDistinctDescending } from './sort.js';

/** Counts at each distinct threshold, thresholds in decreasing order (`_binary_clf_curve`). */
export interface BinaryClfCurve {
  /** False positives among samples with score >= thresholds[i]. */
  fps: Float64Array;
  /** True positives among samples with score >= thresholds[i]. */
  tps: Float64Array;
  /** Distinct scores, decreasing. */
  thresholds: Float64Array;
}

export interface RocCurve {
  fpr: Float64Array;
  tpr: Float64Array;
  /** Decreasing; `thresholds[0] = max(score) + 1` (scikit-learn 1.2; newer versions use `Infinity`). */
  thresholds: Float64Array;
}

export interface PrecisionRecallCurve {
  /** Increasing-threshold order, with a final point precision 1. */
  precision: Float64Array;
  /** Decreasing, with a final point recall 0. */
  recall: Float64Array;
  /** Increasing, one per distinct score (one fewer than precision/recall). */
  thresholds: Float64Array;
}

function validate(yTrue: ArrayLike<number>, yScore: ArrayLike<number>): void {
  checkSameLength('yTrue', yTrue, 'yScore', yScore);
  if (yScore.length === 0) throw new MetricsArgumentError('yScore', 'empty input: at least one sample is required');
  checkFinite('yTrue', yTrue);
  checkFinite('yScore', yScore);
}

/** Port of `_binary_clf_curve`: cumulative tps/fps per distinct score, decreasing. */
export function binaryClfCurve(yTrue: ArrayLike<number>, yScore: ArrayLike<number>): BinaryClfCurve {
  validate(yTrue, yScore);
  const { pos, neg } = splitAndSort(yTrue, yScore);
  const n = yScore.length;
  const fps = new Float64Array(n);
  const tps = new Float64Array(n);
  const thresholds = new Float64Array(n);
  let k = 0;
  walkDistinctDescending(pos, neg, (t, tp, fp) => {
    thresholds[k] = t;
    tps[k] = tp;
    fps[k] = fp;
    k++;
  });
  return { fps: fps.slice(0, k), tps: tps.slice(0, k), thresholds: thresholds.slice(0, k) };
}

/**
 * `sklearn.metrics.roc_curve(y_true, y_score, drop_intermediate)`. With `dropIntermediate` (the
 * default, as in scikit-learn) points whose second differences of fps and tps are both 0 are
 * dropped. Without positives (negatives) tpr (fpr) is NaN and a warning is emitted.
 */
export function rocCurve(
  yTrue: ArrayLike<number>,
  yScore: ArrayLike<number>,
  options: { dropIntermediate?: boolean } = {},
): RocCurve {
  const dropIntermediate = options.dropIntermediate ?? true;
  let { fps, tps, thresholds } = binaryClfCurve(yTrue, yScore);
  if (dropIntermediate && fps.length > 2) {
    // optimal_idxs = where(r_[True, logical_or(diff(fps, 2), diff(tps, 2)), True])
    const keep: number[] = [0];
    for (let i = 1; i < fps.length - 1; i++) {
      const d2f = fps[i + 1]! - 2 * fps[i]! + fps[i - 1]!;
      const d2t = tps[i + 1]! - 2 * tps[i]! + tps[i - 1]!;
      if (d2f !== 0 || d2t !== 0) keep.push(i);
    }
    keep.push(fps.length - 1);
    fps = Float64Array.from(keep, (i) => fps[i]!);
    tps = Float64Array.from(keep, (i) => tps[i]!);
    thresholds = Float64Array.from(keep, (i) => thresholds[i]!);
  }
  const m = fps.length + 1;
  const fpr = new Float64Array(m);
  const tpr = new Float64Array(m);
  const th = new Float64Array(m);
  // Extra threshold so the curve starts at (0, 0): thresholds[0] + 1, in the scores' precision.
  th[0] = yScore instanceof Float32Array ? Math.fround(thresholds[0]! + 1) : thresholds[0]! + 1;
  th.set(thresholds, 1);
  const fpsLast = fps[fps.length - 1]!;
  const tpsLast = tps[tps.length - 1]!;
  if (fpsLast <= 0) warn('No negative samples in y_true, false positive value should be meaningless');
  if (tpsLast <= 0) warn('No positive samples in y_true, true positive value should be meaningless');
  for (let i = 0; i < m; i++) {
    const f = i === 0 ? 0 : fps[i - 1]!;
    const t = i === 0 ? 0 : tps[i - 1]!;
    fpr[i] = fpsLast <= 0 ? NaN : f / fpsLast;
    tpr[i] = tpsLast <= 0 ? NaN : t / tpsLast;
  }
  return { fpr, tpr, thresholds: th };
}

/**
 * `sklearn.metrics.precision_recall_curve(y_true, probas_pred)` (scikit-learn 1.2: all thresholds
 * are kept, including those after full recall). Without positives recall is set to 1 with a warning.
 */
export function precisionRecallCurve(yTrue: ArrayLike<number>, yScore: ArrayLike<number>): PrecisionRecallCurve {
  const { fps, tps, thresholds } = binaryClfCurve(yTrue, yScore);
  const k = tps.length;
  const tpsLast = tps[k - 1]!;
  if (tpsLast === 0) warn('No positive class found in y_true, recall is set to one for all thresholds.');
  const precision = new Float64Array(k + 1);
  const recall = new Float64Array(k + 1);
  const th = new Float64Array(k);
  for (let i = 0; i < k; i++) {
    const j = k - 1 - i; // reversed: increasing thresholds
    const ps = tps[j]! + fps[j]!;
    precision[i] = ps !== 0 ? tps[j]! / ps : 0;
    recall[i] = tpsLast === 0 ? 1 : tps[j]! / tpsLast;
    th[i] = thresholds[j]!;
  }
  precision[k] = 1;
  recall[k] = 0;
  return { precision, recall, thresholds: th };
}

/**
 * `sklearn.metrics.average_precision_score`: AP = Σ_n (R_n − R_{n−1}) · P_n, the step-wise sum
 * over distinct thresholds (no interpolation, not a trapezoid). Streams over the sorted scores
 * without materialising the curve. No positives: returns 0 with scikit-learn's warning.
 */
export function averagePrecisionScore(yTrue: ArrayLike<number>, yScore: ArrayLike<number>): number {
  validate(yTrue, yScore);
  const { pos, neg } = splitAndSort(yTrue, yScore);
  const nPos = pos.length;
  if (nPos === 0) {
    warn('No positive class found in y_true, recall is set to one for all thresholds.');
    return 0; // recall ≡ 1, so only the first step (R 0 -> 1) counts, with precision 0
  }
  let ap = 0;
  let prevRecall = 0;
  walkDistinctDescending(pos, neg, (_t, tp, fp) => {
    const recall = tp / nPos;
    ap += (recall - prevRecall) * (tp / (tp + fp));
    prevRecall = recall;
  });
  return ap;
}

/**
 * `sklearn.metrics.roc_auc_score` for binary labels: the trapezoidal area under the ROC curve,
 * where tied scores contribute a diagonal segment (equivalently the Mann-Whitney U / (P·N) with
 * ties counting one half). Accumulated in integer arithmetic, exact while 2·P·N < 2^53.
 * Throws {@link UndefinedMetricError} when only one class is present, as scikit-learn raises.
 */
export function rocAucScore(yTrue: ArrayLike<number>, yScore: ArrayLike<number>): number {
  validate(yTrue, yScore);
  const { pos, neg } = splitAndSort(yTrue, yScore);
  if (pos.length === 0 || neg.length === 0) {
    throw new UndefinedMetricError(
      'rocAucScore',
      'Only one class present in y_true. ROC AUC score is not defined in that case.',
    );
  }
  let area2 = 0; // Σ Δfp · (tp_prev + tp), exact while < 2^53
  let prevTp = 0;
  let prevFp = 0;
  walkDistinctDescending(pos, neg, (_t, tp, fp) => {
    area2 += (fp - prevFp) * (prevTp + tp);
    prevTp = tp;
    prevFp = fp;
  });
  return area2 / 2 / (pos.length * neg.length);
}

/**
 * Both ranking metrics from one sort: `{ rocAuc, averagePrecision }`. `rocAuc` is NaN (with a
 * warning) instead of throwing when only one class is present, so per-volume protocols can use
 * `nanmean`; `averagePrecision` follows {@link averagePrecisionScore}.
 */
export function rankingMetrics(
  yTrue: ArrayLike<number>,
  yScore: ArrayLike<number>,
): { rocAuc: number; averagePrecision: number; nPos: number; nNeg: number } {
  validate(yTrue, yScore);
  const { pos, neg } = splitAndSort(yTrue, yScore);
  const nPos = pos.length;
  const nNeg = neg.length;
  let area2 = 0;
  let ap = 0;
  let prevTp = 0;
  let prevFp = 0;
  let prevRecall = 0;
  walkDistinctDescending(pos, neg, (_t, tp, fp) => {
    area2 += (fp - prevFp) * (prevTp + tp);
    if (nPos > 0) {
      const recall = tp / nPos;
      ap += (recall - prevRecall) * (tp / (tp + fp));
      prevRecall = recall;
    }
    prevTp = tp;
    prevFp = fp;
  });
  if (nPos === 0) warn('No positive class found in y_true, recall is set to one for all thresholds.');
  let rocAuc = NaN;
  if (nPos === 0 || nNeg === 0) warn('Only one class present in y_true. ROC AUC score is not defined in that case.');
  else rocAuc = area2 / 2 / (nPos * nNeg);
  return { rocAuc, averagePrecision: nPos === 0 ? 0 : ap, nPos, nNeg };
}
