import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readNiftiFile, readPngFile } from '@adx/io-medical/node';
import { runWalkthrough, type WalkthroughResult } from './walkthrough.js';

describe('custom-pipeline walkthrough (reduced: t_start 20, stride 10, wasm)', () => {
  let dir: string;
  let r: WalkthroughResult;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'adx-walkthrough-'));
    r = await runWalkthrough({ outDir: dir, backend: 'wasm', tStart: 20, stride: 10, log: () => {} });
  }, 120_000);

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('runs THOR on the strided chain without leaking tensors', () => {
    expect(r.backend).toBe('wasm');
    // ddim100 respacing keeps t = 0, 10, 20, …: t_start 20 visits 20, 10, 0.
    expect(r.unetPasses).toBe(3);
    expect(r.leakedTensors).toBe(0);
  });

  it('reports metrics in range', () => {
    const m = r.metrics;
    for (const v of [m.auroc, m.auprc, m.bestDice, m.bestDiceThreshold]) {
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThanOrEqual(1);
    }
    expect(m.lesionVoxels).toBeGreaterThan(0);
  });

  it('writes the maps on the scan’s own grid (shape and affine), finite and in [0, 1]', async () => {
    const scan = (await readNiftiFile(r.files.input)).volume;
    for (const f of [r.files.anomalyMap, r.files.pseudoHealthy]) {
      const v = (await readNiftiFile(f)).volume;
      expect(v.shape.slice(0, 3)).toEqual(scan.shape.slice(0, 3));
      expect(v.affine.flat().map((x) => +x.toFixed(4))).toEqual(scan.affine.flat().map((x) => +x.toFixed(4)));
      const d = Array.from(v.data as ArrayLike<number>);
      expect(d.every(Number.isFinite)).toBe(true);
      expect(Math.min(...d)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...d)).toBeLessThanOrEqual(1 + 1e-6);
    }
  });

  it('writes a 4-tile panel and a report', async () => {
    const scan = (await readNiftiFile(r.files.input)).volume;
    const png = await readPngFile(r.files.panel);
    expect([png.width, png.height]).toEqual([4 * 4 * scan.shape[0]!, 4 * scan.shape[1]!]);
    const md = await readFile(r.files.report, 'utf8');
    expect(md).toMatch(/^# Custom pipeline walkthrough/);
    expect(md).toContain(`| AUROC | ${r.metrics.auroc.toFixed(4)} |`);
    const json = JSON.parse(await readFile(r.files.json, 'utf8')) as { metrics: { auroc: number }; unetPasses: number };
    expect(json.metrics.auroc).toBe(r.metrics.auroc);
    expect(json.unetPasses).toBe(3);
    expect((await stat(join(dir, 'input', 'lesion-mask.nii.gz'))).size).toBeGreaterThan(0);
  });
});
