/**
 * THOR (Bercea et al., MICCAI 2024) protocols (evaluation.md §4; `ci-ber/THOR_DDPM`):
 * - brain stroke (`projects/thor/DownstreamEvaluatorAtlas.py`): images binned by lesion area
 *   (3, 71], (71, 570], (570, 10000] px at 128²; per bin the pooled pixel AUPRC
 *   (`optim/metrics/auprc.py`, sklearn average precision, background included) and the oracle best
 *   Dice 2|P∩G|/(|P|+|G|+1e-6) over th ∈ linspace(0, 1, 101) (`optim/metrics/dice.py`); MAE and
 *   SSIM (data_range 1) of x vs x_rec per image. The upstream debug index filters are not carried
 *   over; the 20 "black artifact" counts are exported but not applied unless `exclude` is given.
 * - wrist X-ray (`DownstreamEvaluatorWXR.py`): threshold = smallest of linspace(0, 1, 1000,
 *   endpoint=False) with mean healthy pixel FPR ≤ 5 %; per object TP (> 10 % coverage),
 *   FP = min(10, ⌊mass on healthy region / max(mass on object, 1)⌋), precision, F1, per class.
 */
import { MetricsArgumentError, checkOptionKeys } from '../errors.js';
import { checkSameShape, linspace, nanMeanStd, type NdArray } from '../ndarray.js';
import { bestDiceOverGrid } from '../dice/dice.js';
import { thresholdAtMeanImageFpr } from '../dice/thresholds.js';
import { averagePrecisionScore } from '../ranking/curves.js';
import type { MetricEntry, MetricsReport } from '../report/report.js';
import { collectWarnings, warn } from '../warnings.js';
import { checkCases, pool, type EvaluationCase } from './common.js';
import { l1Error, ssim } from './reconstruction.js';

/** A lesion-size bin: GT pixel count in (min, max]. */
export interface LesionSizeBin {
  name: string;
  min: number;
  max: number;
}

/** THOR's bins at 128² (`start_task`): small (3, 71], medium (71, 570], large (570, 10000]. */
export const THOR_LESION_BINS: readonly LesionSizeBin[] = [
  { name: 'small', min: 3, max: 71 },
  { name: 'medium', min: 71, max: 570 },
  { name: 'large', min: 570, max: 10000 },
];

/**
 * The 20 ATLAS test counts THOR's evaluator skips as having "large black artifacts". Whether the
 * paper excluded them is unverified (evaluation.md §4.1); pass them as `exclude` ids to reproduce.
 */
export const THOR_BLACK_ARTIFACT_COUNTS: readonly number[] = [
  100, 105, 112, 121, 186, 189, 210, 214, 345, 382, 424, 425, 435, 434, 441, 462, 464, 472, 478, 504,
];

export interface ThorBrainCase extends EvaluationCase {
  /** Input image x and reconstruction x_rec in [0, 1] for MAE / SSIM (LPIPS lives in guidance-thor). */
  input?: NdArray;
  reconstruction?: NdArray;
}

export interface ThorBrainOptions {
  bins?: readonly LesionSizeBin[];
  /** Dice thresholds. Default linspace(0, 1, 101). */
  thresholds?: ArrayLike<number>;
  /** Denominator ε of THOR's Dice. Default 1e-6. */
  epsilon?: number;
  /** Case ids to leave out (e.g. `THOR_BLACK_ARTIFACT_COUNTS.map(String)`). */
  exclude?: readonly string[];
}

export function thorBrainProtocol(cases: readonly ThorBrainCase[], options: ThorBrainOptions = {}): MetricsReport {
  checkOptionKeys('thorBrainProtocol', options, ['bins', 'thresholds', 'epsilon', 'exclude']);
  checkCases('cases', cases);
  const bins = options.bins ?? THOR_LESION_BINS;
  const thresholds = options.thresholds ?? linspace(0, 1, 101);
  const exclude = new Set(options.exclude ?? []);
  const entries: MetricEntry[] = [];
  const details: Record<string, unknown> = {};
  for (const bin of bins) {
    const members = cases.filter((c, i) => {
      if (exclude.has(c.id ?? String(i))) return false;
      let area = 0;
      for (let k = 0; k < c.gt.data.length; k++) if ((c.gt.data[k] as number) > 0) area++;
      return area > bin.min && area <= bin.max;
    });
    const subset = `${bin.name} (${bin.min}, ${bin.max}]`;
    if (members.length === 0) {
      warn(`THOR bin ${subset} has no images`);
      entries.push({ metric: 'AUPRC', value: NaN, n: 0, aggregation: 'pooled', thresholdSource: 'none', subset });
      continue;
    }
    const pooled = pool(members);
    const ap = averagePrecisionScore(pooled.gt, pooled.map);
    const best = bestDiceOverGrid(pooled.map, pooled.gt, thresholds, { epsilon: options.epsilon ?? 1e-6 });
    entries.push(
      { metric: 'AUPRC', value: ap, n: members.length, aggregation: 'pooled', thresholdSource: 'none', subset },
      {
        metric: '⌈DSC⌉',
        value: best.dice,
        n: members.length,
        aggregation: 'pooled',
        thresholdSource: 'oracle',
        threshold: best.threshold,
        subset,
      },
    );
    const withRec = members.filter((c) => c.input && c.reconstruction);
    if (withRec.length > 0) {
      const mae = nanMeanStd(withRec.map((c) => l1Error(c.input!, c.reconstruction!)));
      const ss = nanMeanStd(withRec.map((c) => ssim(c.input!, c.reconstruction!, { dataRange: 1 })));
      entries.push(
        {
          metric: 'MAE',
          value: mae.mean,
          std: mae.std,
          n: mae.n,
          aggregation: 'per-image',
          thresholdSource: 'none',
          subset,
        },
        {
          metric: 'SSIM',
          value: ss.mean,
          std: ss.std,
          n: ss.n,
          aggregation: 'per-image',
          thresholdSource: 'none',
          subset,
        },
      );
    }
    details[bin.name] = { images: members.map((c, i) => c.id ?? String(i)), bestThreshold: best.threshold };
  }
  return {
    protocol: 'thor-brain',
    description:
      'THOR (Bercea et al. 2024) ATLAS protocol: per lesion-size bin, pooled pixel AUPRC and oracle best Dice (ε = 1e-6) over 101 thresholds in [0, 1]; no post-processing.',
    entries,
    details,
  };
}

export interface WristObject {
  /** Anomaly map of the image containing the object. */
  map: NdArray;
  /** The annotated object's mask. */
  objectMask: NdArray;
  /** The image's healthy-region (`neg`) mask. */
  healthyMask: NdArray;
  className: string;
}

/** Per-object rule of `object_localization` (evaluation.md §4.2 steps 1-4). */
export function wristObjectScore(
  obj: WristObject,
  threshold: number,
): { tp: number; fp: number; precision: number; f1: number } {
  checkSameShape('map', obj.map, 'objectMask', obj.objectMask);
  checkSameShape('map', obj.map, 'healthyMask', obj.healthyMask);
  let above = 0;
  let objPixels = 0;
  let massObj = 0;
  let massNeg = 0;
  for (let i = 0; i < obj.map.data.length; i++) {
    const m0 = obj.map.data[i] as number;
    const m = m0 < threshold ? 0 : m0; // 1. zero the map below th
    const inObj = (obj.objectMask.data[i] as number) > 0;
    if (inObj) {
      objPixels++;
      if (m > 0) above++;
      massObj += m;
    }
    if ((obj.healthyMask.data[i] as number) > 0) massNeg += m;
  }
  const tp = above > 0.1 * objPixels ? 1 : 0; // 2. > 10 % of the object's pixels
  const fp = Math.min(10, Math.floor(massNeg / Math.max(massObj, 1))); // 3.
  const precision = tp / Math.max(tp + fp, 1); // 4.
  const f1 = precision + tp === 0 ? 0 : (2 * precision * tp) / (precision + tp);
  return { tp, fp, precision, f1 };
}

export function thorWristProtocol(
  healthyMaps: readonly ArrayLike<number>[],
  objects: readonly WristObject[],
  options: { threshold?: number; targetFpr?: number; gridSize?: number } = {},
): MetricsReport {
  checkOptionKeys('thorWristProtocol', options, ['threshold', 'targetFpr', 'gridSize']);
  if (objects.length === 0) throw new MetricsArgumentError('objects', 'needs at least one annotated object');
  let threshold = options.threshold;
  let source: 'fixed' | 'fpr' = 'fixed';
  const details: Record<string, unknown> = {};
  if (threshold === undefined) {
    const t = thresholdAtMeanImageFpr(healthyMaps, {
      targetFpr: options.targetFpr ?? 0.05,
      gridSize: options.gridSize ?? 1000,
    });
    threshold = t.threshold;
    source = 'fpr';
    details.meanHealthyFpr = t.meanFpr;
  }
  const byClass = new Map<string, { tp: number; fp: number; precision: number; f1: number }[]>();
  for (const o of objects) {
    const s = wristObjectScore(o, threshold);
    if (!byClass.has(o.className)) byClass.set(o.className, []);
    byClass.get(o.className)!.push(s);
  }
  const entries: MetricEntry[] = [];
  for (const [cls, list] of byClass) {
    for (const key of ['tp', 'fp', 'precision', 'f1'] as const) {
      const { result: s } = collectWarnings(() => nanMeanStd(list.map((v) => v[key])));
      entries.push({
        metric: key === 'tp' ? 'TP (recall)' : key === 'fp' ? 'FP' : key === 'precision' ? 'precision' : 'F1',
        value: s.mean,
        n: list.length,
        aggregation: 'per-object',
        thresholdSource: source,
        threshold,
        subset: cls,
      });
    }
  }
  details.threshold = threshold;
  return {
    protocol: 'thor-wrist',
    description:
      'THOR wrist X-ray protocol: threshold at ≤ 5 % mean pixel FPR on healthy images; per annotated object TP (> 10 % coverage), FP = min(10, ⌊healthy-region mass / object mass⌋); means per class.',
    entries,
    details,
  };
}
