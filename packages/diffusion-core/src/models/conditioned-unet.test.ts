import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeBackends, expectClose, expectNoLeaks } from '@adx/test-utils';
import { ArgumentError, ConfigError } from '../errors.js';
import { SeededRNG } from '../random/rng.js';
import { loadStateDict } from '../weights/state-dict.js';
import { ConditionedUNetModel } from './conditioned-unet.js';
import { entry, loadFixture, nchwData, nhwc, numbers } from './__tests__/parity.js';

const fx = loadFixture('cddpm_unet');

/** config.json `constructor_kwargs`, camelCased (`dims` → `spatialDims`). */
const cddpmConfig = {
  imageSize: [32, 32] as [number, number],
  inChannels: 1,
  modelChannels: 32,
  outChannels: 1,
  numResBlocks: 1,
  attentionResolutions: [3, 6, 12],
  dropout: 0,
  channelMult: [1, 2, 2],
  convResample: true,
  spatialDims: 2 as const,
  numClasses: 64,
  useCheckpoint: false,
  useFp16: true,
  numHeads: 1,
  numHeadChannels: 32,
  numHeadsUpsample: -1,
  useScaleShiftNorm: true,
  resblockUpdown: true,
  useNewAttentionOrder: true,
  useSpatialTransformer: false as const,
  transformerDepth: 1,
};

describe('ConditionedUNetModel config', () => {
  it('official parameter count, exact key set, config round-trip', () => {
    expect(fx.config.constructor_kwargs.num_classes).toBe(64);
    const m = ConditionedUNetModel.fromConfig(cddpmConfig, { seed: 2 });
    expect(m.numParameters()).toBe(fx.config.param_count);
    expect([...m.namedParameters().keys()].sort()).toEqual([...fx.weights.keys()].sort());
    const c = m.toConfig();
    expect(c.className).toBe('ConditionedUNetModel');
    const m2 = ConditionedUNetModel.fromConfig(JSON.parse(JSON.stringify(c)));
    expect(m2.toConfig()).toEqual(c);
    m.dispose();
    m2.dispose();
  });

  it('rejects unknown keys, the spatial transformer and 3D', () => {
    expect(() => ConditionedUNetModel.fromConfig({ ...cddpmConfig, contextDim: 8 })).toThrow(ConfigError);
    expect(() => ConditionedUNetModel.fromConfig({ ...cddpmConfig, useSpatialTransformer: true })).toThrow(ConfigError);
    expect(() => ConditionedUNetModel.fromConfig({ ...cddpmConfig, spatialDims: 3 })).toThrow(/not yet supported/);
  });
});

describeBackends('ConditionedUNetModel parity (cddpm_unet)', () => {
  let model: ConditionedUNetModel;
  beforeAll(() => {
    model = ConditionedUNetModel.fromConfig(cddpmConfig);
    loadStateDict(model, fx.weights);
  });
  afterAll(() => model.dispose());

  it('x̂₀ output with the concatenated condition embedding (≤ 1e-4)', async () => {
    const x = nhwc(entry(fx.io, 'x'));
    const c = entry(fx.io, 'cond');
    const cond = tf.tensor2d(c.data as Float32Array, c.shape as [number, number]);
    await expectNoLeaks(async () => {
      const y = model.apply(x, numbers(entry(fx.io, 'timesteps')), { condition: cond });
      expect(y.shape).toEqual([2, 32, 32, 1]);
      expectClose(await nchwData(y), entry(fx.io, 'output').data as Float32Array, 1e-4, 'output');
      y.dispose();
    });
    tf.dispose([x, cond]);
  });

  it('a single timestep broadcasts like one per sample', async () => {
    const x = nhwc(entry(fx.io, 'x'));
    const c = entry(fx.io, 'cond');
    const cond = tf.tensor2d(c.data as Float32Array, c.shape as [number, number]);
    const a = model.apply(x, 249, { condition: cond });
    const b = model.apply(x, [249, 249], { condition: cond });
    expectClose(await a.data(), await b.data(), 1e-5, 'broadcast');
    tf.dispose([x, cond, a, b]);
  });

  it('missing or mis-shaped condition → ArgumentError; dropout only in training mode', async () => {
    const x = tf.zeros([2, 32, 32, 1]) as tf.Tensor4D;
    expect(() => model.apply(x, [1, 2])).toThrow(/cond.condition/);
    const bad = tf.zeros([2, 63]) as tf.Tensor2D;
    expect(() => model.apply(x, [1, 2], { condition: bad })).toThrow(ArgumentError);
    bad.dispose();
    x.dispose();
  });
});

describeBackends('ConditionedUNetModel dropout', () => {
  it('is seeded in training mode and off in eval mode', async () => {
    const m = ConditionedUNetModel.fromConfig(
      { ...cddpmConfig, imageSize: 8, modelChannels: 32, channelMult: [1, 1], numClasses: 4, dropout: 0.5 },
      { seed: 7 },
    );
    // make the zero-initialised output conv non-zero so that dropout is visible in the output
    for (const [k, p] of m.namedParameters())
      if (k.includes('out_layers.3') || k.startsWith('out.2'))
        tf.tidy(() => p.variable.assign(tf.onesLike(p.variable)));
    const x = new SeededRNG(3).rand([1, 8, 8, 1]) as tf.Tensor4D;
    const cond = tf.ones([1, 4]) as tf.Tensor2D;
    const run = async (options?: { training: boolean; rng: SeededRNG }) => {
      const y = m.apply(x, 5, { condition: cond }, options);
      const d = await y.data();
      y.dispose();
      return d;
    };
    await expectNoLeaks(async () => {
      const e1 = await run();
      const e2 = await run({ training: false, rng: new SeededRNG(1) });
      expect(Array.from(e1)).toEqual(Array.from(e2));
      const t1 = await run({ training: true, rng: new SeededRNG(1) });
      const t2 = await run({ training: true, rng: new SeededRNG(1) });
      const t3 = await run({ training: true, rng: new SeededRNG(2) });
      expect(Array.from(t1)).toEqual(Array.from(t2));
      expect(Array.from(t1)).not.toEqual(Array.from(t3));
      expect(Array.from(t1)).not.toEqual(Array.from(e1));
      expect(() => m.apply(x, 5, { condition: cond }, { training: true })).toThrow(/rng/);
    });
    tf.dispose([x, cond]);
    m.dispose();
  });
});
