import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import { describeBackends } from '@adx/test-utils';
import { EncoderUNetModel, InMemoryDataset, SeededRNG, UNetModel } from '@adx/diffusion-core';
import { noisyClassifierTrainer, wollebDiffusionTrainer } from './training.js';
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
