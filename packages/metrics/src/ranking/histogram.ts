/**
 * Streaming / histogram ROC AUC and average precision for pooled sets too large to sort (or that
 * arrive volume by volume). Scores are binned into `bins` equal-width bins over `[low, high]`
 * (values outside are clamped into the edge bins); per bin the positives and negatives are counted.
 * The result is the exact scikit-learn metric of the *quantised* scores, i.e. every bin is one tie
 * group. Memory is O(bins), independent of the number of samples.
 *
 * Error bound (rigorous, computed from the histogram itself): with p_b, n_b the positives and
 * negatives in bin b, P and N the totals and T_b, F_b the counts in the bins above b,
 * - |AUROC_hist − AUROC_exact| ≤ Σ_b p_b·n_b / (2·P·N)  (only pairs inside one bin can be mis-ordered);
 * - |AP_hist − AP_exact| ≤ Σ_b (p_b/P)·[(T_b+p_b)/(T_b+p_b+F_b) − (T_b+1)/(T_b+1+F_b+n_b)]
 *   (every positive of bin b has, in any within-bin order or tie grouping, a precision between these).
 * With 2^16 bins on maps in [0, 1] both bounds are typically < 1e-4; `errorBounds()` reports them.
 */
import { MetricsArgumentError, checkOptionKeys } from '../errors.js';
import { checkFinite, checkSameLength } from '../ndarray.js';

export interface HistogramRankingOptions {
  /** Number of equal-width bins. Default 65536. */
  bins?: number;
  /** Score range mapped onto the bins. Default `[0, 1]` (anomaly maps clipped to [0, 1]). */
  range?: [number, number];
}

export class HistogramRanking {
  readonly bins: number;
  readonly low: number;
  readonly high: number;
  private readonly pos: Float64Array;
  private readonly neg: Float64Array;
  private clamped = 0;

  constructor(options: HistogramRankingOptions = {}) {
    checkOptionKeys('HistogramRanking', options, ['bins', 'range']);
    this.bins = options.bins ?? 65536;
    [this.low, this.high] = options.range ?? [0, 1];
    if (!Number.isInteger(this.bins) || this.bins < 1)
      throw new MetricsArgumentError('options.bins', 'must be a positive integer');
    if (!(this.high > this.low)) throw new MetricsArgumentError('options.range', 'must be [low, high] with high > low');
    this.pos = new Float64Array(this.bins);
    this.neg = new Float64Array(this.bins);
  }

  /** Adds samples (label > 0 is positive). Can be called once per volume. */
  update(yTrue: ArrayLike<number>, yScore: ArrayLike<number>): this {
    checkSameLength('yTrue', yTrue, 'yScore', yScore);
    checkFinite('yScore', yScore);
    const scale = this.bins / (this.high - this.low);
    const last = this.bins - 1;
    for (let i = 0; i < yScore.length; i++) {
      const v = yScore[i]!;
      let b = Math.floor((v - this.low) * scale);
      if (b < 0 || b > last) {
        if (v < this.low || v > this.high) this.clamped++;
        b = b < 0 ? 0 : last;
      }
      if (yTrue[i]! > 0) this.pos[b]!++;
      else this.neg[b]!++;
    }
    return this;
  }

  /** Adds another accumulator's counts (same bins and range), e.g. from a parallel worker. */
  merge(other: HistogramRanking): this {
    if (other.bins !== this.bins || other.low !== this.low || other.high !== this.high) {
      throw new MetricsArgumentError('other', 'histograms differ in bins or range');
    }
    for (let b = 0; b < this.bins; b++) {
      this.pos[b] = this.pos[b]! + other.pos[b]!;
      this.neg[b] = this.neg[b]! + other.neg[b]!;
    }
    this.clamped += other.clamped;
    return this;
  }

  /** Number of samples so far that fell outside `[low, high]` and were clamped. */
  get clampedCount(): number {
    return this.clamped;
  }

  private totals(): { P: number; N: number } {
    let P = 0;
    let N = 0;
    for (let b = 0; b < this.bins; b++) {
      P += this.pos[b]!;
      N += this.neg[b]!;
    }
    return { P, N };
  }

  /** ROC AUC of the quantised scores (NaN if one class is missing). */
  rocAuc(): number {
    const { P, N } = this.totals();
    if (P === 0 || N === 0) return NaN;
    let area2 = 0;
    let tp = 0;
    for (let b = this.bins - 1; b >= 0; b--) {
      const p = this.pos[b]!;
      area2 += this.neg[b]! * (2 * tp + p);
      tp += p;
    }
    return area2 / 2 / (P * N);
  }

  /** Average precision (step-wise, scikit-learn definition) of the quantised scores; 0 without positives. */
  averagePrecision(): number {
    const { P } = this.totals();
    if (P === 0) return 0;
    let ap = 0;
    let tp = 0;
    let fp = 0;
    for (let b = this.bins - 1; b >= 0; b--) {
      const p = this.pos[b]!;
      const n = this.neg[b]!;
      if (p === 0 && n === 0) continue;
      tp += p;
      fp += n;
      ap += (p / P) * (tp / (tp + fp));
    }
    return ap;
  }

  /** Rigorous bounds on |histogram − exact| for both metrics (see the module comment). */
  errorBounds(): { rocAuc: number; averagePrecision: number } {
    const { P, N } = this.totals();
    let auc = 0;
    let ap = 0;
    let T = 0;
    let F = 0;
    for (let b = this.bins - 1; b >= 0; b--) {
      const p = this.pos[b]!;
      const n = this.neg[b]!;
      auc += p * n;
      if (p > 0) {
        const upper = (T + p) / (T + p + F);
        const lower = (T + 1) / (T + 1 + F + n);
        ap += (p / P) * (upper - lower);
      }
      T += p;
      F += n;
    }
    return { rocAuc: P > 0 && N > 0 ? auc / (2 * P * N) : NaN, averagePrecision: P > 0 ? ap : NaN };
  }
}
