/**
 * Reports: every number carries its aggregation (pooled / per-volume / per-slice / per-bin / …) and
 * its threshold source (oracle / validation / fpr / otsu / fixed / none), so numbers from different
 * protocols are never compared by accident (evaluation.md §8). Output as Markdown or JSON.
 */

/** How a number was aggregated. */
export type Aggregation = 'pooled' | 'per-volume' | 'per-slice' | 'per-image' | 'per-object' | 'image-level';

/** Where the threshold behind a number came from ('none' for threshold-free AUROC/AUPRC/errors). */
export type ThresholdSource = 'none' | 'oracle' | 'validation' | 'fpr' | 'otsu' | 'fixed';

export interface MetricEntry {
  /** Metric name, e.g. `AUPRC`, `AUROC`, `Dice`, `⌈DSC⌉`, `L1 (healthy)`. */
  metric: string;
  /** The value (a mean for per-unit aggregations). NaN when undefined. */
  value: number;
  /** Population standard deviation over units (NumPy `std`), for mean ± std protocols. */
  std?: number;
  /** Number of units aggregated (volumes, slices, images, objects) or of pooled images. */
  n?: number;
  aggregation: Aggregation;
  thresholdSource: ThresholdSource;
  /** The threshold used (or the mean threshold for per-unit oracle thresholds). */
  threshold?: number;
  /** Subset the number refers to, e.g. a lesion-size bin `small (3, 71]` or a class name. */
  subset?: string;
}

export interface MetricsReport {
  /** Protocol id, e.g. `baur-pooled`, `behrendt-per-volume`, `thor-brain`, `thor-wrist`, `wolleb-per-slice`. */
  protocol: string;
  /** One line a user of the paper recognises. */
  description: string;
  entries: MetricEntry[];
  /** JSON-serialisable per-unit details (per-volume values, curves' summary, thresholds). */
  details?: Record<string, unknown>;
}

function fmt(v: number | undefined, digits: number): string {
  if (v === undefined) return '';
  if (Number.isNaN(v)) return 'NaN';
  return Number.isInteger(v) && Math.abs(v) >= 1 ? String(v) : v.toFixed(digits);
}

/** Markdown table(s): metric | subset | value (± std) | n | aggregation | threshold source | threshold. */
export function reportToMarkdown(reports: MetricsReport | readonly MetricsReport[], digits = 4): string {
  const list = Array.isArray(reports) ? reports : [reports as MetricsReport];
  const parts: string[] = [];
  for (const r of list) {
    parts.push(`### ${r.protocol}`, '', r.description, '');
    parts.push('| metric | subset | value | n | aggregation | threshold source | threshold |');
    parts.push('| --- | --- | --- | --- | --- | --- | --- |');
    for (const e of r.entries) {
      const value = e.std === undefined ? fmt(e.value, digits) : `${fmt(e.value, digits)} ± ${fmt(e.std, digits)}`;
      parts.push(
        `| ${e.metric} | ${e.subset ?? ''} | ${value} | ${e.n ?? ''} | ${e.aggregation} | ${e.thresholdSource} | ${fmt(e.threshold, digits)} |`,
      );
    }
    parts.push('');
  }
  return parts.join('\n');
}

/** JSON text of one or more reports; NaN and ±Infinity become `null` (as in the fixtures). */
export function reportToJson(reports: MetricsReport | readonly MetricsReport[], indent = 2): string {
  return JSON.stringify(
    reports,
    (_k, v: unknown) => {
      if (typeof v === 'number' && !Number.isFinite(v)) return null;
      if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return Array.from(v as unknown as ArrayLike<number>);
      return v;
    },
    indent,
  );
}
