import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeReport } from './node.js';
import { imageLevelProtocol } from './protocols/imageLevel.js';
import { lineChartPng, rocCurveSvg } from './report/plots.js';
import { rocCurve } from './ranking/curves.js';

describe('writeReport (node entry)', () => {
  it('writes Markdown, JSON and figures', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'adx-metrics-'));
    try {
      const r = imageLevelProtocol([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]);
      const roc = rocCurve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]);
      const paths = await writeReport(dir, 'report', r, {
        svgs: { roc: rocCurveSvg(roc) },
        pngs: { roc: lineChartPng([{ x: roc.fpr, y: roc.tpr }]) },
      });
      expect(paths.map((p) => p.slice(dir.length + 1))).toEqual(['report.md', 'report.json', 'roc.svg', 'roc.png']);
      expect(JSON.parse(await readFile(join(dir, 'report.json'), 'utf8')).entries[0].value).toBe(0.75);
      expect(await readFile(join(dir, 'report.md'), 'utf8')).toContain('| AUROC |');
      expect(await readFile(join(dir, 'roc.png')).then((b) => b.subarray(1, 4).toString())).toBe('PNG');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
