import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { describeBackends, expectNoLeaks } from '@adx/test-utils';
import {
  ArgumentError,
  ConfigError,
  DDPMScheduler,
  SeededRNG,
  type DiffusionObjectiveNetworks,
} from '@adx/diffusion-core';
import { CDDPM } from './model.js';
import { detectPatched } from './detect.js';
import { PatchedDiffusionObjective } from './patched.js';
import { createTrainer, patchedObjective, randomSliceBatches, trainingObjective } from './train.js';

/** A stand-in UNet that records its input and returns `f(x_in)`. */
function stubModel(f: (x: tf.Tensor4D) => tf.Tensor4D = (x) => tf.clone(x)) {
  const seen: { x: Float32Array[]; t: number[][] } = { x: [], t: [] };
  const model = {
    className: 'Stub',
    inChannels: 1,
    outChannels: 1,
    toConfig: () => ({ className: 'Stub' }),
    apply(x: tf.Tensor4D, t: ArrayLike<number>) {
      seen.x.push(Float32Array.from(x.dataSync()));
      seen.t.push(Array.from(t));
      return f(x);
    },
  } as unknown as DiffusionObjectiveNetworks['model'];
  return { model, seen };
}

const ctx = (seed: number) => ({ rng: new SeededRNG(seed), dropoutRng: new SeededRNG(seed + 1) });

describe('PatchedDiffusionObjective (pDDPM p_losses with box, inpaint, pred_x0, l1)', () => {
  const sched = DDPMScheduler.fromPreset('behrendt');
  const B = 2;
  const H = 4;
  const W = 4;
  const x01 = Float32Array.from({ length: B * H * W }, (_, i) => ((i * 7) % 11) / 10);
  const noiseV = Float32Array.from({ length: B * H * W }, (_, i) => ((i * 5) % 9) / 4 - 1);

  it('noises only the chosen box, pastes the clean input elsewhere, L1 over the whole slice', () => {
    const { model, seen } = stubModel();
    const obj = new PatchedDiffusionObjective(model, sched, { patchSize: 2 });
    const t = [100, 700];
    const boxes = [1, 2]; // grid (row-major): 0 = top-left, 1 = top-right, 2 = bottom-left, 3 = bottom-right
    const image = tf.tensor4d(x01, [B, H, W, 1]);
    const noise = tf.tensor4d(noiseV, [B, H, W, 1]);
    const loss = obj.perSampleLoss({ image }, ctx(0), { boxes, timesteps: t, noise });
    const got = loss.dataSync();
    tf.dispose([image, noise, loss]);
    const inBox = (b: number, y: number, x: number) =>
      boxes[b] === 1 ? y < 2 && x >= 2 : boxes[b] === 2 ? y >= 2 && x < 2 : false;
    for (let b = 0; b < B; b++) {
      const a = Math.sqrt(sched.schedule.alphasCumprod[t[b]!]!);
      const s = Math.sqrt(1 - sched.schedule.alphasCumprod[t[b]!]!);
      let sum = 0;
      for (let y = 0; y < H; y++)
        for (let x = 0; x < W; x++) {
          const i = (b * H + y) * W + x;
          const x0 = 2 * x01[i]! - 1;
          const xt = a * x0 + s * noiseV[i]!;
          // the model input: x_t inside the box, the clean 2x − 1 outside
          expect(seen.x[0]![i]).toBeCloseTo(inBox(b, y, x) ? xt : x0, 5);
          // identity model + inpaint: error |x_t − x0| inside the box, 0 outside
          if (inBox(b, y, x)) sum += Math.abs(xt - x0);
        }
      expect(got[b]).toBeCloseTo(sum / (H * W), 5); // mean over all H·W pixels
    }
    expect(seen.t[0]).toEqual(t);
  });

  it('without inpaint the loss covers the whole slice', () => {
    const { model } = stubModel((x) => tf.zerosLike(x));
    const obj = new PatchedDiffusionObjective(model, sched, { patchSize: 2, inpaint: false });
    const image = tf.tensor4d(x01, [B, H, W, 1]);
    const loss = obj.perSampleLoss({ image }, ctx(0), { boxes: [0, 3], timesteps: [5, 5] });
    const got = loss.dataSync();
    tf.dispose([image, loss]);
    for (let b = 0; b < B; b++) {
      let sum = 0;
      for (let i = 0; i < H * W; i++) sum += Math.abs(2 * x01[b * H * W + i]! - 1);
      expect(got[b]).toBeCloseTo(sum / (H * W), 5);
    }
  });

  it('draws one uniform grid box per sample and one simplex map shared by the batch', async () => {
    const { model, seen } = stubModel();
    const obj = new PatchedDiffusionObjective(model, sched, { patchSize: 2 });
    const counts = [0, 0, 0, 0];
    const rng = new SeededRNG(4);
    for (let k = 0; k < 50; k++) {
      const { mask, boxes } = obj.boxMasks(8, 4, 4, rng);
      const m = await mask.data();
      mask.dispose();
      boxes.forEach((j, b) => {
        counts[j]! += 1;
        let inside = 0;
        for (let i = 0; i < 16; i++) inside += m[b * 16 + i]!;
        expect(inside).toBe(4);
      });
    }
    for (const c of counts) expect(c).toBeGreaterThan(70); // 400 draws over 4 boxes
    // all samples at the same t and box: identical model inputs iff the noise map is shared
    const same = Float32Array.from({ length: 3 * 16 }, (_, i) => (i % 16) / 16);
    const image = tf.tensor4d(same, [3, 4, 4, 1]);
    await expectNoLeaks(() => tf.dispose(obj.loss({ image }, ctx(9))));
    const l = obj.perSampleLoss({ image }, ctx(3), { boxes: [3, 3, 3], timesteps: [500, 500, 500] });
    l.dispose();
    image.dispose();
    const xin = seen.x[seen.x.length - 1]!;
    expect(Array.from(xin.subarray(16, 32))).toEqual(Array.from(xin.subarray(0, 16)));
    expect(Array.from(xin.subarray(32, 48))).toEqual(Array.from(xin.subarray(0, 16)));
  });

  it('validates its config and the box indices', () => {
    const { model } = stubModel();
    expect(() => new PatchedDiffusionObjective(model, sched, { bogus: 1 } as never)).toThrow(ConfigError);
    expect(() => new PatchedDiffusionObjective(model, DDPMScheduler.fromPreset('thor'))).toThrow(/pred_x0|sample/);
    const obj = new PatchedDiffusionObjective(model, sched, { patchSize: 2 });
    const image = tf.zeros([1, 4, 4, 1]) as tf.Tensor4D;
    expect(() => obj.perSampleLoss({ image }, ctx(0), { boxes: [4] })).toThrow(ArgumentError);
    expect(() => obj.perSampleLoss({ image }, ctx(0), { boxes: [0, 1] })).toThrow(ArgumentError);
    const odd = tf.zeros([1, 5, 5, 1]) as tf.Tensor4D;
    expect(() => obj.loss({ image: odd }, ctx(0))).toThrow(/multiple of the patch size/);
    tf.dispose([image, odd]);
    expect(obj.toConfig()).toMatchObject({ className: 'PatchedDiffusionObjective', patchSize: 2, inpaint: true });
  });
});

const tinyUNet = {
  imageSize: 16,
  modelChannels: 32,
  numResBlocks: 1,
  channelMult: [1, 1],
  attentionResolutions: [2],
  numHeadChannels: 32,
  numClasses: null,
};

describe('trainingObjective: the objective of model.config.variant', () => {
  it('pDDPM → box-wise with the model patch size, DDPM → DiffusionObjective', () => {
    const p = new CDDPM({ variant: 'pDDPM', unet: tinyUNet, patchSize: 8 });
    const d = new CDDPM({ variant: 'DDPM', unet: tinyUNet });
    const po = trainingObjective(p);
    expect(po).toBeInstanceOf(PatchedDiffusionObjective);
    expect((po as PatchedDiffusionObjective).config.patchSize).toBe(8);
    expect(trainingObjective(d).className).toBe('DiffusionObjective');
    expect(() => patchedObjective(d)).toThrow(ArgumentError);
    p.dispose();
    d.dispose();
  });
});

// wasm only: the trainer's wasm kernels make this much faster than the cpu backend.
describeBackends(
  'tiny end-to-end: createTrainer trains pDDPM box-wise, then detectPatched',
  () => {
    it('moves the UNet, is leak-free, and detection afterwards works', async () => {
      const model = new CDDPM({ variant: 'pDDPM', unet: tinyUNet, patchSize: 8 }, { seed: 2 });
      const rng = new SeededRNG(5);
      const volumes = await Promise.all(
        [0, 1, 2, 3].map(async () => {
          const t = rng.rand([2, 16, 16]);
          const data = (await t.data()) as Float32Array;
          t.dispose();
          return { data, shape: [2, 16, 16] };
        }),
      );
      const before = await Promise.all(model.trainableVariables().map(async (v) => Float32Array.from(await v.data())));
      const trainer = createTrainer(model, { optimizer: { lr: 1e-3 }, seed: 1, augment: null });
      expect(trainer.objective.className).toBe('PatchedDiffusionObjective');
      const n0 = tf.memory().numTensors;
      const result = await trainer.fit({ data: randomSliceBatches(volumes, { batchSize: 2 }), steps: 3 });
      expect(tf.memory().numTensors).toBe(n0);
      expect(result.step).toBe(3);
      expect(Number.isFinite(trainer.lastLoss)).toBe(true);
      const after = await Promise.all(model.trainableVariables().map(async (v) => Float32Array.from(await v.data())));
      expect(before.filter((b, i) => b.some((x, j) => x !== after[i]![j])).length).toBeGreaterThan(before.length / 2);
      trainer.dispose();
      const det = await expectNoLeaks(() => detectPatched(model, volumes[0]!, { postprocess: false }));
      expect(det.reconstruction.shape).toEqual([2, 16, 16]);
      model.dispose();
    });
  },
  ['wasm'],
);
