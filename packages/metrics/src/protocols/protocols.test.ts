import { describe, expect, it } from 'vitest';
import { readJson, readNpy } from '@adx/test-utils';
import { linspace, type NdArray } from '../ndarray.js';
import { medianFilter } from '../ops/filters.js';
import { applyMask, binaryErosion } from '../ops/morphology.js';
import { absResidual } from '../ops/residual.js';
import { collectWarnings } from '../warnings.js';
import { baurPooledProtocol, baurPostprocess } from './baur.js';
import { behrendtPerVolumeProtocol, behrendtPostprocess } from './behrendt.js';
import type { EvaluationCase } from './common.js';
import { imageLevelProtocol } from './imageLevel.js';
import { lesionDetection } from './lesion.js';
import { l1Error, reconstructionErrors, ssim } from './reconstruction.js';
import { thorBrainProtocol, thorWristProtocol, wristObjectScore } from './thor.js';
import { centerCrop2d, wollebPerSliceProtocol } from './wolleb.js';
import type { MetricsReport } from '../report/report.js';
import { MetricsConfigError } from '../errors.js';

const metricsDir = new URL('../../test-fixtures/metrics/', import.meta.url);
const opsDir = new URL('../../test-fixtures/ops/', import.meta.url);

interface PerVolume {
  per_volume: { 'dice_at_0.5_gt': number; roc_auc_score: number; average_precision_score: number }[];
  'mean_dice_at_0.5_gt': number;
  mean_roc_auc: number;
  mean_average_precision: number;
  pooled: {
    'dice_at_0.5_gt': number;
    best: { max_dice_gt: number; argmax_threshold: number };
    roc_auc_score: number;
    average_precision_score: number;
  };
}
const ref = readJson<PerVolume>(new URL('dice_per_volume.json', metricsDir));
const maps = readNpy(new URL('dice_volumes_maps_3x20x20x12_f32.npy', metricsDir)).data as Float32Array;
const masks = readNpy(new URL('dice_volumes_masks_3x20x20x12_u8.npy', metricsDir)).data as Uint8Array;
const N = 20 * 20 * 12;
const volumes: EvaluationCase[] = [0, 1, 2].map((i) => ({
  id: `vol${i}`,
  map: { data: maps.subarray(i * N, (i + 1) * N), shape: [20, 20, 12] },
  gt: { data: masks.subarray(i * N, (i + 1) * N), shape: [20, 20, 12] },
}));
const entry = (r: MetricsReport, metric: string, aggregation?: string, subset?: string) => {
  const e = r.entries.find(
    (x) => x.metric === metric && (!aggregation || x.aggregation === aggregation) && (!subset || x.subset === subset),
  );
  if (!e) throw new Error(`no entry ${metric} ${aggregation ?? ''} ${subset ?? ''}`);
  return e;
};
const npStd = (v: number[]) => {
  const m = v.reduce((a, b) => a + b, 0) / v.length;
  return Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / v.length);
};

describe('Baur pooled protocol', () => {
  it('pooled AUROC / AUPRC / oracle Dice over 101 thresholds equal the sklearn/NumPy pooled fixture', () => {
    const r = baurPooledProtocol(volumes, { search: 'grid', threshold: 0.5, removeComponentsLe: null });
    expect(Math.abs(entry(r, 'AUROC').value - ref.pooled.roc_auc_score)).toBeLessThanOrEqual(1e-9);
    expect(Math.abs(entry(r, 'AUPRC').value - ref.pooled.average_precision_score)).toBeLessThanOrEqual(1e-9);
    const oracle = entry(r, '⌈DSC⌉');
    expect(oracle.thresholdSource).toBe('oracle');
    expect(oracle.threshold).toBe(ref.pooled.best.argmax_threshold);
    expect(Math.abs(oracle.value - ref.pooled.best.max_dice_gt)).toBeLessThanOrEqual(1e-12);
    const pooledDice = entry(r, 'Dice', 'pooled');
    expect(pooledDice.thresholdSource).toBe('fixed');
    expect(Math.abs(pooledDice.value - ref.pooled['dice_at_0.5_gt'])).toBeLessThanOrEqual(1e-12);
    const perPatient = entry(r, 'Dice', 'per-volume');
    expect(Math.abs(perPatient.value - ref['mean_dice_at_0.5_gt'])).toBeLessThanOrEqual(1e-12);
    expect(perPatient.std).toBeCloseTo(npStd(ref.per_volume.map((v) => v['dice_at_0.5_gt'])), 12);
  });

  it('realistic Dice: threshold from the validation set, components <= 7 removed, lesion counts', () => {
    // Validation: one 1-D-like volume where the best threshold is clear; test: a volume with a lesion and
    // a 1-voxel false positive that component removal deletes.
    const shape = [4, 6, 6];
    const val = new Float32Array(144);
    const valGt = new Uint8Array(144);
    const tst = new Float32Array(144);
    const tstGt = new Uint8Array(144);
    for (let z = 0; z < 2; z++)
      for (let y = 0; y < 3; y++)
        for (let x = 0; x < 3; x++) {
          const i = (z * 6 + y) * 6 + x;
          val[i] = 0.9;
          valGt[i] = 1;
          tst[i] = 0.8;
          tstGt[i] = 1;
        }
    tst[143] = 0.95; // isolated false positive voxel
    const r = baurPooledProtocol([{ map: { data: tst, shape }, gt: { data: tstGt, shape } }], {
      validation: [{ map: { data: val, shape }, gt: { data: valGt, shape } }],
      search: 'grid',
    });
    const d = entry(r, 'Dice', 'pooled');
    expect(d.thresholdSource).toBe('validation');
    expect(d.threshold).toBe(0); // first grid threshold with Dice 1 on validation (0.9 > 0)
    expect(d.value).toBe(1); // the 1-voxel FP was removed
    expect(entry(r, 'lesion TP').value).toBe(1);
    expect(entry(r, 'lesion FP').value).toBe(0);
    expect(entry(r, 'lesion FN').value).toBe(0);
  });

  it('baurPostprocess = positive residual × eroded mask (12 it.) → median 5', () => {
    const x = readNpy(new URL('input_vol3d_12x16x10_f32.npy', opsDir));
    const mask = readNpy(new URL('mask3d_12x16x10_u8.npy', opsDir));
    const input: NdArray = { data: x.data as Float32Array, shape: x.shape };
    const recon: NdArray = { data: new Float32Array(x.data.length).fill(0.5), shape: x.shape };
    const brain: NdArray = { data: mask.data as Uint8Array, shape: mask.shape };
    const out = baurPostprocess(input, recon, brain, { erosionIterations: 3, sliceAxis: 0 });
    const eroded = readNpy(new URL('binary_erosion_mask3d_per_slice_axis0.npy', opsDir));
    const manual = new Float64Array(x.data.length);
    for (let i = 0; i < manual.length; i++) manual[i] = eroded.data[i] ? Math.max((x.data[i] as number) - 0.5, 0) : 0;
    expect(Array.from(out.data)).toEqual(Array.from(medianFilter({ data: manual, shape: x.shape }, { size: 5 }).data));
  });
});

describe('Behrendt per-volume protocol', () => {
  it('per-volume Dice / AUROC / AUPRC means and stds equal the fixture values', () => {
    const r = behrendtPerVolumeProtocol(volumes, { threshold: 0.5, removeComponentsLe: null });
    const d = entry(r, 'Dice');
    expect(d.aggregation).toBe('per-volume');
    expect(Math.abs(d.value - ref['mean_dice_at_0.5_gt'])).toBeLessThanOrEqual(1e-12);
    expect(d.std).toBeCloseTo(npStd(ref.per_volume.map((v) => v['dice_at_0.5_gt'])), 12);
    expect(Math.abs(entry(r, 'AUROC').value - ref.mean_roc_auc)).toBeLessThanOrEqual(1e-9);
    expect(Math.abs(entry(r, 'AUPRC').value - ref.mean_average_precision)).toBeLessThanOrEqual(1e-9);
    expect(entry(r, 'best Dice').thresholdSource).toBe('oracle');
  });

  it('τ from pooled validation voxels by the bisection (hand-traced 2-step case), healthy FPR thresholds', () => {
    const map = Float64Array.from({ length: 11 }, (_, i) => i / 10);
    const gt = Uint8Array.from(map, (v) => (v > 0.55 ? 1 : 0));
    const v: EvaluationCase = { map: { data: map, shape: [1, 1, 11] }, gt: { data: gt, shape: [1, 1, 11] } };
    const healthy: EvaluationCase = {
      map: { data: Float64Array.from({ length: 101 }, (_, i) => i / 100), shape: [1, 1, 101] },
      gt: { data: new Uint8Array(101), shape: [1, 1, 101] },
    };
    const r = behrendtPerVolumeProtocol([v], {
      validation: [v],
      steps: 2,
      removeComponentsLe: null,
      healthyValidation: [healthy],
    });
    expect(r.details!.tau).toBe(0.375);
    expect(entry(r, 'Dice').thresholdSource).toBe('validation');
    expect(entry(r, 'Dice').value).toBeCloseTo(10 / 12, 15); // map > .375: 0.4..1.0 (7) vs 5 lesion voxels
    expect(entry(r, 'threshold t5p').value).toBeCloseTo(0.95, 12);
  });

  it('behrendtPostprocess = |x − x̂| × per-slice eroded mask → median 5³; L1 errors and slice scores', () => {
    const x = readNpy(new URL('input_vol3d_12x16x10_f32.npy', opsDir));
    const mask = readNpy(new URL('mask3d_12x16x10_u8.npy', opsDir));
    const input: NdArray = { data: x.data as Float32Array, shape: x.shape };
    const recon: NdArray = { data: new Float32Array(x.data.length), shape: x.shape };
    const brain: NdArray = { data: mask.data as Uint8Array, shape: mask.shape };
    const out = behrendtPostprocess(input, recon, brain, { sliceAxis: 2, erosionIterations: 3 });
    const eroded = readNpy(new URL('binary_erosion_mask3d_per_slice_axis2.npy', opsDir));
    const masked = applyMask(absResidual(input, recon), { data: eroded.data as Uint8Array, shape: x.shape });
    expect(Array.from(out.data)).toEqual(Array.from(medianFilter(masked, { size: 5 }).data));
    // default iterations = floor(16 / 25) = 0 -> scipy erodes until stable
    expect(Array.from(binaryErosion(brain, { iterations: 0, sliceAxis: 0 }).data).every((v) => v === 0)).toBe(true);

    const seg = new Uint8Array(x.data.length);
    seg[5] = 1;
    const e = reconstructionErrors(input, recon, { data: seg, shape: x.shape });
    expect(e.unhealthy).toBeCloseTo(Math.abs(x.data[5] as number), 7);
    const r = behrendtPerVolumeProtocol(
      [{ map: out, gt: { data: seg, shape: x.shape }, brainMask: brain, input, reconstruction: recon }],
      { threshold: 0.1 },
    );
    expect(entry(r, 'L1 (all)').value).toBeCloseTo(l1Error(input, recon), 12);
    expect(entry(r, 'slice AUROC').n).toBe(1);
  });
});

describe('THOR protocols', () => {
  const square = (H: number, W: number, area: number, inside: number, outside: number) => {
    const map = new Float32Array(H * W).fill(outside);
    const gt = new Uint8Array(H * W);
    for (let k = 0; k < area; k++) {
      map[k] = inside;
      gt[k] = 1;
    }
    return { map: { data: map, shape: [H, W] }, gt: { data: gt, shape: [H, W] } };
  };
  it('bins by lesion area (3,71], (71,570], (570,10000]; pooled AUPRC; best Dice over 101 thresholds with ε', () => {
    const cases = [
      // float32-exact values: lesion 0.75, background 0.125 (so map > t is decided exactly)
      { id: 'a', ...square(32, 32, 5, 0.75, 0.125) },
      { id: 'b', ...square(32, 32, 100, 0.75, 0.125) },
      { id: 'c', ...square(32, 32, 600, 0.75, 0.125) },
      { id: 'd', ...square(32, 32, 3, 0.75, 0.125) }, // area 3 is in no bin
      { id: 'e', ...square(32, 32, 50, 0.0625, 0.5) }, // small, inverted map
    ];
    const r = thorBrainProtocol(cases, { exclude: ['e'] });
    for (const [bin, area] of [
      ['small (3, 71]', 5],
      ['medium (71, 570]', 100],
      ['large (570, 10000]', 600],
    ] as const) {
      expect(entry(r, 'AUPRC', undefined, bin).value).toBe(1);
      const d = entry(r, '⌈DSC⌉', undefined, bin);
      expect(d.threshold).toBe(linspace(0, 1, 101)[13]); // first grid value > 0.125 isolates the lesion
      expect(d.value).toBeCloseTo((2 * area) / (2 * area + 1e-6), 15);
      expect(d.n).toBe(1);
    }
    const withE = thorBrainProtocol(cases);
    expect(entry(withE, 'AUPRC', undefined, 'small (3, 71]').n).toBe(2);
    expect(entry(withE, 'AUPRC', undefined, 'small (3, 71]').value).toBeLessThan(1);
  });

  it('MAE and SSIM (identical images give SSIM 1 and MAE 0)', () => {
    const c = square(16, 16, 10, 0.8, 0.1);
    const img = { data: Float32Array.from({ length: 256 }, (_, i) => (i % 7) / 7), shape: [16, 16] };
    const r = thorBrainProtocol([{ ...c, input: img, reconstruction: img }]);
    expect(entry(r, 'MAE', undefined, 'small (3, 71]').value).toBe(0);
    expect(entry(r, 'SSIM', undefined, 'small (3, 71]').value).toBeCloseTo(1, 12);
  });

  it('wrist: 5 % FPR threshold and per-object TP/FP/precision/F1', () => {
    const healthy = [Float64Array.from({ length: 100 }, (_, i) => i / 100)];
    // object of 10 px: 2 px with map 0.96 (20 % > 10 % -> TP); healthy region mass 0.99·4 = 3.96, object mass 1.92
    const map = new Float64Array(20);
    map[0] = 0.96;
    map[1] = 0.96;
    for (let i = 10; i < 14; i++) map[i] = 0.99;
    map[14] = 0.5; // below threshold, zeroed
    const obj = new Uint8Array(20).fill(1, 0, 10);
    const neg = new Uint8Array(20).fill(1, 10, 20);
    const o = {
      map: { data: map, shape: [20] },
      objectMask: { data: obj, shape: [20] },
      healthyMask: { data: neg, shape: [20] },
      className: 'fracture',
    };
    const s = wristObjectScore(o, 0.94);
    expect(s.tp).toBe(1);
    expect(s.fp).toBe(Math.floor(3.96 / 1.92)); // 2
    expect(s.precision).toBeCloseTo(1 / 3, 15);
    expect(s.f1).toBeCloseTo((2 * (1 / 3)) / (1 / 3 + 1), 15);
    const r = thorWristProtocol(healthy, [o]);
    expect(r.details!.threshold).toBe(940 * (1 / 1000));
    expect(entry(r, 'F1', 'per-object', 'fracture').thresholdSource).toBe('fpr');
  });
});

describe('Wolleb per-slice protocol', () => {
  it('crops 16² maps to the 12² label, Otsu → Dice, AUROC; healthy slices skipped', () => {
    const H = 16;
    const map = new Float64Array(H * H);
    const gt = new Uint8Array(12 * 12);
    for (let y = 0; y < 12; y++)
      for (let x = 0; x < 12; x++) {
        const lesion = y >= 3 && y < 7 && x >= 3 && x < 7;
        map[(y + 2) * H + x + 2] = lesion ? 3 + ((x + y) % 3) * 0.1 : 0.1 * ((x * y) % 2);
        gt[y * 12 + x] = lesion ? 1 : 0;
      }
    const crop = centerCrop2d({ data: map, shape: [16, 16] }, 12, 12);
    expect(crop.data[3 * 12 + 3]).toBe(map[5 * 16 + 5]);
    const healthy = { map: { data: map, shape: [16, 16] }, gt: { data: new Uint8Array(144), shape: [12, 12] } };
    const r = wollebPerSliceProtocol([
      { map: { data: map, shape: [16, 16] }, gt: { data: gt, shape: [12, 12] } },
      healthy,
    ]);
    expect(entry(r, 'Dice').value).toBe(1);
    expect(entry(r, 'Dice').thresholdSource).toBe('otsu');
    expect(entry(r, 'AUROC').value).toBe(1);
    expect(entry(r, 'Dice').n).toBe(1);
    expect(r.details!.skippedHealthySlices).toBe(1);
  });
});

describe('lesion detection, image level, SSIM', () => {
  it('counts TP / FP / FN components, ignoring predicted components < 8 voxels', () => {
    const shape = [1, 10, 10];
    const gt = new Uint8Array(100);
    const pred = new Uint8Array(100);
    for (let i = 0; i < 9; i++) gt[i] = 1; // lesion A: row 0, x 0..8
    for (let i = 90; i < 99; i++) gt[i] = 1; // lesion B: row 9 (missed)
    for (let i = 0; i < 8; i++) pred[i] = 1; // hits A (8 voxels)
    for (let i = 40; i < 50; i++) pred[i] = 1; // FP of 10 voxels
    pred[66] = 1; // tiny FP (ignored)
    const d = lesionDetection({ data: pred, shape }, { data: gt, shape });
    expect(d).toMatchObject({ tp: 1, fn: 1, fp: 1, gtLesions: 2, predictedLesions: 2, recall: 0.5, precision: 0.5 });
  });
  it('image-level AUROC from scores', () => {
    const r = imageLevelProtocol([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]);
    expect(entry(r, 'AUROC').value).toBe(0.75);
    expect(entry(r, 'AUPRC').value).toBeCloseTo(0.5 + 0.5 * (2 / 3), 15);
  });
  it('SSIM of two constant images: (2ab + C1) / (a² + b² + C1)', () => {
    const a = 0.3;
    const b = 0.6;
    const C1 = 0.01 ** 2;
    const x = { data: new Float64Array(100).fill(a), shape: [10, 10] };
    const y = { data: new Float64Array(100).fill(b), shape: [10, 10] };
    expect(ssim(x, y)).toBeCloseTo((2 * a * b + C1) / (a * a + b * b + C1), 12);
    const { result } = collectWarnings(() =>
      ssim(x, y, { mask: { data: new Uint8Array(100).fill(1), shape: [10, 10] } }),
    );
    expect(result).toBeCloseTo((2 * a * b + C1) / (a * a + b * b + C1), 12);
  });
});

describe('options validation', () => {
  it('unknown option keys are MetricsConfigError naming the key', () => {
    expect(() => behrendtPerVolumeProtocol(volumes, { threshold: 0.5, removeComponentLe: 7 } as never)).toThrow(
      /behrendtPerVolumeProtocol options key 'removeComponentLe'/,
    );
    expect(() => thorBrainProtocol(volumes, { bin: [] } as never)).toThrow(MetricsConfigError);
  });
});
