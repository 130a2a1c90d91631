import { describe, expect, it } from 'vitest';
import {
  baurPooledProtocol,
  baurPostprocess,
  behrendtPerVolumeProtocol,
  behrendtPostprocess,
  hyperintensityPrior,
  reportToJson,
  reportToMarkdown,
  type EvaluationCase,
  type NdArray,
} from '../index.js';

/**
 * A 20×24×24 "brain" (ellipsoid mask) with a bright 8×8×8 lesion; the reconstruction is the
 * healthy brain, so the residual is exactly the lesion. README examples run end to end on it.
 */
function phantom(offset: number): { x: NdArray; rec: NdArray; mask: NdArray; seg: NdArray } {
  const shape = [20, 24, 24];
  const n = 20 * 24 * 24;
  const x = new Float32Array(n);
  const rec = new Float32Array(n);
  const mask = new Uint8Array(n);
  const seg = new Uint8Array(n);
  for (let d = 0; d < 20; d++)
    for (let h = 0; h < 24; h++)
      for (let w = 0; w < 24; w++) {
        const i = (d * 24 + h) * 24 + w;
        const inBrain = ((d - 9.5) / 10) ** 2 + ((h - 11.5) / 12) ** 2 + ((w - 11.5) / 12) ** 2 < 1;
        if (!inBrain) continue;
        mask[i] = 1;
        rec[i] = 0.4;
        x[i] = 0.4;
        const lesion = d >= 6 && d < 14 && h >= 8 + offset && h < 16 + offset && w >= 8 && w < 16;
        if (lesion) {
          x[i] = 0.9;
          seg[i] = 1;
        }
      }
  return { x: { data: x, shape }, rec: { data: rec, shape }, mask: { data: mask, shape }, seg: { data: seg, shape } };
}

/**
 * By hand: the residual is 0.5 on the 8³ cube and 0 elsewhere, so after the 5³ median a cube voxel
 * survives iff more than 62 of its 125 window voxels lie in the cube. Along one axis the overlap at
 * cube position p = 0..7 is [3, 4, 5, 5, 5, 5, 4, 3]; K = #{(a, b, c): o_a·o_b·o_c > 62}, and as the
 * prediction is a subset of the lesion, Dice = 2K / (K + 512) for any τ in [0, 0.5).
 */
const overlap = [3, 4, 5, 5, 5, 5, 4, 3];
let K = 0;
for (const a of overlap) for (const b of overlap) for (const c of overlap) if (a * b * c > 62) K++;
const expectedDice = (2 * K) / (K + 512);

describe('README examples end to end on a phantom', () => {
  const vols = [0, 1, 2].map(phantom);

  it('Behrendt: postprocess → τ on validation → per-volume report', () => {
    const cases = vols.map((v, i) => ({
      id: `v${i}`,
      gt: v.seg,
      brainMask: v.mask,
      input: v.x,
      reconstruction: v.rec,
      map: behrendtPostprocess(v.x, v.rec, v.mask, { sliceAxis: 0, erosionIterations: 1 }),
    }));
    const r = behrendtPerVolumeProtocol(cases.slice(1), { validation: cases.slice(0, 1) });
    const dice = r.entries.find((e) => e.metric === 'Dice')!;
    expect(dice.value).toBeCloseTo(expectedDice, 14);
    expect(dice.std).toBe(0);
    // Every τ in (0, 0.5) ties, and ties go to the lower quarter point (`>=`), so after 10 steps on
    // [0, max ≈ 0.5] the last quarter point is max / 2^11 (step s looks at [0, max / 2^s]).
    expect(r.details!.tau as number).toBeCloseTo(0.5 / 2048, 9);
    // Negatives all score 0; K positives score 0.5 and 512 − K tie with the negatives at 0 (half credit).
    expect(r.entries.find((e) => e.metric === 'AUROC')!.value).toBeCloseTo((K + 0.5 * (512 - K)) / 512, 12);
    // L1 on the raw reconstruction: healthy voxels reconstruct perfectly, lesion voxels are off by 0.5.
    expect(r.entries.find((e) => e.metric === 'L1 (healthy)')!.value).toBe(0);
    expect(r.entries.find((e) => e.metric === 'L1 (unhealthy)')!.value).toBeCloseTo(0.5, 6);
    expect(reportToMarkdown(r)).toContain('| Dice |  |');
    expect(JSON.parse(reportToJson(r)).protocol).toBe('behrendt-per-volume');
  });

  it('Baur: positive residual pipeline → pooled report with validation threshold', () => {
    const prep = (v: ReturnType<typeof phantom>): EvaluationCase => ({
      map: baurPostprocess(v.x, v.rec, v.mask, { erosionIterations: 1 }),
      gt: v.seg,
    });
    const r = baurPooledProtocol(vols.slice(1).map(prep), { validation: [prep(vols[0]!)], search: 'grid' });
    expect(r.entries.find((e) => e.metric === '⌈DSC⌉')!.value).toBeCloseTo(expectedDice, 14);
    expect(r.entries.find((e) => e.metric === 'Dice' && e.aggregation === 'pooled')!.value).toBeCloseTo(
      expectedDice,
      14,
    );
    expect(r.entries.find((e) => e.metric === 'lesion TP')!.value).toBe(2);
    // Default oracle search: Baur's recursive sweep (granularity 10). Dice is flat on [0, 0.5), so the
    // first maximum in threshold order is t = 0.
    const rec = baurPooledProtocol(vols.map(prep));
    const oracle = rec.entries.find((e) => e.metric === '⌈DSC⌉')!;
    expect(oracle.threshold).toBe(0);
    expect(oracle.value).toBeCloseTo(expectedDice, 14);
    expect(r.entries.find((e) => e.metric === 'lesion FN')!.value).toBe(0);
  });

  it('hyper-intensity prior zeroes the map below the 90th percentile of the input', () => {
    const x = { data: Float64Array.from({ length: 11 }, (_, i) => i), shape: [11] }; // p90 = 9
    const map = { data: new Float64Array(11).fill(1), shape: [11] };
    expect(Array.from(hyperintensityPrior(map, x).data)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1]);
  });
});
