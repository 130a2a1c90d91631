import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import { describe, expect, it } from 'vitest';
import { describeBackends, expectClose, expectNoLeaks, readJson, readSafetensorsFile } from '@adx/test-utils';
import { ResNetEncoder, type ResNetEncoderConfig } from './resnet.js';
import { loadStateDict } from '../weights/state-dict.js';
import { ArgumentError, ConfigError } from '../errors.js';
import { SeededRNG } from '../random/rng.js';
import { registerWasmTrainingKernels } from '../training/wasm-kernels.js';

const fx = (p: string) => new URL(`../../test-fixtures/parity/${p}`, import.meta.url);

interface FixtureConfig {
  construction: {
    block: 'BasicBlock' | 'Bottleneck';
    layers: number[];
    stem_width: number;
    stage_planes: number[];
    in_chans: number;
    num_classes: number;
  };
  param_count: number;
}

function fixtureModel(name: string): { model: ResNetEncoder; cfg: FixtureConfig } {
  const cfg = readJson<FixtureConfig>(fx(`${name}/config.json`));
  const c = cfg.construction;
  const model = new ResNetEncoder({
    block: c.block,
    layers: c.layers,
    stemWidth: c.stem_width,
    stagePlanes: c.stage_planes,
    inChannels: c.in_chans,
    outFeatures: c.num_classes,
  });
  const weights = readSafetensorsFile(fx(`${name}/weights.safetensors`));
  const res = loadStateDict(model, weights.tensors, { ignore: ResNetEncoder.ignoredTorchKeys, source: name });
  expect(res.ignored.every((k) => k.endsWith('num_batches_tracked'))).toBe(true);
  return { model, cfg };
}

const nchwToNhwc = (e: { shape: number[]; data: unknown }) =>
  tf.tidy(
    () =>
      tf.transpose(
        tf.tensor4d(e.data as Float32Array, e.shape as [number, number, number, number]),
        [0, 2, 3, 1],
      ) as tf.Tensor4D,
  );

describe('ResNetEncoder config', () => {
  it('builds torchvision ResNet-18/34/50 with torchvision parameter counts', () => {
    // torchvision: resnet18 11,689,512 / resnet34 21,797,672 / resnet50 25,557,032 params at 3→1000.
    for (const [name, n] of [
      ['resnet18', 11689512],
      ['resnet34', 21797672],
      ['resnet50', 25557032],
    ] as const) {
      const m = ResNetEncoder.preset(name, { inChannels: 3, outFeatures: 1000, widthDivisor: 1 }, new SeededRNG(1));
      expect(m.numParameters(), name).toBe(n);
      m.dispose();
    }
  });

  it('round-trips toConfig/fromConfig and rejects unknown keys', () => {
    const m = ResNetEncoder.preset('resnet18', { outFeatures: 16, widthDivisor: 16 });
    const cfg = m.toConfig();
    expect(cfg.className).toBe('ResNetEncoder');
    expect(JSON.parse(JSON.stringify(cfg))).toEqual(cfg);
    const m2 = ResNetEncoder.fromConfig(cfg);
    expect(m2.toConfig()).toEqual(cfg);
    expect([...m2.namedParameters().keys()]).toEqual([...m.namedParameters().keys()]);
    expect(() => ResNetEncoder.fromConfig({ ...cfg, numClasses: 3 })).toThrow(ConfigError);
    expect(() => ResNetEncoder.fromConfig({ ...cfg, stagePlanes: [4, 8] })).toThrow(/stagePlanes/);
    m.dispose();
    m2.dispose();
  });

  it('uses exactly torchvision key names', () => {
    const m = ResNetEncoder.preset('resnet50', { widthDivisor: 16 });
    const keys = [...m.namedParameters().keys()];
    expect(keys.slice(0, 6)).toEqual([
      'conv1.weight',
      'bn1.weight',
      'bn1.bias',
      'bn1.running_mean',
      'bn1.running_var',
      'layer1.0.conv1.weight',
    ]);
    expect(keys).toContain('layer1.0.downsample.0.weight');
    expect(keys).toContain('layer4.2.bn3.running_var');
    expect(keys.slice(-2)).toEqual(['fc.weight', 'fc.bias']);
    m.dispose();
  });

  it('is seeded: same seed, same weights', async () => {
    const a = ResNetEncoder.preset('resnet18', { widthDivisor: 16 }, new SeededRNG(7));
    const b = ResNetEncoder.preset('resnet18', { widthDivisor: 16 }, new SeededRNG(7));
    const wa = await a.namedParameters().get('layer2.0.conv1.weight')!.variable.data();
    const wb = await b.namedParameters().get('layer2.0.conv1.weight')!.variable.data();
    expect(Array.from(wa)).toEqual(Array.from(wb));
    a.dispose();
    b.dispose();
  });
});

describeBackends('ResNetEncoder parity', (backend) => {
  for (const name of ['cddpm_encoder_resnet18', 'cddpm_encoder_resnet50']) {
    it(`${name}: 32² and 96² outputs match torchvision (≤ 1e-5), no leaks`, async () => {
      const { model, cfg } = fixtureModel(name);
      expect(model.numParameters()).toBe(cfg.param_count);
      const io = readSafetensorsFile(fx(`${name}/io.safetensors`));
      for (const [xin, yout] of [
        ['x', 'output'],
        ['x_96', 'output_96'],
      ]) {
        await expectNoLeaks(async () => {
          const x = nchwToNhwc(io.tensors.get(xin)!);
          const y = model.forward(x);
          expect(y.shape).toEqual(io.tensors.get(yout)!.shape);
          expectClose(await y.data(), io.tensors.get(yout)!.data as Float32Array, 1e-5, `${name} ${yout}`);
          tf.dispose([x, y]);
        });
      }
      model.dispose();
    });
  }

  it('training mode uses batch statistics and updates running stats with momentum 0.1', async () => {
    const { model } = fixtureModel('cddpm_encoder_resnet18');
    const io = readSafetensorsFile(fx('cddpm_encoder_resnet18/io.safetensors'));
    const x = nchwToNhwc(io.tensors.get('x')!);
    const params = model.namedParameters();
    const rm0 = Array.from(await params.get('bn1.running_mean')!.variable.data());
    const rv0 = Array.from(await params.get('bn1.running_var')!.variable.data());
    // Independent reference for bn1: the stem conv output's per-channel batch mean / unbiased var.
    const h = tf.conv2d(x, params.get('conv1.weight')!.variable as tf.Tensor4D, 2, 3);
    const hv = await h.data();
    const C = h.shape[3]!;
    const n = hv.length / C;
    const mean = new Float64Array(C);
    const sq = new Float64Array(C);
    for (let i = 0; i < hv.length; i++) mean[i % C]! += hv[i]! / n;
    for (let i = 0; i < hv.length; i++) sq[i % C]! += (hv[i]! - mean[i % C]!) ** 2;
    const unbiased = Array.from(sq, (s) => s / (n - 1));
    h.dispose();

    const evalOut = model.forward(x);
    await expectNoLeaks(async () => {
      const y = model.forward(x, { training: true });
      expect(Math.abs((await y.data())[0]! - (await evalOut.data())[0]!)).toBeGreaterThan(1e-4);
      y.dispose();
    });
    evalOut.dispose();
    expectClose(
      await params.get('bn1.running_mean')!.variable.data(),
      rm0.map((r, c) => 0.9 * r + 0.1 * mean[c]!),
      1e-5,
      'running_mean',
    );
    expectClose(
      await params.get('bn1.running_var')!.variable.data(),
      rv0.map((r, c) => 0.9 * r + 0.1 * unbiased[c]!),
      1e-4,
      'running_var',
    );
    expect(model.numBatchesTracked().get('layer1.0.bn2.num_batches_tracked')).toBe(1);

    // Gradients flow through the batch statistics in training mode, leak-free (tfjs-backend-wasm
    // lacks Conv2DBackpropFilter: ADX's registerWasmTrainingKernels() supplies it).
    if (backend === 'wasm') registerWasmTrainingKernels();
    await expectNoLeaks(async () => {
      const { value, grads } = tf.variableGrads(
        () => tf.sum(model.forward(x, { training: true })) as tf.Scalar,
        model.trainableVariables(),
      );
      expect(Object.keys(grads).length).toBe(model.trainableVariables().length);
      const g = await grads[model.trainableVariables()[0]!.name]!.data();
      expect(g.every(Number.isFinite)).toBe(true);
      expect(g.some((v) => v !== 0)).toBe(true);
      tf.dispose([value, ...Object.values(grads)]);
    });
    x.dispose();
    model.dispose();
  });

  it('rejects wrong rank and channel count', () => {
    const m = new ResNetEncoder({
      layers: [1],
      stagePlanes: [4],
      stemWidth: 4,
      block: 'BasicBlock',
      outFeatures: 3,
    } as Partial<ResNetEncoderConfig>);
    const x3 = tf.zeros([1, 8, 8, 3]) as tf.Tensor4D;
    expect(() => m.forward(x3)).toThrow(ArgumentError);
    const x1 = tf.zeros([8, 8, 1]) as unknown as tf.Tensor4D;
    expect(() => m.forward(x1)).toThrow(/rank 4/);
    tf.dispose([x3, x1]);
    m.dispose();
  });
});
