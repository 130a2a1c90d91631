/**
 * Image-level detection: AUROC / AUPRC of one anomaly score per image or volume (e.g. the mean of
 * the map, THOR's `anomaly_score`, or Behrendt's volume score) against image labels.
 */
import { rankingMetrics } from '../ranking/curves.js';
import type { MetricsReport } from '../report/report.js';

export function imageLevelProtocol(
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
  options: { scoreName?: string } = {},
): MetricsReport {
  const r = rankingMetrics(labels, scores);
  const n = r.nPos + r.nNeg;
  return {
    protocol: 'image-level',
    description: `Image-level detection from one score per image (${options.scoreName ?? 'score'}): AUROC and AUPRC over images.`,
    entries: [
      { metric: 'AUROC', value: r.rocAuc, n, aggregation: 'image-level', thresholdSource: 'none' },
      { metric: 'AUPRC', value: r.averagePrecision, n, aggregation: 'image-level', thresholdSource: 'none' },
    ],
    details: { nPositive: r.nPos, nNegative: r.nNeg },
  };
}
