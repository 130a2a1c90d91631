/**
 * Thresholding and evaluation per Behrendt et al. (evaluation.md §3; `src/utils/utils_eval.py`
 * `_test_step`, `_test_end`, `find_best_val` of `FinnBehrendt/Conditioned-Diffusion-Models-UAD`),
 * as glue over `@adx/metrics`:
 *
 *   τ    = 10-step Zimmerer bisection maximising Dice on the POOLED validation voxels (`_test_end` L254-263)
 *   pred = map > τ, then 26-connected components with ≤ 7 voxels removed       (L480-493)
 *   per volume: Dice at τ, oracle best Dice (bisection), AUPRC, AUROC (all voxels), L1 on healthy voxels
 */
import {
  behrendtPerVolumeProtocol,
  bestDiceBisection,
  binarize,
  pool,
  removeSmallComponents,
  type BehrendtVolume,
  type MetricsReport,
  type NdArray,
} from '@adx/metrics';
import { ArgumentError } from '@adx/diffusion-core';
import { detectConditioned, type DetectOptions, type VolumeArray } from './detect.js';
import type { CDDPM } from './model.js';

/** One evaluated volume: a detection result and its segmentation (> 0 = lesion), `[D, H, W]`. */
export interface LabelledDetection {
  /** A `DetectResult` (or any map with an optional reconstruction), `[D, H, W]`. */
  detection: { anomalyMap: VolumeArray; reconstruction?: VolumeArray };
  segmentation: VolumeArray;
  /** Input volume in [0, 1] (`[D, H, W]`), for the L1 reconstruction errors. */
  input?: VolumeArray;
  /** Un-eroded brain mask, for slice- and volume-level scores. */
  brainMask?: VolumeArray;
  id?: string;
}

function nd(argument: string, v: VolumeArray, shape: readonly number[]): NdArray {
  const n = shape.reduce((a, b) => a * b, 1);
  if (v.data.length !== n)
    throw new ArgumentError(argument, `has ${v.data.length} values, the anomaly map [${shape.join(', ')}] has ${n}`);
  return { data: v.data as NdArray['data'], shape };
}

function toCase(argument: string, v: LabelledDetection): BehrendtVolume {
  const shape = v.detection.anomalyMap.shape;
  const c: BehrendtVolume = {
    map: nd(`${argument}.detection.anomalyMap`, v.detection.anomalyMap, shape),
    gt: nd(`${argument}.segmentation`, v.segmentation, shape),
  };
  if (v.id !== undefined) c.id = v.id;
  if (v.input && v.detection.reconstruction) {
    c.input = nd(`${argument}.input`, v.input, shape);
    c.reconstruction = nd(`${argument}.detection.reconstruction`, v.detection.reconstruction, shape);
  }
  if (v.brainMask) c.brainMask = nd(`${argument}.brainMask`, v.brainMask, shape);
  return c;
}

/**
 * Global τ of a pathology dataset: the 10-step bisection (`find_best_val`) on the pooled voxels of
 * all its labelled validation volumes, background included.
 */
export function validationThreshold(
  validation: readonly LabelledDetection[],
  options: { steps?: number } = {},
): number {
  if (validation.length === 0) throw new ArgumentError('validation', 'needs at least one labelled volume');
  const p = pool(validation.map((v, i) => toCase(`validation[${i}]`, v)));
  return bestDiceBisection(p.map, p.gt, { steps: options.steps ?? 10 }).threshold;
}

/** Binary segmentation: map > τ, then 3D components (26-connected) of ≤ `removeComponentsLe` voxels dropped (default 7). */
export function segment(
  map: VolumeArray,
  threshold: number,
  options: { removeComponentsLe?: number | null } = {},
): VolumeArray<Uint8Array> {
  const pred = binarize({ data: map.data as NdArray['data'], shape: map.shape }, threshold);
  const le = options.removeComponentsLe === undefined ? 7 : options.removeComponentsLe;
  if (le === null) return pred;
  return removeSmallComponents(pred, { maxSize: le, connectivity: map.shape.length >= 3 ? 3 : 2 });
}

export interface EvaluateOptions {
  /** Labelled validation volumes of the same pathology dataset (the τ source). */
  validation?: readonly LabelledDetection[];
  /** A fixed τ instead of a validation search. */
  threshold?: number;
  /** Bisection steps (default 10). */
  steps?: number;
}

/** Headline numbers of the per-volume protocol (means over volumes). */
export interface BehrendtSummary {
  tau: number;
  dice: number;
  bestDice: number;
  auprc: number;
  auroc: number;
  /** L1 on healthy voxels of the raw reconstruction (NaN without inputs). */
  l1Healthy: number;
}

/**
 * The Behrendt per-volume protocol (`behrendtPerVolumeProtocol` of `@adx/metrics`) on detection
 * results: Dice at the validation τ, oracle best Dice, AUPRC, AUROC, L1 errors (mean ± std), plus a
 * flat summary.
 */
export function evaluateBehrendt(
  test: readonly LabelledDetection[],
  options: EvaluateOptions = {},
): { report: MetricsReport; summary: BehrendtSummary } {
  if (test.length === 0) throw new ArgumentError('test', 'needs at least one labelled volume');
  if (options.threshold === undefined && !options.validation)
    throw new ArgumentError('options.validation', 'needed to choose τ (or pass options.threshold)');
  const cases = test.map((v, i) => toCase(`test[${i}]`, v));
  const report = behrendtPerVolumeProtocol(cases, {
    ...(options.threshold !== undefined
      ? { threshold: options.threshold }
      : { validation: (options.validation ?? []).map((v, i) => toCase(`validation[${i}]`, v)) }),
    steps: options.steps ?? 10,
  });
  const get = (m: string) => report.entries.find((e) => e.metric === m)?.value ?? NaN;
  return {
    report,
    summary: {
      tau: (report.details?.tau as number | undefined) ?? NaN,
      dice: get('Dice'),
      bestDice: get('best Dice'),
      auprc: get('AUPRC'),
      auroc: get('AUROC'),
      l1Healthy: get('L1 (healthy)'),
    },
  };
}

/** A labelled volume for {@link compareModels}: the image in [0, 1], its brain mask and segmentation, `[D, H, W]`. */
export interface EvaluationVolume {
  image: VolumeArray;
  segmentation: VolumeArray;
  brainMask?: VolumeArray;
  id?: string;
}

export interface ComparisonRow extends BehrendtSummary {
  name: string;
  /** Mean wall-clock seconds of `detectConditioned` per test volume (post-processing included). */
  secondsPerVolume: number;
  report: MetricsReport;
}

/**
 * Runs several models (e.g. DDPM, pDDPM, cDDPM) through the same detection and the same Behrendt
 * protocol: τ from each model's maps on the validation volumes, then per-volume metrics on the test
 * volumes, and the mean detection time per test volume.
 */
export async function compareModels(
  models: Readonly<Record<string, CDDPM>>,
  data: { validation: readonly EvaluationVolume[]; test: readonly EvaluationVolume[] },
  options: Omit<DetectOptions, 'brainMask' | 'returnIntermediates'> = {},
): Promise<ComparisonRow[]> {
  const rows: ComparisonRow[] = [];
  for (const [name, model] of Object.entries(models)) {
    const run = async (v: EvaluationVolume): Promise<LabelledDetection> => {
      const detection = await detectConditioned(model, v.image, {
        ...options,
        ...(v.brainMask ? { brainMask: v.brainMask } : {}),
      });
      return {
        detection,
        segmentation: v.segmentation,
        input: { data: v.image.data, shape: detection.anomalyMap.shape },
        ...(v.brainMask ? { brainMask: v.brainMask } : {}),
        ...(v.id !== undefined ? { id: v.id } : {}),
      };
    };
    const validation: LabelledDetection[] = [];
    for (const v of data.validation) validation.push(await run(v));
    const test: LabelledDetection[] = [];
    const t0 = performance.now();
    for (const v of data.test) test.push(await run(v));
    const secondsPerVolume = (performance.now() - t0) / 1000 / Math.max(1, data.test.length);
    const { report, summary } = evaluateBehrendt(test, { validation });
    rows.push({ name, ...summary, secondsPerVolume, report });
  }
  return rows;
}

/** Markdown table of {@link compareModels} rows (values in %, as the paper reports them). */
export function comparisonTable(rows: readonly ComparisonRow[]): string {
  const pct = (v: number) => (Number.isNaN(v) ? 'NaN' : (100 * v).toFixed(2));
  const lines = [
    '| model | Dice (val τ) | best Dice | AUPRC | AUROC | L1 healthy | τ | s / volume |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of rows)
    lines.push(
      `| ${r.name} | ${pct(r.dice)} | ${pct(r.bestDice)} | ${pct(r.auprc)} | ${pct(r.auroc)} | ${r.l1Healthy.toFixed(4)} | ${r.tau.toPrecision(3)} | ${r.secondsPerVolume.toFixed(2)} |`,
    );
  return lines.join('\n');
}
