import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeBackends, expectClose, expectNoLeaks } from '@adx/test-utils';
import { SeededRNG } from '../random/rng.js';
import { ArgumentError, ConfigError } from '../errors.js';
import { loadStateDict } from '../weights/state-dict.js';
import { DiffusionModelUNet } from './monai-unet.js';
import { entry, loadFixture, nchwData, nhwc, numbers } from './__tests__/parity.js';

const fx = loadFixture('thor_unet');
// constructor kwargs of the fixture (config.json), camelCased
const thorConfig = {
  spatialDims: 2 as const,
  inChannels: 1,
  outChannels: 1,
  numChannels: [32, 64, 64],
  attentionLevels: [false, true, true],
  numResBlocks: 1,
  numHeadChannels: 64,
  normNumGroups: 32,
};

describe('DiffusionModelUNet config', () => {
  it('matches the official parameter count (incl. the unused proj_attn) and round-trips its config', () => {
    const m = DiffusionModelUNet.fromConfig(thorConfig, { seed: 1 });
    expect(fx.config.constructor_kwargs.num_channels).toEqual(thorConfig.numChannels);
    expect(m.numParameters()).toBe(fx.config.param_count);
    // every official key is a parameter and vice versa
    expect([...m.namedParameters().keys()].sort()).toEqual([...fx.weights.keys()].sort());
    const c = m.toConfig();
    expect(c.className).toBe('DiffusionModelUNet');
    expect(c.normEps).toBe(1e-6);
    const m2 = DiffusionModelUNet.fromConfig(JSON.parse(JSON.stringify(c)));
    expect(m2.toConfig()).toEqual(c);
    expect(m2.numParameters()).toBe(m.numParameters());
    m.dispose();
    m2.dispose();
  });

  it('seeded init is reproducible and zero-initialises conv2 and the output conv', async () => {
    const a = DiffusionModelUNet.fromConfig(thorConfig, { seed: 5 });
    const b = DiffusionModelUNet.fromConfig(thorConfig, { seed: 5 });
    const pa = a.namedParameters();
    const pb = b.namedParameters();
    const key = 'down_blocks.1.attentions.0.to_q.weight';
    expect(Array.from(await pa.get(key)!.variable.data())).toEqual(Array.from(await pb.get(key)!.variable.data()));
    for (const z of ['out.2.conv.weight', 'out.2.conv.bias', 'up_blocks.0.resnets.1.conv2.conv.weight']) {
      expect((await pa.get(z)!.variable.data()).every((v) => v === 0)).toBe(true);
    }
    // PyTorch default init: U(±1/√fanIn), fanIn = 64 for to_q
    const q = await pa.get(key)!.variable.data();
    expect(q.every((v) => Math.abs(v) <= 1 / 8)).toBe(true);
    expect(q.some((v) => v !== 0)).toBe(true);
    a.dispose();
    b.dispose();
  });

  it('rejects unknown keys, bad values and 3D with ConfigError', () => {
    expect(() => DiffusionModelUNet.fromConfig({ ...thorConfig, numChanels: [32] })).toThrow(ConfigError);
    expect(() => DiffusionModelUNet.fromConfig({ ...thorConfig, spatialDims: 3 })).toThrow(/not yet supported/);
    expect(() => DiffusionModelUNet.fromConfig({ ...thorConfig, numChannels: [32, 48, 64] })).toThrow(ConfigError);
    expect(() => DiffusionModelUNet.fromConfig({ ...thorConfig, attentionLevels: [true] })).toThrow(ConfigError);
    expect(() => DiffusionModelUNet.fromConfig({ ...thorConfig, withConditioning: true })).toThrow(ConfigError);
  });
});

describeBackends('DiffusionModelUNet parity (thor_unet)', () => {
  let model: DiffusionModelUNet;
  let model32: DiffusionModelUNet;
  beforeAll(() => {
    model = DiffusionModelUNet.fromConfig(thorConfig);
    model32 = DiffusionModelUNet.fromConfig({ ...thorConfig, numHeadChannels: 32 });
    loadStateDict(model, fx.weights);
    loadStateDict(model32, fx.weights);
  });
  afterAll(() => {
    model.dispose();
    model32.dispose();
  });

  it('output matches the official forward (≤ 1e-4)', async () => {
    const x = nhwc(entry(fx.io, 'x'));
    const ts = numbers(entry(fx.io, 'timesteps'));
    await expectNoLeaks(async () => {
      const y = model.apply(x, ts);
      expect(y.shape).toEqual([2, 32, 32, 1]);
      expectClose(await nchwData(y), entry(fx.io, 'output').data as Float32Array, 1e-4, 'output');
      y.dispose();
    });
    x.dispose();
  });

  it('shape-[1] float tensor timestep broadcasts over the batch (output_broadcast)', async () => {
    const x = nhwc(entry(fx.io, 'x'));
    const t = tf.tensor1d(Array.from(entry(fx.io, 'timesteps_broadcast').data as Float32Array));
    await expectNoLeaks(async () => {
      const y = model.apply(x, t);
      expectClose(await nchwData(y), entry(fx.io, 'output_broadcast').data as Float32Array, 1e-4, 'broadcast');
      y.dispose();
    });
    tf.dispose([x, t]);
  });

  it('2 heads per block (output_num_head_channels_32)', async () => {
    const x = nhwc(entry(fx.io, 'x'));
    const y = model32.apply(x, numbers(entry(fx.io, 'timesteps')));
    expectClose(await nchwData(y), entry(fx.io, 'output_num_head_channels_32').data as Float32Array, 1e-4, 'heads32');
    tf.dispose([x, y]);
  });

  it('throws ArgumentError for bad inputs and leaks nothing on repeated forwards', async () => {
    const x = tf.zeros([1, 16, 16, 1]) as tf.Tensor4D;
    expect(() => model.apply(tf.zeros([16, 16, 1]) as unknown as tf.Tensor4D, 1)).toThrow(ArgumentError);
    expect(() => model.apply(tf.zeros([1, 16, 16, 2]) as tf.Tensor4D, 1)).toThrow(/channels/);
    expect(() => model.apply(x, 1000)).toThrow(/timesteps/);
    expect(() => model.apply(x, -1)).toThrow(ArgumentError);
    expect(() => model.apply(x, [1, 2, 3])).toThrow(/timesteps/);
    expect(() => model.apply(tf.zeros([1, 18, 18, 1]) as tf.Tensor4D, 1)).toThrow(/divisible/);
    await expectNoLeaks(async () => {
      for (let i = 0; i < 2; i++) model.apply(x, [5]).dispose();
    });
    x.dispose();
  });
});

describeBackends('DiffusionModelUNet variants', () => {
  it('resblockUpdown and class embeddings build, run and need class labels', async () => {
    const m = DiffusionModelUNet.fromConfig(
      {
        inChannels: 2,
        outChannels: 3,
        numChannels: [32, 32],
        attentionLevels: [false, true],
        numResBlocks: [1, 1],
        numHeadChannels: [32, 16],
        resblockUpdown: true,
        numClassEmbeds: 3,
      },
      { seed: 4 },
    );
    const keys = [...m.namedParameters().keys()];
    expect(keys).toContain('down_blocks.0.downsampler.norm1.weight');
    expect(keys).toContain('up_blocks.0.upsampler.conv2.conv.weight');
    expect(keys).toContain('class_embedding.weight');
    const x = new SeededRNG(2).randn([2, 8, 8, 2]) as tf.Tensor4D;
    await expectNoLeaks(async () => {
      const y = m.apply(x, [3, 4], { classLabels: [0, 2] });
      expect(y.shape).toEqual([2, 8, 8, 3]);
      y.dispose();
    });
    expect(() => m.apply(x, [3, 4])).toThrow(/classLabels/);
    expect(() => m.apply(x, [3, 4], { classLabels: [0, 3] })).toThrow(ArgumentError);
    x.dispose();
    m.dispose();
  });
});
