import { describe, expect, it } from 'vitest';
import { describeBackends, expectNoLeaks } from '@adx/test-utils';
import { ArgumentError, SeededRNG, type BatchInput, type ImageArray } from '@adx/diffusion-core';
import { CDDPM } from './model.js';
import { detectConditioned } from './detect.js';
import { cddpmObjective, createTrainer, randomSliceBatches } from './train.js';

/** Volume v has value (v + 1)·10 + slice index everywhere, so every served slice names its origin. */
function labelledVolumes(n: number, d: number, h: number, w: number) {
  return Array.from({ length: n }, (_, v) => {
    const data = new Float32Array(d * h * w);
    for (let s = 0; s < d; s++) data.fill((v + 1) * 10 + s, s * h * w, (s + 1) * h * w);
    return { data, shape: [d, h, w] };
  });
}

describe('randomSliceBatches (vol2slice: one random slice per volume per epoch)', () => {
  it('every volume once per epoch, whole slices, drop_last, reproducible per epoch', () => {
    const data = randomSliceBatches(labelledVolumes(5, 4, 3, 3), { batchSize: 2, seed: 1 }) as {
      batches(e: number): Iterable<BatchInput>;
    };
    const epoch = (e: number) =>
      [...data.batches(e)].map((b) => {
        const im = b.image as ImageArray;
        expect(im.shape).toEqual([2, 3, 3, 1]);
        return [0, 1].map((k) => {
          const s = im.data.subarray(k * 9, (k + 1) * 9);
          expect(s.every((x) => x === s[0])).toBe(true);
          return s[0]!;
        });
      });
    const e0 = epoch(0).flat();
    expect(e0).toHaveLength(4); // 5 volumes, batches of 2, last one dropped
    const vols = e0.map((x) => Math.floor(x / 10));
    expect(new Set(vols).size).toBe(4);
    for (const x of e0) expect(x % 10).toBeLessThan(4);
    expect(epoch(0).flat()).toEqual(e0);
    expect(epoch(1).flat()).not.toEqual(e0);
    expect(() => randomSliceBatches([])).toThrow(ArgumentError);
    expect(() => randomSliceBatches([{ data: new Float32Array(4), shape: [1, 2, 3] }])).toThrow(/values/);
  });
});

describe('cddpmObjective', () => {
  it('rejects pDDPM (which trains box-wise through patchedObjective)', () => {
    expect(() => cddpmObjective({ variant: 'pDDPM' } as CDDPM)).toThrow(/pDDPM/);
  });
});

// wasm only: the trainer's wasm kernels make this ~10× faster than the cpu backend.
describeBackends(
  'tiny end-to-end: train cDDPM with the core Trainer, then detect',
  () => {
    it('x0-L1 training moves UNet and encoder, detection afterwards is leak-free', async () => {
      const model = new CDDPM(
        {
          variant: 'cDDPM',
          encoder: {
            block: 'BasicBlock',
            layers: [1, 1, 1, 1],
            stemWidth: 8,
            stagePlanes: [8, 8, 8, 8],
            outFeatures: 8,
          },
          unet: {
            imageSize: 16,
            modelChannels: 32,
            numResBlocks: 1,
            channelMult: [1, 1],
            attentionResolutions: [2],
            numHeadChannels: 32,
          },
        },
        { seed: 2 },
      );
      const rng = new SeededRNG(5);
      const volumes = await Promise.all(
        [0, 1, 2, 3].map(async () => {
          const t = rng.rand([3, 16, 16]);
          const data = (await t.data()) as Float32Array;
          t.dispose();
          return { data, shape: [3, 16, 16] };
        }),
      );
      const before = await Promise.all(model.trainableVariables().map(async (v) => Float32Array.from(await v.data())));
      const trainer = createTrainer(model, { optimizer: { lr: 1e-3 }, seed: 1 });
      const result = await trainer.fit({ data: randomSliceBatches(volumes, { batchSize: 2 }), epochs: 2 });
      expect(result.step).toBe(4); // 4 volumes / batch 2 = 2 steps per epoch
      expect(Number.isFinite(trainer.lastLoss)).toBe(true);
      const after = await Promise.all(model.trainableVariables().map(async (v) => Float32Array.from(await v.data())));
      const changed = before.filter((b, i) => b.some((x, j) => x !== after[i]![j])).length;
      expect(changed).toBeGreaterThan(before.length / 2);
      trainer.dispose();
      const mask = { data: new Uint8Array(3 * 16 * 16).fill(1), shape: [3, 16, 16] };
      const det = await expectNoLeaks(() =>
        detectConditioned(model, volumes[0]!, { brainMask: mask, postprocess: { erosionIterations: 1 } }),
      );
      expect(det.anomalyMap.data.every(Number.isFinite)).toBe(true);
      expect(det.reconstruction.shape).toEqual([3, 16, 16]);
      model.dispose();
    });
  },
  ['wasm'],
);
