import { describe, expect, it } from 'vitest';
import { decode } from 'fast-png';
import { linspace } from '../ndarray.js';
import { precisionRecallCurve, rocCurve } from '../ranking/curves.js';
import { diceCurveSvg, lineChartPng, precisionRecallCurveSvg, rocCurveSvg } from './plots.js';
import { reportToJson, reportToMarkdown, type MetricsReport } from './report.js';

const report: MetricsReport = {
  protocol: 'behrendt-per-volume',
  description: 'test',
  entries: [
    {
      metric: 'Dice',
      value: 0.5,
      std: 0.125,
      n: 3,
      aggregation: 'per-volume',
      thresholdSource: 'validation',
      threshold: 0.25,
    },
    { metric: 'AUROC', value: NaN, n: 3, aggregation: 'per-volume', thresholdSource: 'none' },
  ],
  details: { perVolume: new Float64Array([1, NaN]) },
};

describe('reports', () => {
  it('Markdown table labels every number with aggregation and threshold source', () => {
    const md = reportToMarkdown(report);
    expect(md).toContain('### behrendt-per-volume');
    expect(md).toContain('| Dice |  | 0.5000 ± 0.1250 | 3 | per-volume | validation | 0.2500 |');
    expect(md).toContain('| AUROC |  | NaN | 3 | per-volume | none |  |');
  });
  it('JSON turns NaN into null and typed arrays into lists', () => {
    const parsed = JSON.parse(reportToJson(report)) as MetricsReport & { details: { perVolume: unknown } };
    expect(parsed.entries[1]!.value).toBeNull();
    expect(parsed.details.perVolume).toEqual([1, null]);
  });
});

describe('plots', () => {
  const y = [0, 0, 1, 1];
  const s = [0.1, 0.4, 0.35, 0.8];
  it('ROC / PR / Dice SVGs are standalone SVG documents with one curve each', () => {
    for (const svg of [
      rocCurveSvg(rocCurve(y, s), { auc: 0.75 }),
      precisionRecallCurveSvg(precisionRecallCurve(y, s), { ap: 0.8333 }),
      diceCurveSvg(
        linspace(0, 1, 11),
        linspace(0, 1, 11).map((t) => 1 - Math.abs(t - 0.4)),
      ),
    ]) {
      expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
      expect(svg.trim().endsWith('</svg>')).toBe(true);
      expect(svg.match(/<polyline/g)).toHaveLength(1);
    }
    expect(rocCurveSvg(rocCurve(y, s), { auc: 0.75 })).toContain('AUROC = 0.7500');
    expect(diceCurveSvg([0, 0.5, 1], [0.1, 0.9, 0.2])).toContain('best 0.9000 @ 0.500');
  });
  it('PR curve is drawn as steps (5 points -> 9 vertices)', () => {
    const svg = precisionRecallCurveSvg(precisionRecallCurve(y, s));
    const pts = /points="([^"]+)"/.exec(svg)![1]!.split(' ');
    expect(pts).toHaveLength(9);
  });
  it('PNG rasterisation decodes to the requested size', () => {
    const png = lineChartPng([{ x: [0, 1], y: [0, 1] }], { width: 120, height: 100, diagonal: true });
    const img = decode(png);
    expect([img.width, img.height, img.channels]).toEqual([120, 100, 4]);
  });
});
