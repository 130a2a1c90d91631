import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { expectNoLeaks, setTestBackend } from '@adx/test-utils';
import { SeededRNG } from '../random/rng.js';
import { registerTrainingGradients } from '../training/gradients.js';
import type { Module } from '../nn/module.js';
import { ConditionedUNetModel } from './conditioned-unet.js';
import { DiffusionModelUNet } from './monai-unet.js';
import { EncoderUNetModel, UNetModel } from './openai-unet.js';

// What users must do in Node: tfjs-core's Node build registers no gradient functions.
registerTrainingGradients();

/**
 * Training needs a gradient for every trainable parameter (except THOR's never-applied proj_attn).
 * Runs on cpu only: wasm lacks Conv2DBackpropFilter, which the training module registers.
 */
async function expectAllGradients(model: Module, loss: () => tf.Scalar, unused: RegExp | null = null): Promise<void> {
  const named = model.namedParameters();
  const vars = [...named.values()].map((p) => p.variable);
  await expectNoLeaks(async () => {
    const { value, grads } = tf.variableGrads(loss, vars);
    for (const [key, p] of named) {
      const g = grads[p.variable.name];
      if (unused?.test(key)) expect(g, key).toBeUndefined();
      else expect(g, `gradient of ${key}`).toBeDefined();
    }
    const sq = tf.tidy(() => tf.addN(Object.values(grads).map((g) => tf.sum(tf.square(g)))));
    expect(Number.isFinite((await sq.data())[0])).toBe(true);
    tf.dispose([value, sq, ...Object.values(grads)]);
  });
}

describe('parameter gradients (cpu)', () => {
  const rng = new SeededRNG(11);
  const x = () => rng.randn([2, 8, 8, 1]) as tf.Tensor4D;

  it('DiffusionModelUNet (incl. resblock up/down): all but proj_attn', async () => {
    await setTestBackend('cpu');
    const m = DiffusionModelUNet.fromConfig(
      {
        inChannels: 1,
        outChannels: 1,
        numChannels: [32, 32],
        attentionLevels: [false, true],
        numResBlocks: 1,
        numHeadChannels: 16,
        resblockUpdown: true,
      },
      { seed: 1 },
    );
    const xi = x();
    await expectAllGradients(m, () => tf.mean(tf.square(m.apply(xi, [3, 500]))) as tf.Scalar, /proj_attn/);
    xi.dispose();
    m.dispose();
  });

  it('UNetModel (class-conditional, scale-shift, new order) and ConditionedUNetModel', async () => {
    await setTestBackend('cpu');
    const body = {
      imageSize: 8,
      inChannels: 1,
      modelChannels: 32,
      numResBlocks: 1,
      attentionResolutions: [2],
      channelMult: [1, 1],
      numHeadChannels: 16,
      useScaleShiftNorm: true,
      useNewAttentionOrder: true,
      dropout: 0.1,
    };
    const xi = x();
    const u = UNetModel.fromConfig({ ...body, outChannels: 2, numClasses: 3 }, { seed: 2 });
    await expectAllGradients(
      u,
      () =>
        tf.mean(
          tf.square(u.apply(xi, [1, 2], { classLabels: [0, 2] }, { training: true, rng: new SeededRNG(1) })),
        ) as tf.Scalar,
    );
    u.dispose();
    const c = ConditionedUNetModel.fromConfig(
      { ...body, outChannels: 1, numClasses: 5, resblockUpdown: true },
      { seed: 3 },
    );
    const cond = rng.randn([2, 5]) as tf.Tensor2D;
    await expectAllGradients(c, () => tf.mean(tf.abs(c.apply(xi, [1, 2], { condition: cond }))) as tf.Scalar);
    c.dispose();
    const e = EncoderUNetModel.fromConfig({ ...body, outChannels: 2, pool: 'attention' }, { seed: 4 });
    await expectAllGradients(e, () => tf.sum(tf.logSumExp(e.apply(xi, [1, 2]), 1)) as tf.Scalar);
    e.dispose();
    tf.dispose([xi, cond]);
  });
});
