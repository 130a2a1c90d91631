import { describe, expect, it } from 'vitest';
import { IoArgumentError } from './errors.js';
import {
  generatePhantomSlices,
  generatePhantomVolume,
  montage,
  PHANTOM_LABELS,
  PHANTOM_TISSUES,
  type Contrast,
} from './phantom.js';
import { readPng, writePng } from './png.js';
import type { Volume } from './volume.js';

const meanWhere = (v: Volume, sel: (i: number) => boolean) => {
  let s = 0;
  let n = 0;
  for (let i = 0; i < v.data.length; i++) {
    if (sel(i)) {
      s += v.data[i]!;
      n++;
    }
  }
  return n ? s / n : NaN;
};

describe('generatePhantomVolume', () => {
  it('is fast: 64×64×40 with three contrasts and a lesion well under a second', () => {
    generatePhantomVolume({ seed: 'warm-up' });
    const t0 = performance.now();
    const p = generatePhantomVolume({ seed: 1, lesions: ['tumour'] });
    const ms = performance.now() - t0;
    expect(p.image.shape).toEqual([64, 64, 40]);
    // about 0.1 s warm on an idle core; the bound leaves room for a loaded CI machine
    expect(ms).toBeLessThan(2500);
  });
  it('is deterministic per seed and differs between seeds', () => {
    const a = generatePhantomVolume({ seed: 7, size: [32, 32, 20] });
    const b = generatePhantomVolume({ seed: 7, size: [32, 32, 20] });
    const c = generatePhantomVolume({ seed: 8, size: [32, 32, 20] });
    for (const k of ['t1', 't2', 'flair'] as Contrast[]) expect(a.contrasts[k]!.data).toEqual(b.contrasts[k]!.data);
    expect(a.seg.data).toEqual(b.seg.data);
    expect(a.image.data).not.toEqual(c.image.data);
  });
  it('healthy anatomy: tissue contrasts per sequence, variability between subjects, RAS geometry', () => {
    const p = generatePhantomVolume({
      seed: 3,
      lesions: 'none',
      noise: 0,
      biasField: 0,
      intensityScale: 1,
      size: [48, 48, 30],
    });
    expect(p.label).toBe(0);
    expect(p.mask.data.every((v) => v === 0)).toBe(true);
    expect(p.sliceLabels.every((v) => v === 0)).toBe(true);
    const tis = p.tissue.data;
    const mean = (c: Contrast, t: number) => meanWhere(p.contrasts[c]!, (i) => tis[i] === t);
    const { csf, gm, wm, background } = PHANTOM_TISSUES;
    expect(mean('t1', wm)).toBeGreaterThan(mean('t1', gm));
    expect(mean('t1', gm)).toBeGreaterThan(mean('t1', csf));
    expect(mean('t2', csf)).toBeGreaterThan(mean('t2', gm));
    expect(mean('t2', gm)).toBeGreaterThan(mean('t2', wm));
    expect(mean('flair', gm)).toBeGreaterThan(mean('flair', csf));
    expect(mean('t1', background)).toBeLessThan(0.05);
    for (const t of [csf, gm, wm]) expect(tis.some((v) => v === t)).toBe(true);
    // brain mask covers CSF/GM/WM inside the skull only
    let outside = 0;
    for (let i = 0; i < tis.length; i++)
      if (p.brainMask.data[i] && ![csf, gm, wm].includes(tis[i] as 3 | 4 | 5)) outside++;
    expect(outside).toBe(0);
    const q = generatePhantomVolume({ seed: 4, lesions: 'none', size: [48, 48, 30] });
    const count = (v: Volume) => Array.from(v.data as ArrayLike<number>).reduce((a, b) => a + b, 0);
    expect(count(q.brainMask)).not.toBe(count(p.brainMask));
    expect(p.image.affine[0]![0]).toBeGreaterThan(0);
    expect(p.image.origin[0]).toBeCloseTo((-47 / 2) * (200 / 48), 10);
  });
  it('lesions: masks inside the brain, labels, and the expected contrast per sequence', () => {
    for (const [type, codes] of [
      ['tumour', [PHANTOM_LABELS.tumourCore, PHANTOM_LABELS.oedema]],
      ['stroke', [PHANTOM_LABELS.stroke]],
      ['ms', [PHANTOM_LABELS.ms]],
    ] as const) {
      const p = generatePhantomVolume({ seed: 11, lesions: [type], noise: 0, biasField: 0, intensityScale: 1 });
      expect(p.label, type).toBe(1);
      expect(p.lesions.length).toBeGreaterThan(0);
      expect(p.lesions.every((l) => l.type === type)).toBe(true);
      const labels = new Set(p.seg.data);
      for (const c of codes) expect(labels.has(c), `${type} label ${c}`).toBe(true);
      let outside = 0;
      for (let i = 0; i < p.mask.data.length; i++) if (p.mask.data[i] && !p.brainMask.data[i]) outside++;
      expect(outside).toBe(0);
      const inLesion = (i: number) => p.mask.data[i] === 1;
      const healthyBrain = (i: number) => p.brainMask.data[i] === 1 && p.mask.data[i] === 0;
      // FLAIR: every lesion type is hyperintense against the remaining brain
      expect(meanWhere(p.contrasts.flair!, inLesion)).toBeGreaterThan(meanWhere(p.contrasts.flair!, healthyBrain));
      if (type !== 'ms')
        expect(meanWhere(p.contrasts.t1!, inLesion)).toBeLessThan(meanWhere(p.contrasts.t1!, healthyBrain));
      // weak slice labels agree with the mask
      const [nx, ny] = p.mask.shape as [number, number];
      p.sliceLabels.forEach((l, k) =>
        expect(l).toBe(p.mask.data.subarray(k * nx * ny, (k + 1) * nx * ny).some((v) => v > 0) ? 1 : 0),
      );
    }
  });
  it('acquisition: Rician noise floor in the background, skull stripping, bias field, intensity scale', () => {
    const size = [48, 48, 24];
    const clean = generatePhantomVolume({
      size,
      seed: 5,
      lesions: 'none',
      noise: 0,
      biasField: 0,
      intensityScale: 1,
      contrasts: ['t1'],
    });
    const noisy = generatePhantomVolume({
      size,
      seed: 5,
      lesions: 'none',
      noise: 0.04,
      biasField: 0,
      intensityScale: 1,
      contrasts: ['t1'],
    });
    const bg = (i: number) => clean.tissue.data[i] === PHANTOM_TISSUES.background && clean.image.data[i] === 0;
    // Rician noise on zero signal is Rayleigh: mean σ·sqrt(π/2), σ = 0.04 · 0.75
    expect(meanWhere(noisy.image, bg)).toBeCloseTo(0.03 * Math.sqrt(Math.PI / 2), 2);
    const biased = generatePhantomVolume({
      size,
      seed: 5,
      lesions: 'none',
      noise: 0,
      biasField: 0.3,
      intensityScale: 1,
      contrasts: ['t1'],
    });
    expect(biased.image.data).not.toEqual(clean.image.data);
    const scaled = generatePhantomVolume({
      size,
      seed: 5,
      lesions: 'none',
      noise: 0,
      biasField: 0,
      intensityScale: 1000,
      contrasts: ['t1'],
    });
    const centre = 24 + 48 * (24 + 48 * 12);
    expect(clean.image.data[centre]).toBeGreaterThan(0);
    expect(scaled.image.data[centre]).toBeCloseTo(clean.image.data[centre]! * 1000, 2);
    const stripped = generatePhantomVolume({ size, seed: 5, skullStrip: true, contrasts: ['t2'] });
    let nonzero = 0;
    for (let i = 0; i < stripped.image.data.length; i++)
      if (!stripped.brainMask.data[i] && stripped.image.data[i] !== 0) nonzero++;
    expect(nonzero).toBe(0);
  });
  it('rejects bad options', () => {
    expect(() => generatePhantomVolume({ size: [0, 4, 4] })).toThrowError(IoArgumentError);
    expect(() => generatePhantomVolume({ contrasts: ['pd' as Contrast] })).toThrowError(/contrast/);
    expect(() => generatePhantomVolume({ lesions: ['cyst' as 'ms'] })).toThrowError(/lesion/);
  });
});

describe('generatePhantomSlices and montage', () => {
  it('2-D slices: size, determinism, labels from masks', () => {
    const a = generatePhantomSlices({ count: 6, size: 64, seed: 2, diseasedFraction: 0.5 });
    const b = generatePhantomSlices({ count: 6, size: 64, seed: 2, diseasedFraction: 0.5 });
    expect(a.length).toBe(6);
    a.forEach((s, i) => {
      expect([s.image.width, s.image.height]).toEqual([64, 64]);
      expect(s.image.data).toEqual(b[i]!.image.data);
      expect(s.label).toBe(s.mask.data.some((v) => v > 0) ? 1 : 0);
    });
    const all = generatePhantomSlices({ count: 4, size: 48, seed: 3, diseasedFraction: 1, lesionTypes: ['tumour'] });
    expect(all.every((s) => s.label === 1)).toBe(true);
  });
  it('montage tiles images and round-trips through PNG', () => {
    const s = generatePhantomSlices({ count: 5, size: 32, seed: 1 });
    const m = montage(
      s.map((x) => x.image),
      3,
    );
    expect([m.width, m.height]).toEqual([96, 64]);
    const png = readPng(writePng(m));
    expect([png.width, png.height]).toEqual([96, 64]);
  });
});
