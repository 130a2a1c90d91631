import * as tf from '@tensorflow/tfjs-core';
// tfjs-core's Node entry registers no gradients; the guidance packages register them at start-up.
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeBackends, expectClose, expectNoLeaks } from '@adx/test-utils';
import { SeededRNG } from '../random/rng.js';
import { ArgumentError, ConfigError } from '../errors.js';
import { loadStateDict } from '../weights/state-dict.js';
import { EncoderUNetModel, UNetModel } from './openai-unet.js';
import { entry, loadFixture, loadFixtureFile, nchwData, nhwc, numbers } from './__tests__/parity.js';

const unetFx = loadFixture('guided_unet');
const clsFx = loadFixture('guided_classifier');

/** The fixtures' constructor kwargs, camelCased (config.json `constructor_kwargs`). */
const unetConfig = {
  imageSize: 32,
  inChannels: 1,
  modelChannels: 32,
  outChannels: 2,
  numResBlocks: 2,
  attentionResolutions: [4],
  dropout: 0,
  channelMult: [1, 2, 2],
  numClasses: 2,
  useCheckpoint: false,
  useFp16: false,
  numHeads: 1,
  numHeadChannels: -1,
  numHeadsUpsample: -1,
  useScaleShiftNorm: false,
  resblockUpdown: false,
  useNewAttentionOrder: false,
};
const clsConfig = {
  imageSize: 32,
  inChannels: 1,
  modelChannels: 32,
  outChannels: 2,
  numResBlocks: 2,
  attentionResolutions: [4],
  channelMult: [1, 2, 2],
  useFp16: false,
  numHeadChannels: 32,
  useScaleShiftNorm: true,
  resblockUpdown: true,
  pool: 'attention' as const,
};

describe('guided-diffusion configs', () => {
  it('UNetModel: official parameter count, exact key set, config round-trip', () => {
    const kw = unetFx.config.constructor_kwargs;
    expect([kw.model_channels, kw.num_res_blocks, kw.num_classes]).toEqual([32, 2, 2]);
    const m = UNetModel.fromConfig(unetConfig, { seed: 3 });
    expect(m.numParameters()).toBe(unetFx.config.param_count);
    expect([...m.namedParameters().keys()].sort()).toEqual([...unetFx.weights.keys()].sort());
    const c = m.toConfig();
    expect(c.className).toBe('UNetModel');
    const m2 = UNetModel.fromConfig(JSON.parse(JSON.stringify(c)));
    expect(m2.toConfig()).toEqual(c);
    m.dispose();
    m2.dispose();
  });

  it('EncoderUNetModel: official parameter count, exact key set, config round-trip', () => {
    const m = EncoderUNetModel.fromConfig(clsConfig, { seed: 3 });
    expect(m.numParameters()).toBe(clsFx.config.param_count);
    expect([...m.namedParameters().keys()].sort()).toEqual([...clsFx.weights.keys()].sort());
    const m2 = EncoderUNetModel.fromConfig(JSON.parse(JSON.stringify(m.toConfig())));
    expect(m2.toConfig()).toEqual(m.toConfig());
    expect(m2.toConfig().className).toBe('EncoderUNetModel');
    m.dispose();
    m2.dispose();
  });

  it('rejects unknown keys and unsupported values with ConfigError', () => {
    expect(() => UNetModel.fromConfig({ ...unetConfig, learnSigma: true })).toThrow(ConfigError);
    expect(() => UNetModel.fromConfig({ ...unetConfig, spatialDims: 3 })).toThrow(/not yet supported/);
    expect(() => UNetModel.fromConfig({ ...unetConfig, channelMult: [1, 1.5] })).toThrow(ConfigError);
    expect(() => UNetModel.fromConfig({ ...unetConfig, numHeadChannels: 24 })).toThrow(ConfigError);
    const { modelChannels: _m, ...missing } = unetConfig;
    expect(() => UNetModel.fromConfig(missing)).toThrow(/modelChannels/);
    expect(() => EncoderUNetModel.fromConfig({ ...clsConfig, pool: 'spatial' })).toThrow(ConfigError);
    expect(() => EncoderUNetModel.fromConfig({ ...clsConfig, numHeadChannels: -1 })).toThrow(ConfigError);
  });

  it("EncoderUNetModel pool 'adaptive': zero-init 1×1 conv head (out.3) gives zero logits at init", async () => {
    const m = EncoderUNetModel.fromConfig({ ...clsConfig, pool: 'adaptive', imageSize: 16 }, { seed: 2 });
    expect([...m.namedParameters().keys()]).toContain('out.3.weight');
    const x = new SeededRNG(1).randn([2, 16, 16, 1]) as tf.Tensor4D;
    await expectNoLeaks(async () => {
      const logits = m.apply(x, [3, 900]);
      expect(logits.shape).toEqual([2, 2]);
      expect(Array.from(await logits.data())).toEqual([0, 0, 0, 0]);
      logits.dispose();
    });
    x.dispose();
    m.dispose();
  });

  it('zero-initialises proj_out, out_layers.3 and out.2 like upstream', async () => {
    const m = UNetModel.fromConfig(unetConfig, { seed: 1 });
    const p = m.namedParameters();
    for (const k of ['out.2.weight', 'input_blocks.7.1.proj_out.weight', 'middle_block.0.out_layers.3.weight']) {
      expect((await p.get(k)!.variable.data()).every((v) => v === 0)).toBe(true);
    }
    expect((await p.get('input_blocks.7.1.qkv.weight')!.variable.data()).some((v) => v !== 0)).toBe(true);
    m.dispose();
  });
});

describeBackends('UNetModel parity (guided_unet)', () => {
  let model: UNetModel;
  beforeAll(() => {
    model = UNetModel.fromConfig(unetConfig);
    loadStateDict(model, unetFx.weights);
  });
  afterAll(() => model.dispose());

  it('class-conditional learned-sigma output (≤ 1e-4)', async () => {
    const x = nhwc(entry(unetFx.io, 'x'));
    await expectNoLeaks(async () => {
      const y = model.apply(x, numbers(entry(unetFx.io, 'timesteps')), {
        classLabels: numbers(entry(unetFx.io, 'y')),
      });
      expect(y.shape).toEqual([2, 32, 32, 2]);
      expectClose(await nchwData(y), entry(unetFx.io, 'output').data as Float32Array, 1e-4, 'output');
      y.dispose();
    });
    x.dispose();
  });

  it('4-channel BRATS variant (weights_in4_delta) (≤ 1e-4)', async () => {
    const m4 = UNetModel.fromConfig({ ...unetConfig, inChannels: 4, outChannels: 8 });
    const weights = new Map(unetFx.weights);
    for (const [k, v] of loadFixtureFile('guided_unet', 'weights_in4_delta.safetensors')) weights.set(k, v);
    loadStateDict(m4, weights);
    const x = nhwc(entry(unetFx.io, 'x_in4'));
    const labels = tf.tensor1d(numbers(entry(unetFx.io, 'y')), 'int32');
    const y = m4.apply(x, tf.tensor1d(numbers(entry(unetFx.io, 'timesteps'))), { classLabels: labels });
    expectClose(await nchwData(y), entry(unetFx.io, 'output_in4').data as Float32Array, 1e-4, 'output_in4');
    tf.dispose([x, y, labels]);
    m4.dispose();
  });

  it('argument errors: missing class labels, channel mismatch, bad timesteps', () => {
    const x = tf.zeros([2, 32, 32, 1]) as tf.Tensor4D;
    expect(() => model.apply(x, [1, 2])).toThrow(/classLabels/);
    expect(() => model.apply(x, [1, 2], { classLabels: [0, 2] })).toThrow(ArgumentError);
    expect(() => model.apply(x, [1, 2], { classLabels: [0] })).toThrow(ArgumentError);
    expect(() => model.apply(tf.zeros([2, 32, 32, 3]) as tf.Tensor4D, 1, { classLabels: [0, 1] })).toThrow(/channels/);
    expect(() => model.apply(x, 1e4, { classLabels: [0, 1] })).toThrow(/timesteps/);
    expect(() => model.apply(x, Number.NaN, { classLabels: [0, 1] })).toThrow(/timesteps/);
    x.dispose();
  });
});

describeBackends('EncoderUNetModel parity (guided_classifier)', () => {
  let clf: EncoderUNetModel;
  beforeAll(() => {
    clf = EncoderUNetModel.fromConfig(clsConfig);
    loadStateDict(clf, clsFx.weights);
  });
  afterAll(() => clf.dispose());

  it('logits (≤ 1e-5)', async () => {
    const x = nhwc(entry(clsFx.io, 'x'));
    await expectNoLeaks(async () => {
      const logits = clf.apply(x, numbers(entry(clsFx.io, 'timesteps')));
      expect(logits.shape).toEqual([2, 2]);
      expectClose(await logits.data(), entry(clsFx.io, 'logits').data as Float32Array, 1e-5, 'logits');
      logits.dispose();
    });
    x.dispose();
  });

  it('guidance gradient ∂/∂x Σ_b log_softmax(logits)[b, k] via tf.grad (≤ 1e-6)', async () => {
    const x = nhwc(entry(clsFx.io, 'x'));
    const ts = numbers(entry(clsFx.io, 'timesteps'));
    for (const k of [0, 1]) {
      await expectNoLeaks(async () => {
        // log_softmax = logits − logsumexp(logits) (tf.logSoftmax's custom gradient trips wasm's leak check)
        const g = tf.grad((xx: tf.Tensor) => {
          const logits = clf.apply(xx as tf.Tensor4D, ts);
          const logp = tf.sub(logits, tf.logSumExp(logits, 1, true));
          return tf.sum(tf.slice(logp, [0, k], [-1, 1]));
        })(x) as tf.Tensor4D;
        expectClose(
          await nchwData(g),
          entry(clsFx.io, `grad_log_softmax_class${k}`).data as Float32Array,
          1e-6,
          `grad${k}`,
        );
        g.dispose();
      });
    }
    x.dispose();
  });

  it('argument errors: wrong image size for the attention pool, wrong rank', () => {
    expect(() => clf.apply(tf.zeros([1, 16, 16, 1]) as tf.Tensor4D, 1)).toThrow(ArgumentError);
    expect(() => clf.apply(tf.zeros([1, 32, 32]) as unknown as tf.Tensor4D, 1)).toThrow(/rank-4/);
  });
});
