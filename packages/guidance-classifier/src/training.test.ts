import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { describeBackends, expectNoLeaks } from '@adx/test-utils';
import {
  ArgumentError,
  ClassifierObjective,
  ConfigError,
  DDPMScheduler,
  EncoderUNetModel,
  InMemoryDataset,
  SeededRNG,
  UNetModel,
} from '@adx/diffusion-core';
import {
  NoisyClassifierObjective,
  classifierAccuracyByTimestep,
  noisyClassifierTrainer,
  wollebDiffusionTrainer,
} from './training.js';
import { detectWithClassifierGuidance } from './wolleb.js';

const body = {
  imageSize: 8,
  inChannels: 1,
  modelChannels: 32,
  numResBlocks: 1,
  attentionResolutions: [2],
  channelMult: [1, 1],
};
const data = () =>
  new InMemoryDataset(
    { data: new SeededRNG(1).uniformArray(4 * 64), shape: [4, 8, 8, 1] },
    { batchSize: 2, labels: [0, 1, 1, 0] },
  );

describeBackends(
  'training with the official hyperparameters',
  () => {
    it('UNet (hybrid loss, AdamW, EMA) and noisy classifier (CE on x_t) train, and the result runs detection', async () => {
      const unet = UNetModel.fromConfig({ ...body, outChannels: 2, numClasses: 2 }, { seed: 1 });
      const clf = EncoderUNetModel.fromConfig(
        {
          ...body,
          outChannels: 2,
          numHeadChannels: 32,
          useScaleShiftNorm: true,
          resblockUpdown: true,
          pool: 'attention',
        },
        { seed: 2 },
      );
      const snapshot = () => Promise.all(unet.trainableVariables().map(async (v) => Array.from(await v.data())));
      const before = await snapshot();
      const ut = wollebDiffusionTrainer(unet, { seed: 1 });
      expect(ut.config.optimizer).toMatchObject({ type: 'adamw', lr: 1e-4, weightDecay: 0 });
      expect(ut.config.ema).toMatchObject({ decay: 0.9999 });
      const ru = await ut.fit({ data: data(), steps: 2 });
      expect(ru.step).toBe(2);
      expect(Number.isFinite(ru.loss)).toBe(true);
      const after = await snapshot();
      // some weights moved (the zero-initialised output layers first, upstream `zero_module`)
      expect(after.some((a, i) => a.some((v, k) => v !== before[i]![k]))).toBe(true);
      const ct = noisyClassifierTrainer(clf, { seed: 2, classWeights: [3, 1] });
      expect(ct.config.ema).toBeNull();
      const rc = await ct.fit({ data: data(), steps: 2 });
      // logits start near 0, so the cross-entropy is near ln 2
      expect(rc.loss).toBeGreaterThan(0.3);
      expect(rc.loss).toBeLessThan(1.5);
      const x = new SeededRNG(3).rand([1, 8, 8, 1]) as tf.Tensor4D;
      const r = await detectWithClassifierGuidance(unet, clf, x, {
        noiseLevel: 2,
        classifierScale: 5,
        timestepRespacing: 'ddim100',
      });
      expect(Number.isFinite(r.score[0])).toBe(true);
      tf.dispose([x, r.anomalyMap, r.healthy]);
      ut.dispose();
      ct.dispose();
      unet.dispose();
      clf.dispose();
    });
  },
  ['wasm'],
);

describe('NoisyClassifierObjective and classifierAccuracyByTimestep', () => {
  /** A stand-in classifier: logits [0, 8·(mean(x) − 0.5)] (bright → class 1); records the timesteps it saw. */
  const stub = (seen: number[]) =>
    ({
      numClasses: 2,
      apply: (x: tf.Tensor4D, t: ArrayLike<number> | number) => {
        seen.push(...(typeof t === 'number' ? [t] : Array.from(t)));
        return tf.tidy(() => {
          const m = tf.mul(tf.sub(tf.mean(x, [1, 2, 3]), 0.5), 8);
          return tf.stack([tf.zerosLike(m), m], 1) as tf.Tensor2D;
        });
      },
    }) as unknown as EncoderUNetModel;

  it('draws t < maxTimestep, CE of zero logits is ln 2, rejects bad settings', async () => {
    const seen: number[] = [];
    const zero = {
      numClasses: 2,
      apply: (x: tf.Tensor4D, t: ArrayLike<number>) => {
        seen.push(...Array.from(t));
        return tf.zeros([x.shape[0], 2]) as tf.Tensor2D;
      },
    } as unknown as EncoderUNetModel;
    const sched = DDPMScheduler.fromPreset('wolleb');
    const obj = new NoisyClassifierObjective(zero, sched, { maxTimestep: 7, classWeights: null });
    const image = tf.ones([16, 4, 4, 1]) as tf.Tensor4D;
    const label = tf.tensor1d(
      new Array(16).fill(0).map((_, i) => i % 2),
      'int32',
    );
    const rng = new SeededRNG(1);
    await expectNoLeaks(async () => {
      const l = obj.loss({ image, label }, { rng, dropoutRng: rng.fork() });
      expect((await l.data())[0]).toBeCloseTo(Math.LN2, 6);
      l.dispose();
    });
    expect(seen).toHaveLength(16);
    expect(seen.every((t) => Number.isInteger(t) && t >= 0 && t < 7)).toBe(true);
    expect(new Set(seen).size).toBeGreaterThan(1);
    expect(() => new NoisyClassifierObjective(zero, sched, { maxTimestep: 0, classWeights: null })).toThrow(
      ConfigError,
    );
    expect(() => new NoisyClassifierObjective(zero, sched, { maxTimestep: 1001, classWeights: null })).toThrow(
      ConfigError,
    );
    expect(() => new NoisyClassifierObjective(zero, sched, { maxTimestep: 5, classWeights: [1] })).toThrow(ConfigError);
    // the trainer uses the restricted objective only when asked
    const clf = EncoderUNetModel.fromConfig(
      {
        ...body,
        outChannels: 2,
        numHeadChannels: 32,
        useScaleShiftNorm: true,
        resblockUpdown: true,
        pool: 'attention',
      },
      { seed: 2 },
    );
    const restricted = noisyClassifierTrainer(clf, { maxTimestep: 300 });
    const official = noisyClassifierTrainer(clf);
    expect(restricted.objective).toBeInstanceOf(NoisyClassifierObjective);
    expect(official.objective).toBeInstanceOf(ClassifierObjective);
    restricted.dispose();
    official.dispose();
    clf.dispose();
    tf.dispose([image, label]);
  });

  it('per-bucket accuracy: separable at small t; balanced accuracy of a constant classifier is 1/2', async () => {
    // 6 dark (label 0) and 2 bright (label 1) images
    const labels = [0, 0, 0, 0, 0, 0, 1, 1];
    const data = new Float32Array(8 * 16);
    labels.forEach((y, i) => data.fill(y, i * 16, (i + 1) * 16));
    const images = tf.tensor4d(data, [8, 4, 4, 1]);
    const seen: number[] = [];
    await expectNoLeaks(async () => {
      const acc = await classifierAccuracyByTimestep(stub(seen), images, labels, {
        buckets: [0, 5, 10],
        perBucket: 3,
        batchSize: 3,
      });
      expect(acc.map((a) => [a.from, a.to, a.count])).toEqual([
        [0, 5, 24],
        [5, 10, 24],
      ]);
      // at t < 10 the noise std is ≤ 0.04: mean(x) stays on its side of 0.5
      for (const a of acc) {
        expect(a.accuracy).toBe(1);
        expect(a.balancedAccuracy).toBe(1);
      }
    });
    expect(seen.slice(0, 24).every((t) => t >= 0 && t < 5)).toBe(true);
    expect(seen.slice(24).every((t) => t >= 5 && t < 10)).toBe(true);
    const constant = {
      numClasses: 2,
      apply: (x: tf.Tensor4D) =>
        tf.tidy(() => tf.stack([tf.ones([x.shape[0]]), tf.zeros([x.shape[0]])], 1) as tf.Tensor2D),
    } as unknown as EncoderUNetModel;
    const [c] = await classifierAccuracyByTimestep(constant, images, labels, { buckets: [0, 1000], perBucket: 1 });
    expect(c!.accuracy).toBe(6 / 8);
    expect(c!.balancedAccuracy).toBe(0.5);
    // CE of logits (1, 0): −log softmax = log(1 + e⁻¹) for class 0, log(1 + e) for class 1
    expect(c!.crossEntropy).toBeCloseTo((6 * Math.log(1 + Math.exp(-1)) + 2 * Math.log(1 + Math.E)) / 8, 5);
    await expect(classifierAccuracyByTimestep(constant, images, [0], {})).rejects.toThrow(ArgumentError);
    await expect(classifierAccuracyByTimestep(constant, images, labels, { buckets: [5, 5] })).rejects.toThrow(
      ArgumentError,
    );
    images.dispose();
  });
});
