import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { expectNoLeaks } from '@adx/test-utils';
import { ArgumentError, DDPMScheduler } from '@adx/diffusion-core';
import type { CDDPM } from './model.js';
import { detectConditioned, type VolumeArray } from './detect.js';
import { compareModels, comparisonTable, evaluateBehrendt, segment, validationThreshold } from './evaluate.js';

/** A stand-in model predicting x̂₀ = `value` (default 0, i.e. a reconstruction of exactly 0.5 everywhere). */
function halfModel(value = 0): CDDPM {
  const scheduler = DDPMScheduler.fromPreset('behrendt');
  return {
    variant: 'DDPM',
    scheduler,
    config: { patchSize: null, scheduler: scheduler.toConfig() },
    testLevels: [500],
    condition: () => null,
    predictX0: (xt: tf.Tensor4D) => tf.fill(xt.shape, value),
  } as unknown as CDDPM;
}

const D = 9;
const H = 12;
const W = 12;
const at = (z: number, y: number, x: number) => (z * H + y) * W + x;

/** x = 0.5 except a 5³ block of 1.0 at z 2..6, y 3..7, x 3..7, one isolated 1.0 at (4, 9, 1) and one at the slice edge (4, 0, 6). */
function phantom(): VolumeArray<Float32Array> {
  const data = new Float32Array(D * H * W).fill(0.5);
  for (let z = 2; z <= 6; z++) for (let y = 3; y <= 7; y++) for (let x = 3; x <= 7; x++) data[at(z, y, x)] = 1;
  data[at(4, 9, 1)] = 1;
  data[at(4, 0, 6)] = 1;
  return { data, shape: [D, H, W] };
}
const fullMask = { data: new Uint8Array(D * H * W).fill(1), shape: [D, H, W] };

describe('post-processing chain (hand-checked volumes)', () => {
  it('× brain mask eroded per slice (cross, 1 iteration, border 0), no median', async () => {
    const res = await expectNoLeaks(() =>
      detectConditioned(halfModel(), phantom(), {
        brainMask: fullMask,
        postprocess: { erosionIterations: 1, medianSize: 0 },
      }),
    );
    const m = res.anomalyMap.data;
    expect(m[at(4, 9, 1)]).toBe(0.5); // inside the eroded mask
    expect(m[at(4, 0, 6)]).toBe(0); // slice border: eroded away
    expect(m[at(4, 5, 5)]).toBe(0.5);
    expect(res.residual.data[at(4, 0, 6)]).toBe(0.5); // the raw residual keeps it
    // 125 block voxels + 1 isolated voxel at 0.5 inside a mask of D·H·W voxels.
    expect(res.score).toBeCloseTo((126 * 0.5) / (D * H * W), 10);
    // slice 0 has no residual; slice 4 has 25 block voxels and the isolated one
    expect(res.sliceScores[0]).toBe(0);
    expect(res.sliceScores[4]).toBeCloseTo((26 * 0.5) / (H * W), 6);
  });

  it('then the 3D median 5³ (reflect): block centre kept, block corner and isolated voxel removed', async () => {
    const res = await detectConditioned(halfModel(), phantom(), {
      brainMask: fullMask,
      postprocess: { erosionIterations: 1 },
    });
    const m = res.anomalyMap.data;
    expect(m[at(4, 5, 5)]).toBe(0.5); // its 5³ window is the block itself
    expect(m[at(2, 3, 3)]).toBe(0); // 27 of 125 window voxels are 0.5
    expect(m[at(3, 4, 4)]).toBe(0.5); // 4·4·4 = 64 of 125 window voxels are 0.5
    expect(m[at(4, 9, 1)]).toBe(0);
  });

  it('default erosion W//25 = 0 iterations erodes until nothing changes (scipy), as upstream would at 12 px', async () => {
    const res = await detectConditioned(halfModel(), phantom(), { brainMask: fullMask });
    expect(res.anomalyMap.data.every((v) => v === 0)).toBe(true);
  });

  it('without a brain mask: median of the raw residual only', async () => {
    const res = await detectConditioned(halfModel(), phantom());
    expect(res.anomalyMap.data[at(4, 5, 5)]).toBe(0.5);
    expect(res.anomalyMap.data[at(4, 9, 1)]).toBe(0);
  });
});

describe('threshold and segmentation', () => {
  it('segment: map > τ, 26-connected components ≤ 7 voxels removed', () => {
    const shape = [4, 8, 8];
    const data = new Float32Array(256);
    const idx = (z: number, y: number, x: number) => (z * 8 + y) * 8 + x;
    for (let z = 0; z < 2; z++) for (let y = 0; y < 2; y++) for (let x = 0; x < 2; x++) data[idx(z, y, x)] = 1; // 8 voxels
    for (let x = 1; x < 8; x++) data[idx(3, 5, x)] = 1; // 7 voxels
    data[idx(2, 2, 2)] = 0.4; // below τ; would touch the cube diagonally
    const seg = segment({ data, shape }, 0.5);
    expect(seg.data.reduce((a, b) => a + b, 0)).toBe(8);
    expect(seg.data[idx(1, 1, 1)]).toBe(1);
    expect(seg.data[idx(3, 5, 4)]).toBe(0);
    // one diagonal neighbour makes the 7-voxel row a 9-voxel 26-connected component: kept
    data[idx(2, 4, 3)] = 1;
    data[idx(2, 3, 2)] = 1;
    expect(segment({ data, shape }, 0.5).data.reduce((a, b) => a + b, 0)).toBe(8 + 7 + 2);
    expect(segment({ data, shape }, 0.5, { removeComponentsLe: null }).data.reduce((a, b) => a + b, 0)).toBe(17);
  });

  it('validation τ: 10-step bisection on the pooled voxels (hand-traced)', () => {
    // V1: two lesion voxels at 0.9, one healthy at 0.4; V2: two lesion voxels at 0.3. Pooled Dice is
    // 8/9 for every τ in (0, 0.3), which wins at each step (ties go to the lower quarter point), so
    // τ halves from 0.225 down to 0.9/2^9 · 0.25.
    const vol = (map: number[], gt: number[]) => ({
      detection: { anomalyMap: { data: Float32Array.from(map), shape: [1, 1, map.length] } },
      segmentation: { data: Uint8Array.from(gt), shape: [1, 1, gt.length] },
    });
    const v1 = vol([0.9, 0.9, 0.4, 0, 0, 0], [1, 1, 0, 0, 0, 0]);
    const v2 = vol([0.3, 0.3, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0]);
    expect(validationThreshold([v1, v2])).toBeCloseTo(Math.fround(0.9) / 2048, 12);
    expect(() => validationThreshold([])).toThrow(ArgumentError);
  });
});

describe('evaluateBehrendt (per-volume protocol glue)', () => {
  it('Dice at τ, best Dice, AUROC, AUPRC, L1 on healthy voxels (hand-computed)', () => {
    const shape = [4, 8, 8];
    const n = 256;
    const cube = (z0: number) => {
      const m = new Uint8Array(n);
      for (let z = z0; z < z0 + 2; z++)
        for (let y = 0; y < 2; y++) for (let x = 0; x < 2; x++) m[(z * 8 + y) * 8 + x] = 1;
      return m;
    };
    const mk = (mapCube: Uint8Array, gtCube: Uint8Array) => {
      const map = Float32Array.from(mapCube, (v) => v * 0.9);
      const input = new Float32Array(n).fill(0.5);
      const reconstruction = new Float32Array(n).fill(0.625);
      return {
        detection: {
          anomalyMap: { data: map, shape },
          reconstruction: { data: reconstruction, shape },
        },
        segmentation: { data: gtCube, shape },
        input: { data: input, shape },
      };
    };
    const hit = mk(cube(0), cube(0));
    const miss = mk(cube(0), cube(2));
    const { summary, report } = evaluateBehrendt([hit, miss], { threshold: 0.5 });
    expect(summary.tau).toBe(0.5);
    expect(summary.dice).toBeCloseTo(0.5, 12); // 1 and 0
    expect(summary.bestDice).toBeCloseTo(0.5, 12);
    // miss: the 8 lesion voxels score 0, tied with 240 of the 248 healthy voxels → AUROC 0.5·240/248
    expect(summary.auroc).toBeCloseTo((1 + (0.5 * 240) / 248) / 2, 12);
    // miss: AP = recall step 1 × precision 8/256 at threshold 0
    expect(summary.auprc).toBeCloseTo((1 + 8 / 256) / 2, 12);
    expect(summary.l1Healthy).toBeCloseTo(0.125, 12);
    expect(report.protocol).toBe('behrendt-per-volume');
    expect(() => evaluateBehrendt([hit])).toThrow(/options.validation/);
    // with validation volumes, τ comes from them
    const v = evaluateBehrendt([hit], { validation: [hit] });
    expect(v.summary.dice).toBe(1);
  });
});

describe('compareModels (same detection and protocol for every variant)', () => {
  it('hand-computed metrics for two stand-in reconstructions, timing and table', async () => {
    // image 0.5 with a 2×2×2 lesion at 1.0; reco 0.5 → map 0.5 on the lesion only; reco 0 → map = image.
    const shape = [4, 8, 8];
    const image = new Float32Array(256).fill(0.5);
    const seg = new Uint8Array(256);
    for (let z = 1; z < 3; z++)
      for (let y = 3; y < 5; y++)
        for (let x = 3; x < 5; x++) {
          image[(z * 8 + y) * 8 + x] = 1;
          seg[(z * 8 + y) * 8 + x] = 1;
        }
    const vol = { image: { data: image, shape }, segmentation: { data: seg, shape } };
    const rows = await compareModels(
      { half: halfModel(0), zero: halfModel(-1) },
      { validation: [vol], test: [vol, vol] },
      { postprocess: { medianSize: 0 } },
    );
    expect(rows.map((r) => r.name)).toEqual(['half', 'zero']);
    for (const r of rows) {
      expect(r.dice).toBe(1);
      expect(r.bestDice).toBe(1);
      expect(r.auroc).toBe(1);
      expect(r.auprc).toBe(1);
      expect(r.secondsPerVolume).toBeGreaterThan(0);
    }
    expect(rows[0]!.l1Healthy).toBe(0);
    expect(rows[1]!.l1Healthy).toBe(0.5);
    expect(rows[1]!.tau).toBeGreaterThan(0.5); // between the healthy 0.5 and the lesion 1.0
    expect(rows[1]!.tau).toBeLessThan(1);
    const table = comparisonTable(rows);
    expect(table.split('\n')).toHaveLength(4);
    expect(table).toContain('| zero | 100.00 | 100.00 | 100.00 | 100.00 | 0.5000 |');
  });
});
