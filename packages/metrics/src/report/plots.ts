/**
 * Dependency-free plots of the evaluation curves: ROC, precision-recall (step, as scikit-learn's
 * `PrecisionRecallDisplay` draws it) and Dice-vs-threshold, as SVG strings; plus a minimal PNG
 * rasteriser (axes frame and curves, no text) through fast-png for places that cannot show SVG.
 */
import { encode } from 'fast-png';
import { MetricsArgumentError } from '../errors.js';

export interface PlotSeries {
  x: ArrayLike<number>;
  y: ArrayLike<number>;
  label?: string;
  /** Draw as a step function (horizontal then vertical). */
  step?: boolean;
  /** CSS colour. */
  color?: string;
}

export interface PlotOptions {
  title?: string;
  xLabel?: string;
  yLabel?: string;
  width?: number;
  height?: number;
  xRange?: [number, number];
  yRange?: [number, number];
  /** Dashed chance diagonal (ROC). */
  diagonal?: boolean;
  /** A highlighted point, e.g. the best-Dice threshold. */
  marker?: { x: number; y: number; label?: string };
  /** Curves with more points are thinned to about this many (first and last kept). Default 2000. */
  maxPoints?: number;
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function thin(s: PlotSeries, maxPoints: number): [number, number][] {
  if (s.x.length !== s.y.length)
    throw new MetricsArgumentError('series', `x has ${s.x.length} points, y has ${s.y.length}`);
  const n = s.x.length;
  const stride = Math.max(1, Math.ceil(n / maxPoints));
  const pts: [number, number][] = [];
  for (let i = 0; i < n; i += stride) pts.push([s.x[i]!, s.y[i]!]);
  if (n > 0 && (n - 1) % stride !== 0) pts.push([s.x[n - 1]!, s.y[n - 1]!]);
  const finite = pts.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  if (!s.step) return finite;
  const out: [number, number][] = [];
  finite.forEach((p, i) => {
    if (i > 0) out.push([p[0], finite[i - 1]![1]]);
    out.push(p);
  });
  return out;
}

interface Frame {
  W: number;
  H: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
  sx: (x: number) => number;
  sy: (y: number) => number;
}

function frame(series: readonly PlotSeries[], o: PlotOptions): Frame {
  const W = o.width ?? 480;
  const H = o.height ?? 400;
  const left = 60;
  const right = W - 20;
  const top = 40;
  const bottom = H - 50;
  const range = (axis: 'x' | 'y', given?: [number, number]): [number, number] => {
    if (given) return given;
    let lo = Infinity;
    let hi = -Infinity;
    for (const s of series)
      for (let i = 0; i < s[axis].length; i++) {
        const v = s[axis][i]!;
        if (Number.isFinite(v)) {
          lo = Math.min(lo, v);
          hi = Math.max(hi, v);
        }
      }
    if (!Number.isFinite(lo)) return [0, 1];
    return hi > lo ? [lo, hi] : [lo - 0.5, hi + 0.5];
  };
  const [x0, x1] = range('x', o.xRange);
  const [y0, y1] = range('y', o.yRange);
  return {
    W,
    H,
    left,
    right,
    top,
    bottom,
    sx: (x) => left + ((x - x0) / (x1 - x0)) * (right - left),
    sy: (y) => bottom - ((y - y0) / (y1 - y0)) * (bottom - top),
  };
}

/** A line chart as an SVG document string. */
export function lineChartSvg(series: readonly PlotSeries[], options: PlotOptions = {}): string {
  const f = frame(series, options);
  const maxPoints = options.maxPoints ?? 2000;
  const xr = options.xRange;
  const yr = options.yRange;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${f.W}" height="${f.H}" viewBox="0 0 ${f.W} ${f.H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${f.W}" height="${f.H}" fill="white"/>`,
    `<rect x="${f.left}" y="${f.top}" width="${f.right - f.left}" height="${f.bottom - f.top}" fill="none" stroke="#333"/>`,
  ];
  // ticks at 0, .25, .5, .75, 1 of the axis ranges
  const inv = (a: number, b: number, t: number) => a + (b - a) * t;
  for (const t of [0, 0.25, 0.5, 0.75, 1]) {
    const xv = xr ? inv(xr[0], xr[1], t) : undefined;
    const yv = yr ? inv(yr[0], yr[1], t) : undefined;
    const px = f.left + t * (f.right - f.left);
    const py = f.bottom - t * (f.bottom - f.top);
    parts.push(`<line x1="${px}" y1="${f.bottom}" x2="${px}" y2="${f.bottom + 5}" stroke="#333"/>`);
    parts.push(`<line x1="${f.left - 5}" y1="${py}" x2="${f.left}" y2="${py}" stroke="#333"/>`);
    if (xv !== undefined)
      parts.push(`<text x="${px}" y="${f.bottom + 18}" text-anchor="middle">${+xv.toFixed(3)}</text>`);
    if (yv !== undefined)
      parts.push(`<text x="${f.left - 8}" y="${py + 4}" text-anchor="end">${+yv.toFixed(3)}</text>`);
  }
  if (options.diagonal) {
    parts.push(
      `<line x1="${f.left}" y1="${f.bottom}" x2="${f.right}" y2="${f.top}" stroke="#999" stroke-dasharray="4 4"/>`,
    );
  }
  series.forEach((s, i) => {
    const pts = thin(s, maxPoints)
      .map(([x, y]) => `${f.sx(x).toFixed(2)},${f.sy(y).toFixed(2)}`)
      .join(' ');
    const color = s.color ?? PALETTE[i % PALETTE.length]!;
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts}"/>`);
    if (s.label) {
      const ly = f.top + 16 + 16 * i;
      parts.push(
        `<line x1="${f.right - 150}" y1="${ly - 4}" x2="${f.right - 130}" y2="${ly - 4}" stroke="${color}" stroke-width="2"/>`,
      );
      parts.push(`<text x="${f.right - 125}" y="${ly}">${esc(s.label)}</text>`);
    }
  });
  if (options.marker) {
    const { x, y, label } = options.marker;
    parts.push(`<circle cx="${f.sx(x).toFixed(2)}" cy="${f.sy(y).toFixed(2)}" r="4" fill="#d62728"/>`);
    if (label) parts.push(`<text x="${(f.sx(x) + 6).toFixed(2)}" y="${(f.sy(y) - 6).toFixed(2)}">${esc(label)}</text>`);
  }
  if (options.title)
    parts.push(`<text x="${f.W / 2}" y="22" text-anchor="middle" font-size="14">${esc(options.title)}</text>`);
  if (options.xLabel)
    parts.push(
      `<text x="${(f.left + f.right) / 2}" y="${f.H - 12}" text-anchor="middle">${esc(options.xLabel)}</text>`,
    );
  if (options.yLabel) {
    const cy = (f.top + f.bottom) / 2;
    parts.push(
      `<text x="16" y="${cy}" text-anchor="middle" transform="rotate(-90 16 ${cy})">${esc(options.yLabel)}</text>`,
    );
  }
  parts.push('</svg>');
  return parts.join('\n');
}

/** ROC curve (FPR vs TPR) with the chance diagonal; `auc` goes into the legend. */
export function rocCurveSvg(
  curve: { fpr: ArrayLike<number>; tpr: ArrayLike<number> },
  options: PlotOptions & { auc?: number } = {},
): string {
  return lineChartSvg(
    [{ x: curve.fpr, y: curve.tpr, label: options.auc === undefined ? 'ROC' : `AUROC = ${options.auc.toFixed(4)}` }],
    {
      title: 'ROC curve',
      xLabel: 'false positive rate',
      yLabel: 'true positive rate',
      xRange: [0, 1],
      yRange: [0, 1],
      diagonal: true,
      ...options,
    },
  );
}

/** Precision-recall curve as a step plot (recall on x); `ap` goes into the legend. */
export function precisionRecallCurveSvg(
  curve: { precision: ArrayLike<number>; recall: ArrayLike<number> },
  options: PlotOptions & { ap?: number } = {},
): string {
  return lineChartSvg(
    [
      {
        x: curve.recall,
        y: curve.precision,
        step: true,
        label: options.ap === undefined ? 'PR' : `AUPRC (AP) = ${options.ap.toFixed(4)}`,
      },
    ],
    {
      title: 'Precision-recall curve',
      xLabel: 'recall',
      yLabel: 'precision',
      xRange: [0, 1],
      yRange: [0, 1],
      ...options,
    },
  );
}

/** Dice vs threshold with the best point marked. */
export function diceCurveSvg(
  thresholds: ArrayLike<number>,
  dice: ArrayLike<number>,
  options: PlotOptions = {},
): string {
  let best = -1;
  for (let i = 0; i < dice.length; i++) if (best < 0 || dice[i]! > dice[best]!) best = i;
  const marker =
    best >= 0 && Number.isFinite(dice[best]!)
      ? {
          x: thresholds[best]!,
          y: dice[best]!,
          label: `best ${dice[best]!.toFixed(4)} @ ${thresholds[best]!.toPrecision(3)}`,
        }
      : undefined;
  return lineChartSvg([{ x: thresholds, y: dice, label: 'Dice' }], {
    title: 'Dice vs threshold',
    xLabel: 'threshold',
    yLabel: 'Dice',
    yRange: [0, 1],
    ...(marker ? { marker } : {}),
    ...options,
  });
}

function hexRgb(c: string): [number, number, number] {
  const m = /^#([0-9a-f]{6})$/i.exec(c);
  if (!m) return [0, 0, 0];
  const v = parseInt(m[1]!, 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}

/** The same chart rasterised to PNG bytes (frame, diagonal, curves, marker; no text). */
export function lineChartPng(series: readonly PlotSeries[], options: PlotOptions = {}): Uint8Array {
  const f = frame(series, options);
  const W = f.W;
  const H = f.H;
  const data = new Uint8Array(W * H * 4).fill(255);
  const put = (x: number, y: number, rgb: [number, number, number]) => {
    const xi = Math.round(x);
    const yi = Math.round(y);
    if (xi < 0 || yi < 0 || xi >= W || yi >= H) return;
    const o = (yi * W + xi) * 4;
    data[o] = rgb[0];
    data[o + 1] = rgb[1];
    data[o + 2] = rgb[2];
  };
  const line = (x0: number, y0: number, x1: number, y1: number, rgb: [number, number, number], dashed = false) => {
    const steps = Math.max(1, Math.ceil(Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0))));
    for (let i = 0; i <= steps; i++) {
      if (dashed && Math.floor(i / 4) % 2 === 1) continue;
      put(x0 + ((x1 - x0) * i) / steps, y0 + ((y1 - y0) * i) / steps, rgb);
    }
  };
  const grey: [number, number, number] = [51, 51, 51];
  line(f.left, f.top, f.right, f.top, grey);
  line(f.left, f.bottom, f.right, f.bottom, grey);
  line(f.left, f.top, f.left, f.bottom, grey);
  line(f.right, f.top, f.right, f.bottom, grey);
  if (options.diagonal) line(f.left, f.bottom, f.right, f.top, [153, 153, 153], true);
  series.forEach((s, i) => {
    const rgb = hexRgb(s.color ?? PALETTE[i % PALETTE.length]!);
    const pts = thin(s, options.maxPoints ?? 2000);
    for (let k = 1; k < pts.length; k++) {
      const [xa, ya] = pts[k - 1]!;
      const [xb, yb] = pts[k]!;
      line(f.sx(xa), f.sy(ya), f.sx(xb), f.sy(yb), rgb);
      line(f.sx(xa), f.sy(ya) + 1, f.sx(xb), f.sy(yb) + 1, rgb);
    }
  });
  if (options.marker) {
    const cx = f.sx(options.marker.x);
    const cy = f.sy(options.marker.y);
    for (let dy = -3; dy <= 3; dy++)
      for (let dx = -3; dx <= 3; dx++) if (dx * dx + dy * dy <= 9) put(cx + dx, cy + dy, [214, 39, 40]);
  }
  return encode({ width: W, height: H, data, channels: 4, depth: 8 });
}
