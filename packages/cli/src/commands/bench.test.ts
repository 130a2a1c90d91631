import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../cli.js';
import type { BenchResult } from '../bench/run.js';

const dir = mkdtempSync(join(tmpdir(), 'adx-bench-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(args: string[]) {
  let out = '';
  let err = '';
  const code = await main(args, { stdout: (s) => (out += s), stderr: (s) => (err += s) });
  return { code, out, err };
}

const finitePositive = (v: number) => Number.isFinite(v) && v > 0;

describe('adx bench', () => {
  it('--quick --backends cpu writes bench.json / bench.md with every family and method, finite numbers, no leaks', async () => {
    const r = await run(['-q', 'bench', '--quick', '--backends', 'cpu', '--out', dir]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.out) as { json: string; markdown: string };
    const res = JSON.parse(readFileSync(summary.json, 'utf8')) as BenchResult;
    expect(res.tool).toBe('adx bench');
    expect(res.backends).toEqual([{ name: 'cpu', available: true, kernelBackend: 'cpu' }]);
    expect(res.options).toMatchObject({ size: 8, batch: 2, backends: ['cpu'] });
    const families = ['thor', 'guided-unet', 'guided-classifier', 'cddpm'];
    expect(res.forward.map((f) => f.family)).toEqual(families);
    expect(res.train.map((f) => f.family)).toEqual(families);
    expect(res.methods.map((m) => m.method)).toEqual(['thor', 'anoddpm', 'classifier', 'cddpm']);
    for (const f of res.forward) {
      expect(f.input).toEqual([2, 8, 8, 1]);
      for (const v of [f.params, f.medianMs, f.minMs, f.imagesPerSecond, f.peakRssBytes])
        expect(finitePositive(v)).toBe(true);
      expect(f.tensorsAfter).toBe(f.tensorsBefore);
    }
    for (const t of res.train) {
      for (const v of [t.msPerStep, t.imagesPerSecond, t.finalLoss, t.peakTfBytes, t.peakRssBytes])
        expect(finitePositive(v)).toBe(true);
      expect(t.imagesPerSecond).toBeCloseTo((1000 * t.batch) / t.msPerStep, 9);
      expect(t.tensorsAfter).toBe(t.tensorsBefore);
    }
    for (const m of res.methods) {
      for (const v of [m.seconds, m.secondsPerSlice, m.extrapolatedSecondsPerSlice, m.peakRssBytes])
        expect(finitePositive(v)).toBe(true);
      expect(m.extrapolatedSecondsPerSlice).toBeCloseTo((m.secondsPerSlice * m.passesPublished) / m.passesMeasured, 9);
      expect(m.tensorsAfter).toBe(m.tensorsBefore);
    }
    // t_start = 2 → 3 UNet passes; published 351. L = 1 → 2 UNet + 1 classifier pass; published 1500.
    expect(res.methods.map((m) => [m.passesMeasured, m.passesPublished])).toEqual([
      [3, 351],
      [3, 351],
      [3, 1500],
      [4, 4],
    ]);
    expect(res.peak.rssBytes).toBeGreaterThanOrEqual(Math.max(...res.forward.map((f) => f.peakRssBytes)));
    const md = readFileSync(summary.markdown, 'utf8');
    expect(md).toContain('## UNet forward');
    expect(md).toContain('## Training');
    expect(md).toMatch(/SHORT chains/);
    expect(md).toMatch(/\| cpu \| cddpm \|/);
  }, 300_000);

  it('usage errors exit with 2 and name the option', async () => {
    const b = await run(['bench', '--backends', 'gpu9', '--out', dir]);
    expect(b.code).toBe(2);
    expect(b.err).toMatch(/--backends.*gpu9/);
    const w = await run(['bench', '--width', '48', '--out', dir]);
    expect(w.code).toBe(2);
    expect(w.err).toMatch(/--width/);
    const m = await run(['bench', '--methods', 'thor,nope', '--out', dir]);
    expect(m.code).toBe(2);
    expect(m.err).toMatch(/--methods.*nope/);
  });
});
