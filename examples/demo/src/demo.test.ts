import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '@adx/diffusion-core';
import { readNiftiFile, readPng } from '@adx/io-medical/node';
import { DemoError, PANEL_LABELS, panel, runDemo, scaledBins, type DemoSummary } from './pipeline.js';
import { readConfigStepsAndScale } from './train-config.js';
import { trainWeights } from './train-weights.js';
import { CONFIG_DIR } from './paths.js';

describe('demo pipeline end to end (toy scale, wasm)', () => {
  let dir: string;
  let summary: DemoSummary;
  let leaked: number;

  beforeAll(async () => {
    await useBackend('wasm');
    dir = await mkdtemp(join(tmpdir(), 'adx-demo-'));
    // A couple of optimiser steps from the committed config: the weights are untrained, the plumbing is real.
    const steps = await readConfigStepsAndScale(join(CONFIG_DIR, 'thor.yaml'), 1);
    const trained = await trainWeights({ weightsDir: join(dir, 'weights'), stepsScale: 2 / steps, quiet: true });
    expect(trained.thor!.steps).toBe(2);
    const before = tf.memory().numTensors;
    summary = await runDemo({
      weightsDir: join(dir, 'weights'),
      outDir: join(dir, 'out'),
      diseased: 2,
      healthy: 1,
      tStart: 8,
      thorStride: 2,
      classifierNoiseLevel: 3,
      volumeDepth: 8,
      testVolumes: 1,
      log: () => {},
    });
    leaked = tf.memory().numTensors - before;
  }, 120_000);

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('runs THOR, AnoDDPM, classifier guidance, DDPM and cDDPM without leaking tensors and times them', () => {
    expect(leaked).toBe(0);
    expect(summary.methods.map((m) => m.method)).toEqual(['thor', 'anoddpm', 'classifier', 'ddpm', 'cddpm']);
    // t_start = 8: THOR visits every 2nd of t = 8…0 (5 passes), AnoDDPM all 9; L = 3: 6 UNet passes.
    expect(summary.methods.map((m) => m.passes)).toEqual([
      '5 UNet',
      '9 UNet',
      '6 UNet + 3 classifier gradients (ddim100)',
      // Behrendt: one x̂0 prediction at t = 500 (DDPM), the ensemble {250, 500, 750} with the encoder (cDDPM).
      '1 UNet per slice (x̂0 at t ∈ {500})',
      '3 UNet + 1 encoder per slice (x̂0 at t ∈ {250, 500, 750})',
    ]);
    for (const m of summary.methods) {
      expect(m.seconds).toBeGreaterThan(0);
      expect(m.pixelAuroc).toBeGreaterThanOrEqual(0);
      expect(m.pixelAuroc).toBeLessThanOrEqual(1);
    }
  });

  it('writes a report with the timing table and both methods under THOR’s protocol', async () => {
    const md = await readFile(summary.report, 'utf8');
    expect(md).toMatch(/^# ADX demo report/);
    expect(md).toMatch(/\| thor \| [\d.]+ \| 5 UNet \|/);
    expect(md).toMatch(/\| anoddpm \| [\d.]+ \| 9 UNet \|/);
    expect(md).toContain('### classifier: wolleb-per-slice');
    for (const m of ['thor', 'anoddpm']) {
      expect(md).toContain(`### ${m}: thor-brain`);
      expect(md).toContain(`### ${m}: image-level`);
    }
    // one embedded panel per method, linking to files that exist
    const embedded = [...md.matchAll(/!\[[^\]]*\]\(([^)]+)\)/g)].map((m) => m[1]!);
    expect(embedded).toEqual([
      'panels/thor/00-lesion.png',
      'panels/anoddpm/00-lesion.png',
      'panels/classifier/00-lesion.png',
      expect.stringMatching(/^panels\/ddpm\/volume0-slice[0-7]\.png$/),
      expect.stringMatching(/^panels\/cddpm\/volume0-slice[0-7]\.png$/),
    ]);
    for (const p of embedded) expect(summary.files).toContain(join(dir, 'out', p));
    const json = JSON.parse(await readFile(join(dir, 'out', 'report.json'), 'utf8')) as { protocol: string }[];
    expect(json.map((r) => r.protocol)).toEqual([
      'thor: thor-brain',
      'thor: image-level',
      'anoddpm: thor-brain',
      'anoddpm: image-level',
      'classifier: wolleb-per-slice',
      'classifier: image-level',
      'DDPM: behrendt-per-volume',
      'cDDPM: behrendt-per-volume',
    ]);
  });

  it('writes one 4-tile PNG panel per case and method', async () => {
    for (const m of ['thor', 'anoddpm', 'classifier']) {
      const names = (await readdir(join(dir, 'out', 'panels', m))).sort();
      expect(names).toEqual(['00-lesion.png', '01-lesion.png', '02-healthy.png']);
      const png = readPng(new Uint8Array(await readFile(join(dir, 'out', 'panels', m, names[0]!))));
      // 4 tiles upscaled ×4, 3 gaps of 4 px, an 11-px label strip
      expect([png.width, png.height]).toEqual([16 * summary.size + 12, 4 * summary.size + 11]);
    }
  });

  it('writes one panel per test volume for DDPM and cDDPM', async () => {
    for (const m of ['ddpm', 'cddpm']) {
      const names = await readdir(join(dir, 'out', 'panels', m));
      expect(names).toHaveLength(1);
      expect(names[0]).toMatch(/^volume0-slice[0-7]\.png$/);
      const png = readPng(new Uint8Array(await readFile(join(dir, 'out', 'panels', m, names[0]!))));
      expect([png.width, png.height]).toEqual([16 * summary.size + 12, 4 * summary.size + 11]);
    }
  });

  it('writes ROC and PR plots as SVG', async () => {
    for (const m of ['thor', 'anoddpm', 'classifier', 'ddpm', 'cddpm']) {
      const roc = await readFile(join(dir, 'out', 'plots', `${m}-roc.svg`), 'utf8');
      const pr = await readFile(join(dir, 'out', 'plots', `${m}-pr.svg`), 'utf8');
      expect(roc).toMatch(/^<svg[\s\S]*AUROC = [01]\.\d{4}[\s\S]*<\/svg>\s*$/);
      expect(pr).toMatch(/^<svg[\s\S]*<\/svg>\s*$/);
    }
  });

  it('writes NIfTI maps stacked as [W, H, slices]: finite, non-negative, THOR / AnoDDPM maps ≤ 1', async () => {
    const gt = await readNiftiFile(join(dir, 'out', 'nifti', 'ground-truth.nii.gz'));
    expect(gt.volume.shape.slice(0, 3)).toEqual([summary.size, summary.size, 3]);
    expect(Math.max(...Array.from(gt.volume.data as ArrayLike<number>))).toBe(1);
    for (const m of ['thor', 'anoddpm', 'classifier']) {
      const map = await readNiftiFile(join(dir, 'out', 'nifti', `${m}-anomaly.nii.gz`));
      expect(map.volume.shape.slice(0, 3)).toEqual([summary.size, summary.size, 3]);
      const v = Array.from(map.volume.data as ArrayLike<number>);
      expect(v.every(Number.isFinite)).toBe(true);
      expect(Math.min(...v)).toBeGreaterThanOrEqual(0);
      // THOR clips its map to [0, 0.999]; AnoDDPM's |x − x̂| has both in [0, 1]; Wolleb's x̂ is unclipped.
      if (m !== 'classifier') expect(Math.max(...v)).toBeLessThanOrEqual(1);
    }
    for (const m of ['ddpm', 'cddpm']) {
      const map = await readNiftiFile(join(dir, 'out', 'nifti', `${m}-volume0-anomaly.nii.gz`));
      expect(map.volume.shape.slice(0, 3)).toEqual([summary.size, summary.size, 8]);
      expect(Array.from(map.volume.data as ArrayLike<number>).every((x) => Number.isFinite(x) && x >= 0)).toBe(true);
    }
  });
});

describe('demo helpers', () => {
  it('names the training command when weights are missing', async () => {
    const err = await runDemo({ weightsDir: join(tmpdir(), 'adx-demo-no-weights'), outDir: tmpdir() }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DemoError);
    expect((err as Error).message).toContain('npm run demo:train');
  });

  it('builds panels: tiles min–max scaled and upscaled ×4 by nearest neighbour, white gaps, labels in black', () => {
    // 2×2 tiles: a ramp 0, 1, 2, 3 (→ 0, 1/3, 2/3, 1) and a constant tile (→ 0 after min–max with span 1).
    const ramp = { data: Float32Array.from([0, 1, 2, 3]), width: 2, height: 2 };
    const flat = { data: Float32Array.from([5, 5, 5, 5]), width: 2, height: 2 };
    const p = panel([ramp, flat], ['A', 'I']);
    // width 2 tiles × 8 px + 1 gap of 4 px; height 11-px strip + 8 px
    expect([p.width, p.height]).toEqual([20, 19]);
    const at = (x: number, y: number) => p.data[y * p.width + x]!;
    // tile 0, source pixel (row 1, col 0) = 2 → 2/3 over the 4×4 block x 0–3, y 11+4 … 11+7
    for (let y = 15; y < 19; y++) for (let x = 0; x < 4; x++) expect(at(x, y)).toBeCloseTo(2 / 3, 6);
    expect(at(4, 11)).toBeCloseTo(1 / 3, 6);
    for (let y = 11; y < 19; y++) for (let x = 8; x < 12; x++) expect(at(x, y)).toBe(1); // gap
    for (let y = 11; y < 19; y++) for (let x = 12; x < 20; x++) expect(at(x, y)).toBe(0); // flat tile
    // 'A' (5 px wide) centred over the 8-px tile from x = 1: top row .###. → ink at x 2, 3, 4 of row 2
    expect([1, 2, 3, 4, 5].map((x) => at(x, 2))).toEqual([1, 0, 0, 0, 1]);
    expect(PANEL_LABELS).toEqual(['INPUT', 'PSEUDO-HEALTHY', 'ANOMALY MAP', 'GROUND TRUTH']);
  });

  it('scales THOR’s 128² lesion bins by area', () => {
    // (32 / 128)² = 1/16: 3/16, 71/16, 570/16, 10000/16.
    expect(scaledBins(32).map((b) => [b.min, b.max])).toEqual([
      [0.1875, 4.4375],
      [4.4375, 35.625],
      [35.625, 625],
    ]);
  });

  it('scales config steps with --steps-scale (at least one step)', async () => {
    const file = join(CONFIG_DIR, 'thor.yaml');
    const steps = await readConfigStepsAndScale(file, 1);
    expect(await readConfigStepsAndScale(file, 0.5)).toBe(Math.round(steps / 2));
    expect(await readConfigStepsAndScale(file, 1e-9)).toBe(1);
  });
});
