/**
 * Wolleb et al. (MICCAI 2022) per-slice protocol (evaluation.md §5; `scripts/evaluation_metrics`):
 * per diseased slice, Otsu threshold of the anomaly map (`skimage.filters.threshold_otsu`),
 * pred = map > threshold, Dice = 2·Σ(pred·gt) / Σ(pred + gt) with gt = seg > 0, and pixel AUROC of
 * the min-max normalised map (`roc_auc_score`); mean ± std over slices. The 256² map vs 240² label
 * ambiguity is resolved explicitly: a larger map is centre-cropped to the label size (the 8-px
 * zero padding is removed) before Otsu, Dice and AUROC.
 */
import { MetricsArgumentError, checkOptionKeys } from '../errors.js';
import { nanMeanStd, type NdArray } from '../ndarray.js';
import { thresholdOtsu } from '../dice/thresholds.js';
import { rankingMetrics } from '../ranking/curves.js';
import { minMaxNormalize } from '../ops/residual.js';
import type { MetricEntry, MetricsReport } from '../report/report.js';
import { collectWarnings } from '../warnings.js';
import type { EvaluationCase } from './common.js';

/** Centre-crops a 2-D `[H, W]` map to `[h, w]` (Wolleb: 256² → 240², 8 px per side). */
export function centerCrop2d(map: NdArray, h: number, w: number): NdArray<Float64Array> {
  if (map.shape.length !== 2) throw new MetricsArgumentError('map', 'expected a 2-D [H, W] map');
  const [H, W] = map.shape as [number, number];
  if (h > H || w > W || (H - h) % 2 !== 0 || (W - w) % 2 !== 0) {
    throw new MetricsArgumentError('map', `cannot centre-crop [${H}, ${W}] to [${h}, ${w}]`);
  }
  const oy = (H - h) / 2;
  const ox = (W - w) / 2;
  const out = new Float64Array(h * w);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[y * w + x] = map.data[(y + oy) * W + x + ox] as number;
  return { data: out, shape: [h, w] };
}

export function wollebPerSliceProtocol(
  slices: readonly EvaluationCase[],
  options: { includeHealthy?: boolean; imageScores?: { scores: ArrayLike<number>; labels: ArrayLike<number> } } = {},
): MetricsReport {
  checkOptionKeys('wollebPerSliceProtocol', options, ['includeHealthy', 'imageScores']);
  if (slices.length === 0) throw new MetricsArgumentError('slices', 'needs at least one slice');
  const dice: number[] = [];
  const auroc: number[] = [];
  const thresholds: number[] = [];
  let skipped = 0;
  slices.forEach((s, i) => {
    if (s.map.shape.length !== 2 || s.gt.shape.length !== 2) {
      throw new MetricsArgumentError(`slices[${i}]`, 'map and gt must be 2-D [H, W]');
    }
    const map =
      s.map.shape[0] === s.gt.shape[0] && s.map.shape[1] === s.gt.shape[1]
        ? s.map
        : centerCrop2d(s.map, s.gt.shape[0]!, s.gt.shape[1]!);
    const m = map.data as ArrayLike<number>;
    const g = s.gt.data as ArrayLike<number>;
    let gSum = 0;
    for (let k = 0; k < g.length; k++) if (g[k]! > 0) gSum++;
    if (gSum === 0 && !options.includeHealthy) {
      skipped++;
      return;
    }
    const t = thresholdOtsu(m);
    let inter = 0;
    let pSum = 0;
    for (let k = 0; k < m.length; k++) {
      const p = m[k]! > t;
      if (p) pSum++;
      if (p && g[k]! > 0) inter++;
    }
    thresholds.push(t);
    dice.push(pSum + gSum === 0 ? NaN : (2 * inter) / (pSum + gSum));
    auroc.push(collectWarnings(() => rankingMetrics(g, minMaxNormalize(m))).result.rocAuc);
  });
  const d = nanMeanStd(dice);
  const a = nanMeanStd(auroc);
  const entries: MetricEntry[] = [
    { metric: 'Dice', value: d.mean, std: d.std, n: d.n, aggregation: 'per-slice', thresholdSource: 'otsu' },
    { metric: 'AUROC', value: a.mean, std: a.std, n: a.n, aggregation: 'per-slice', thresholdSource: 'none' },
  ];
  if (options.imageScores) {
    const r = rankingMetrics(options.imageScores.labels, options.imageScores.scores);
    entries.push({
      metric: 'image AUROC',
      value: r.rocAuc,
      n: r.nPos + r.nNeg,
      aggregation: 'image-level',
      thresholdSource: 'none',
    });
  }
  return {
    protocol: 'wolleb-per-slice',
    description:
      'Wolleb et al. 2022 protocol: per diseased slice, Otsu threshold → Dice, and pixel AUROC of the min-max map; mean ± std over slices (map centre-cropped to the label size).',
    entries,
    details: {
      skippedHealthySlices: skipped,
      perSlice: dice.map((v, i) => ({ dice: v, auroc: auroc[i], otsuThreshold: thresholds[i] })),
    },
  };
}
