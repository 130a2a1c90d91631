/**
 * Evaluation of classifier-guided detection as in Wolleb et al. (evaluation.md §5;
 * `scripts/evaluation_metrics`): per diseased slice, Otsu-threshold Dice and pixel AUROC of the
 * min-max map (mean ± std over slices), plus two image-level AUROCs over healthy and diseased
 * slices (own additions, spec §1.8): from the map mean and from the noisy classifier's
 * 1 − p(healthy | x, t = 0). All metrics come from `@adx/metrics`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError } from '@adx/diffusion-core';
import { imageLevelProtocol, wollebPerSliceProtocol, type EvaluationCase, type MetricsReport } from '@adx/metrics';
import {
  classifierDiseaseScore,
  detectWithClassifierGuidance,
  type ClassifierGuidanceOptions,
  type GuidedDenoiser,
  type NoisyClassifier,
} from './wolleb.js';

/** One 2-D slice with its weak label and (for diseased slices) its pixel ground truth. */
export interface EvaluationSlice {
  /** Image `[H, W, C]` in [0, 1], HWC order (channel fastest). */
  image: Float32Array;
  height: number;
  width: number;
  channels: number;
  /** Weak label: 0 healthy, 1 diseased. */
  label: 0 | 1;
  /** Pixel ground truth `[h, w]` (> 0 = lesion); h, w ≤ H, W (a larger map is centre-cropped, e.g. 256 → 240). */
  gt?: { data: Float32Array | Uint8Array; height: number; width: number };
  id?: string;
}

export interface EvaluateOptions {
  /** Detection options (L, s, respacing, …) used for every slice. */
  detection?: Omit<ClassifierGuidanceOptions, 'returnIntermediates' | 'prenoise'>;
  /** Also run detection on healthy slices for the map-mean image AUROC (default true). */
  detectHealthy?: boolean;
  /** Timestep of the classifier's image-level score (default 0). */
  classifierTimestep?: number;
  /** Called after each slice. */
  onSlice?: (info: { index: number; total: number; seconds: number }) => void;
}

export interface SliceResult {
  id: string;
  label: 0 | 1;
  /** Map mean (NaN when the slice was not run). */
  mapScore: number;
  /** 1 − p(healthy | x, t). */
  classifierScore: number;
  /** Wall time of the detection call in seconds (NaN when not run). */
  seconds: number;
}

export interface EvaluationResult {
  /** Wolleb per-slice protocol (with the map-mean image AUROC when both classes were run) and the classifier's image-level protocol. */
  reports: MetricsReport[];
  slices: SliceResult[];
  /** Mean wall time per detected slice (seconds). */
  secondsPerSlice: number;
  /** Anomaly maps `[H, W]` of the detected slices (keyed by id). */
  maps: Map<string, Float32Array>;
}

/**
 * Runs {@link detectWithClassifierGuidance} over `slices` (one at a time, batch 1, as the
 * official script) and reports per the paper. The RNG of `options.detection.rng` (or seed 0) is
 * shared across slices.
 */
export async function evaluateClassifierGuidance(
  model: GuidedDenoiser,
  classifier: NoisyClassifier,
  slices: readonly EvaluationSlice[],
  options: EvaluateOptions = {},
): Promise<EvaluationResult> {
  if (!Array.isArray(slices) || slices.length === 0) throw new ArgumentError('slices', 'needs at least one slice');
  const detectHealthy = options.detectHealthy ?? true;
  const results: SliceResult[] = [];
  const cases: EvaluationCase[] = [];
  const maps = new Map<string, Float32Array>();
  let seconds = 0;
  let runs = 0;
  for (let i = 0; i < slices.length; i++) {
    const s = slices[i]!;
    const id = s.id ?? String(i);
    if (s.label !== 0 && s.label !== 1)
      throw new ArgumentError(`slices[${i}].label`, `expected 0 or 1, got ${String(s.label)}`);
    if (s.image.length !== s.height * s.width * s.channels) {
      throw new ArgumentError(
        `slices[${i}].image`,
        `expected ${s.height}×${s.width}×${s.channels} values, got ${s.image.length}`,
      );
    }
    if (s.label === 1 && s.gt === undefined)
      throw new ArgumentError(`slices[${i}].gt`, 'diseased slices need a ground truth');
    const x = tf.tensor4d(s.image, [1, s.height, s.width, s.channels]);
    try {
      const [classifierScore] = await classifierDiseaseScore(classifier, x, {
        healthyClass: options.detection?.healthyClass ?? 0,
        timestep: options.classifierTimestep ?? 0,
      });
      let mapScore = NaN;
      let sec = NaN;
      if (s.label === 1 || detectHealthy) {
        const t0 = performance.now();
        const r = await detectWithClassifierGuidance(model, classifier, x, options.detection ?? {});
        const map = (await r.anomalyMap.data()) as Float32Array;
        sec = (performance.now() - t0) / 1000;
        tf.dispose([r.anomalyMap, r.healthy]);
        mapScore = r.score[0]!;
        maps.set(id, map);
        seconds += sec;
        runs++;
        if (s.label === 1) {
          cases.push({
            map: { data: map, shape: [s.height, s.width] },
            gt: { data: s.gt!.data, shape: [s.gt!.height, s.gt!.width] },
            id,
          });
        }
      }
      results.push({ id, label: s.label, mapScore, classifierScore: classifierScore!, seconds: sec });
      options.onSlice?.({ index: i, total: slices.length, seconds: sec });
    } finally {
      x.dispose();
    }
  }
  const reports: MetricsReport[] = [];
  const run = results.filter((r) => !Number.isNaN(r.mapScore));
  const bothClasses = (rs: SliceResult[]) => rs.some((r) => r.label === 0) && rs.some((r) => r.label === 1);
  if (cases.length > 0) {
    reports.push(
      wollebPerSliceProtocol(
        cases,
        bothClasses(run)
          ? { imageScores: { scores: run.map((r) => r.mapScore), labels: run.map((r) => r.label) } }
          : {},
      ),
    );
  }
  if (bothClasses(results)) {
    const cls = imageLevelProtocol(
      results.map((r) => r.classifierScore),
      results.map((r) => r.label),
      { scoreName: `classifier 1 − p(healthy | x, t = ${options.classifierTimestep ?? 0})` },
    );
    reports.push({ ...cls, protocol: 'image-level-classifier' });
  }
  return { reports, slices: results, secondsPerSlice: runs > 0 ? seconds / runs : NaN, maps };
}
