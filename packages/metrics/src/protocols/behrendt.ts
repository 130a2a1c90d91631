/**
 * Behrendt et al. (pDDPM / cDDPM) per-volume protocol (evaluation.md §3; `src/utils/utils_eval.py`
 * of `FinnBehrendt/Conditioned-Diffusion-Models-UAD`):
 * 1. diff = |x − x̂| (L27-28); 2. × brain mask eroded per axial slice with the 2-D cross,
 * W//25 iterations, border 0 (`apply_brainmask_volume`, L445-451); 3. 3-D median 5×5×5, 'reflect'
 * (L453) — {@link behrendtPostprocess};
 * 4. τ = Zimmerer 10-step bisection on the pooled validation voxels (`_test_end` L254-263);
 * 5. per test volume: pred = diff > τ, 26-connected components with ≤ 7 voxels removed (L480-493),
 * Dice; oracle per-volume Dice (bisection); AUPRC / AUROC over all voxels; L1 reconstruction errors
 * on the raw reconstruction; slice- and volume-level scores; mean ± std over volumes (nanmean).
 * Healthy-set thresholds at 1 / 5 / 10 % voxel FPR are computed when a healthy validation set is given.
 */
import { MetricsArgumentError, checkOptionKeys } from '../errors.js';
import { checkSameShape, nanMeanStd, type NdArray } from '../ndarray.js';
import { bestDiceBisection } from '../dice/dice.js';
import { thresholdAtFpr, thresholdAtRocFpr } from '../dice/thresholds.js';
import { rankingMetrics } from '../ranking/curves.js';
import { medianFilter } from '../ops/filters.js';
import { removeSmallComponents } from '../ops/label.js';
import { applyMask, binaryErosion } from '../ops/morphology.js';
import { absResidual } from '../ops/residual.js';
import type { MetricEntry, MetricsReport } from '../report/report.js';
import { collectWarnings } from '../warnings.js';
import { binarize, checkCases, overlapCounts, pool, type EvaluationCase } from './common.js';
import { reconstructionErrors } from './reconstruction.js';

export interface BehrendtPostprocessOptions {
  /** Axis of the axial slices in the volume. Default 0 (`[D, H, W]`); Behrendt's `[H, W, D]` arrays use 2. */
  sliceAxis?: number;
  /** Erosion iterations. Default ⌊(first in-plane size) / 25⌋ (= 3 for 96 px). */
  erosionIterations?: number;
  /** Median kernel. Default 5; 0 disables. */
  medianSize?: number;
}

/** Steps 1-3: |x − x̂| → × per-slice eroded brain mask → 3-D median filter 5. Volumes are rank 3. */
export function behrendtPostprocess(
  input: NdArray,
  reconstruction: NdArray,
  brainMask: NdArray,
  options: BehrendtPostprocessOptions = {},
): NdArray<Float64Array> {
  checkOptionKeys('behrendtPostprocess', options, ['sliceAxis', 'erosionIterations', 'medianSize']);
  if (input.shape.length !== 3) throw new MetricsArgumentError('input', 'expected a rank-3 volume');
  checkSameShape('input', input, 'brainMask', brainMask);
  const sliceAxis = options.sliceAxis ?? 0;
  const inPlane = input.shape.filter((_, a) => a !== sliceAxis);
  const iterations = options.erosionIterations ?? Math.floor(inPlane[0]! / 25);
  let diff: NdArray<Float64Array> = absResidual(input, reconstruction);
  diff = applyMask(diff, binaryErosion(brainMask, { iterations, sliceAxis, borderValue: 0 }));
  const size = options.medianSize ?? 5;
  if (size > 0) diff = medianFilter(diff, { size }) as NdArray<Float64Array>;
  return diff;
}

export interface BehrendtVolume extends EvaluationCase {
  /** Un-eroded brain mask, for slice-/volume-level scores. */
  brainMask?: NdArray;
  /** Raw input and reconstruction, for the L1 errors. */
  input?: NdArray;
  reconstruction?: NdArray;
}

export interface BehrendtOptions {
  /** Labelled validation volumes of the same pathology dataset (τ source). */
  validation?: readonly EvaluationCase[];
  /** Use this τ instead of a validation search. */
  threshold?: number;
  /** Healthy validation volumes (IXI): thresholds at 1 / 5 / 10 % voxel FPR (logged only). */
  healthyValidation?: readonly EvaluationCase[];
  /**
   * How the FPR thresholds are found: 'percentile' (default; the (1 − f) quantile of the pooled
   * healthy voxels, {@link thresholdAtFpr}) or 'roc' (`thresholds[argmax(fpr > f)]` of sklearn's
   * `roc_curve`, as `calc_thresh` in Behrendt's `utils_eval.py`, {@link thresholdAtRocFpr}).
   */
  fprRule?: 'percentile' | 'roc';
  /** Bisection steps. Default 10. */
  steps?: number;
  /** Remove components ≤ this size after thresholding. Default 7; null disables. */
  removeComponentsLe?: number | null;
  /** Slice axis for slice-level scores. Default 0. */
  sliceAxis?: number;
}

/** Slice score = mean map inside the (un-eroded) brain mask of the slice (0 without brain); label = any lesion. */
function sliceScores(v: BehrendtVolume, axis: number): { scores: number[]; labels: number[] } {
  const shape = v.map.shape;
  const stride = axis === 0 ? shape[1]! * shape[2]! : axis === 1 ? shape[2]! : 1;
  const n = shape[axis]!;
  const sum = new Float64Array(n);
  const cnt = new Float64Array(n);
  const lesion = new Array<number>(n).fill(0);
  for (let i = 0; i < v.map.data.length; i++) {
    const s = Math.floor(i / stride) % n;
    if ((v.brainMask!.data[i] as number) > 0) {
      sum[s] = sum[s]! + (v.map.data[i] as number);
      cnt[s] = cnt[s]! + 1;
    }
    if ((v.gt.data[i] as number) > 0) lesion[s] = 1;
  }
  return { scores: Array.from(sum, (x, s) => (cnt[s] === 0 ? 0 : x / cnt[s]!)), labels: lesion };
}

export function behrendtPerVolumeProtocol(
  test: readonly BehrendtVolume[],
  options: BehrendtOptions = {},
): MetricsReport {
  checkOptionKeys('behrendtPerVolumeProtocol', options, [
    'validation',
    'threshold',
    'healthyValidation',
    'fprRule',
    'steps',
    'removeComponentsLe',
    'sliceAxis',
  ]);
  checkCases('test', test);
  const steps = options.steps ?? 10;
  let tau = options.threshold;
  let source: 'fixed' | 'validation' = 'fixed';
  if (tau === undefined) {
    if (!options.validation)
      throw new MetricsArgumentError('options.validation', 'needed to choose τ (or pass options.threshold)');
    checkCases('options.validation', options.validation);
    const v = pool(options.validation);
    tau = bestDiceBisection(v.map, v.gt, { steps }).threshold;
    source = 'validation';
  }
  const le = options.removeComponentsLe === undefined ? 7 : options.removeComponentsLe;
  const axis = options.sliceAxis ?? 0;
  const per = {
    dice: [] as number[],
    bestDice: [] as number[],
    bestThreshold: [] as number[],
    auprc: [] as number[],
    auroc: [] as number[],
  };
  const l1 = { all: [] as number[], healthy: [] as number[], unhealthy: [] as number[] };
  const slice = { auroc: [] as number[], auprc: [] as number[] };
  const volumeScores: number[] = [];
  const volumeLabels: number[] = [];
  for (const v of test) {
    let pred = binarize(v.map, tau);
    if (le !== null)
      pred = removeSmallComponents(pred, {
        maxSize: le,
        connectivity: v.map.shape.length >= 3 ? 3 : (v.map.shape.length as 1 | 2),
      });
    const { p, g, pg } = overlapCounts(pred.data, v.gt.data as ArrayLike<number>);
    per.dice.push(p + g === 0 ? NaN : (2 * pg) / (p + g));
    const best = bestDiceBisection(v.map.data as ArrayLike<number>, v.gt.data as ArrayLike<number>, { steps });
    per.bestDice.push(best.dice);
    per.bestThreshold.push(best.threshold);
    const r = collectWarnings(() =>
      rankingMetrics(v.gt.data as ArrayLike<number>, v.map.data as ArrayLike<number>),
    ).result;
    per.auroc.push(r.rocAuc);
    per.auprc.push(r.nPos === 0 ? NaN : r.averagePrecision);
    if (v.input && v.reconstruction) {
      const e = reconstructionErrors(v.input, v.reconstruction, v.gt);
      l1.all.push(e.all);
      l1.healthy.push(e.healthy);
      l1.unhealthy.push(e.unhealthy);
    }
    if (v.brainMask && v.map.shape.length === 3) {
      const s = sliceScores(v, axis);
      const sr = collectWarnings(() => rankingMetrics(s.labels, s.scores)).result;
      slice.auroc.push(sr.rocAuc);
      slice.auprc.push(sr.nPos === 0 ? NaN : sr.averagePrecision);
      let sum = 0;
      let cnt = 0;
      for (let i = 0; i < v.map.data.length; i++) {
        if ((v.brainMask.data[i] as number) > 0) {
          sum += v.map.data[i] as number;
          cnt++;
        }
      }
      volumeScores.push(cnt === 0 ? 0 : sum / cnt);
      volumeLabels.push(g > 0 ? 1 : 0);
    }
  }
  const ms = (
    metric: string,
    values: number[],
    thresholdSource: MetricEntry['thresholdSource'],
    threshold?: number,
  ): MetricEntry => {
    const s = nanMeanStd(values);
    return {
      metric,
      value: s.mean,
      std: s.std,
      n: s.n,
      aggregation: 'per-volume',
      thresholdSource,
      ...(threshold === undefined ? {} : { threshold }),
    };
  };
  const entries: MetricEntry[] = [
    ms('Dice', per.dice, source, tau),
    { ...ms('best Dice', per.bestDice, 'oracle'), threshold: nanMeanStd(per.bestThreshold).mean },
    ms('AUPRC', per.auprc, 'none'),
    ms('AUROC', per.auroc, 'none'),
  ];
  if (l1.all.length > 0) {
    entries.push(
      ms('L1 (all)', l1.all, 'none'),
      ms('L1 (healthy)', l1.healthy, 'none'),
      ms('L1 (unhealthy)', l1.unhealthy, 'none'),
    );
  }
  if (slice.auroc.length > 0) {
    entries.push({ ...ms('slice AUROC', slice.auroc, 'none') }, { ...ms('slice AUPRC', slice.auprc, 'none') });
    const vr = collectWarnings(() => rankingMetrics(volumeLabels, volumeScores)).result;
    entries.push({
      metric: 'volume AUROC',
      value: vr.rocAuc,
      n: volumeScores.length,
      aggregation: 'image-level',
      thresholdSource: 'none',
    });
  }
  const details: Record<string, unknown> = {
    tau,
    thresholdSource: source,
    perVolume: test.map((v, i) => ({
      id: v.id ?? String(i),
      dice: per.dice[i],
      bestDice: per.bestDice[i],
      bestThreshold: per.bestThreshold[i],
      auprc: per.auprc[i],
      auroc: per.auroc[i],
    })),
  };
  if (options.healthyValidation) {
    checkCases('options.healthyValidation', options.healthyValidation);
    const h = pool(options.healthyValidation);
    const at = (f: number) =>
      options.fprRule === 'roc' ? thresholdAtRocFpr(h.gt, h.map, f) : thresholdAtFpr(h.map, f);
    const t = { t1p: at(0.01), t5p: at(0.05), t10p: at(0.1) };
    details.healthyFprThresholds = t;
    for (const [name, value] of Object.entries(t)) {
      entries.push({
        metric: `threshold ${name}`,
        value,
        n: options.healthyValidation.length,
        aggregation: 'pooled',
        thresholdSource: 'fpr',
      });
    }
  }
  return {
    protocol: 'behrendt-per-volume',
    description:
      'Behrendt et al. (cDDPM) per-volume protocol: τ = 10-step bisection best Dice on pooled validation voxels; per volume Dice (components ≤ 7 voxels removed), oracle best Dice, AUPRC, AUROC over all voxels; mean ± std over volumes.',
    entries,
    details,
  };
}
