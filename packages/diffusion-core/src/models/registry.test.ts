import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { expectClose, expectNoLeaks, readJson, readSafetensorsFile } from '@adx/test-utils';
import { readFileSync } from 'node:fs';
import {
  convertTorchCheckpoint,
  createModelFromConfig,
  deserializeCheckpoint,
  MODEL_CLASS_NAMES,
  type AnyModel,
} from './registry.js';
import { ResNetEncoder } from './resnet.js';
import { DiffusionModelUNet } from './monai-unet.js';
import { serializeCheckpoint, parseCheckpoint } from '../weights/checkpoint.js';
import { readSafetensors, writeSafetensors } from '../weights/safetensors.js';
import { ConfigError, WeightsError } from '../errors.js';
import { SeededRNG } from '../random/rng.js';
import { stateDict, torchSave, type PyValue } from '../weights/__tests__/torch-save.js';

const fx = (p: string) => new URL(`../../test-fixtures/parity/${p}`, import.meta.url);
const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
const nhwc = (e: { shape: number[]; data: unknown }) =>
  tf.tidy(
    () =>
      tf.transpose(
        tf.tensor4d(e.data as Float32Array, e.shape as [number, number, number, number]),
        [0, 2, 3, 1],
      ) as tf.Tensor4D,
  );

const resnet18Config = {
  className: 'ResNetEncoder',
  block: 'BasicBlock',
  layers: [2, 2, 2, 2],
  stemWidth: 8,
  stagePlanes: [8, 16, 32, 64],
  inChannels: 1,
  outFeatures: 64,
};

/** The fixture's PyTorch state dict as a torch.save file. */
function resnet18Pt(wrapper: 'plain' | 'lightning'): Uint8Array {
  const w = readSafetensorsFile(fx('cddpm_encoder_resnet18/weights.safetensors'));
  const entries: [string, PyValue][] = [...w.tensors].map(([k, t], i) => {
    const stride = t.shape.map((_, d) => t.shape.slice(d + 1).reduce((a, b) => a * b, 1));
    const storageType = t.dtype === 'I64' ? 'LongStorage' : 'FloatStorage';
    const key = wrapper === 'lightning' ? `encoder.${k}` : k;
    return [
      key,
      {
        tensor: {
          storageType,
          storage: bytesOf(t.data),
          numel: t.data.length,
          key: String(i),
          offset: 0,
          size: t.shape,
          stride,
        },
      },
    ];
  });
  const sd = stateDict(entries);
  return torchSave(
    wrapper === 'lightning'
      ? {
          dict: [
            ['state_dict', sd],
            ['epoch', 3],
          ],
        }
      : sd,
  );
}

describe('createModelFromConfig', () => {
  it('dispatches on className for every family and round-trips toConfig()', () => {
    const small: Record<string, Record<string, unknown>> = {
      DiffusionModelUNet: {
        spatialDims: 2,
        inChannels: 1,
        outChannels: 1,
        numChannels: [32, 32],
        attentionLevels: [false, true],
        numResBlocks: 1,
        numHeadChannels: 32,
        normNumGroups: 32,
      },
      UNetModel: {
        imageSize: 16,
        inChannels: 1,
        modelChannels: 32,
        outChannels: 2,
        numResBlocks: 1,
        attentionResolutions: [2],
        channelMult: [1, 2],
        numClasses: 2,
        numHeadChannels: 32,
      },
      EncoderUNetModel: {
        imageSize: 16,
        inChannels: 1,
        modelChannels: 32,
        outChannels: 2,
        numResBlocks: 1,
        attentionResolutions: [2],
        channelMult: [1, 2],
        numHeadChannels: 32,
        pool: 'attention',
      },
      ConditionedUNetModel: {
        imageSize: [16, 16],
        inChannels: 1,
        modelChannels: 32,
        outChannels: 1,
        numResBlocks: 1,
        attentionResolutions: [3],
        channelMult: [1, 2],
        numClasses: 8,
        numHeadChannels: 32,
        useScaleShiftNorm: true,
        resblockUpdown: true,
        useNewAttentionOrder: true,
      },
      ResNetEncoder: { block: 'BasicBlock', layers: [1, 1], stemWidth: 4, stagePlanes: [4, 8], outFeatures: 5 },
    };
    expect([...MODEL_CLASS_NAMES].sort()).toEqual(Object.keys(small).sort());
    for (const [className, c] of Object.entries(small)) {
      const m = createModelFromConfig({ className, ...c }, { seed: 3 });
      expect(m.className).toBe(className);
      const again = createModelFromConfig(JSON.parse(JSON.stringify(m.toConfig())), { seed: 3 });
      expect(again.toConfig()).toEqual(m.toConfig());
      expect(again.numParameters()).toBe(m.numParameters());
      m.dispose();
      again.dispose();
    }
  });

  it('rejects unknown classes and invalid configs with ConfigError', () => {
    expect(() => createModelFromConfig({ className: 'VAE' })).toThrow(
      /unknown model class "VAE" \(known: .*ResNetEncoder/,
    );
    expect(() => createModelFromConfig({ block: 'BasicBlock' })).toThrow(ConfigError);
    expect(() => createModelFromConfig(null)).toThrow(ConfigError);
    expect(() => createModelFromConfig({ ...resnet18Config, width: 3 })).toThrow(/key 'width'/);
  });
});

describe('convertTorchCheckpoint', () => {
  it('converts .pt (plain and Lightning-wrapped) and safetensors ResNet weights, reproducing the parity output', async () => {
    const io = readSafetensorsFile(fx('cddpm_encoder_resnet18/io.safetensors'));
    const st = new Uint8Array(readFileSync(fx('cddpm_encoder_resnet18/weights.safetensors')));
    const inputs: [string, Uint8Array, { stripPrefix?: string }][] = [
      ['plain .pt', resnet18Pt('plain'), {}],
      ['lightning .ckpt', resnet18Pt('lightning'), { stripPrefix: 'encoder.' }],
      ['safetensors', st, {}],
    ];
    for (const [label, bytes, opts] of inputs) {
      const { model, report } = convertTorchCheckpoint(bytes, resnet18Config, { ...opts, source: label });
      expect(report.missing).toEqual([]);
      expect(report.ignored.every((k) => k.endsWith('num_batches_tracked'))).toBe(true);
      const nbt = readSafetensors(st).tensors.get('layer3.0.bn1.num_batches_tracked')!.data as BigInt64Array;
      expect((model as ResNetEncoder).numBatchesTracked().get('layer3.0.bn1.num_batches_tracked')).toBe(Number(nbt[0]));
      await expectNoLeaks(async () => {
        const x = nhwc(io.tensors.get('x')!);
        const y = (model as ResNetEncoder).forward(x);
        expectClose(await y.data(), io.tensors.get('output')!.data as Float32Array, 1e-5, label);
        tf.dispose([x, y]);
      });
      model.dispose();
    }
  });

  it('converts the THOR UNet from safetensors bytes (MONAI keys) and matches the fixture', async () => {
    const cfg = readJson<{ constructor_kwargs: Record<string, unknown> }>(fx('thor_unet/config.json'));
    const k = cfg.constructor_kwargs;
    const config = {
      className: 'DiffusionModelUNet',
      spatialDims: 2,
      inChannels: k.in_channels,
      outChannels: k.out_channels,
      numChannels: k.num_channels,
      attentionLevels: k.attention_levels,
      numResBlocks: k.num_res_blocks,
      numHeadChannels: k.num_head_channels,
      normNumGroups: k.norm_num_groups,
    };
    const { model } = convertTorchCheckpoint(new Uint8Array(readFileSync(fx('thor_unet/weights.safetensors'))), config);
    expect(model).toBeInstanceOf(DiffusionModelUNet);
    const io = readSafetensorsFile(fx('thor_unet/io.safetensors'));
    const x = nhwc(io.tensors.get('x')!);
    const t = Array.from(io.tensors.get('timesteps')!.data as BigInt64Array, Number);
    const y = (model as DiffusionModelUNet).apply(x, t);
    const yt = tf.transpose(y, [0, 3, 1, 2]);
    expectClose(await yt.data(), io.tensors.get('output')!.data as Float32Array, 1e-4, 'thor');
    tf.dispose([x, y, yt]);
    model.dispose();
  });

  it('reports mismatching weights naming the file, and leaves nothing allocated', async () => {
    const st = new Uint8Array(readFileSync(fx('cddpm_encoder_resnet18/weights.safetensors')));
    await expectNoLeaks(() => {
      expect(() =>
        convertTorchCheckpoint(st, { ...resnet18Config, outFeatures: 10 }, { source: 'r18.safetensors' }),
      ).toThrow(/r18\.safetensors: 'fc\.weight' has shape \[64, 64\], the model expects \[10, 64\]/);
      expect(() => convertTorchCheckpoint(st, { ...resnet18Config, layers: [2, 2, 2, 1] }, { source: 'r18' })).toThrow(
        WeightsError,
      );
    });
  });
});

describe('checkpoints (isomorphic)', () => {
  it('serialize → deserialize restores model, BN counters, extras and state; weights are PyTorch-layout', async () => {
    const rng = new SeededRNG(11);
    const model = ResNetEncoder.preset('resnet18', { outFeatures: 6, widthDivisor: 16 }, rng);
    const ema = ResNetEncoder.preset('resnet18', { outFeatures: 6, widthDivisor: 16 }, new SeededRNG(12));
    const x = rng.randn([2, 32, 32, 1]) as tf.Tensor4D;
    tf.dispose(model.forward(x, { training: true })); // moves running stats and counters
    const { files } = await serializeCheckpoint(model, {
      extras: { ema, optimizer: { 'fc.weight.exp_avg': { shape: [2], data: new Float32Array([1, 2]) } } },
      state: { step: 7, rng: rng.getState() },
    });
    expect(Object.keys(files).sort()).toEqual([
      'config.json',
      'ema.safetensors',
      'model.safetensors',
      'optimizer.safetensors',
      'state.json',
    ]);
    const raw = readSafetensors(files['model.safetensors']!);
    expect(raw.tensors.get('conv1.weight')!.shape).toEqual([4, 1, 7, 7]); // OIHW
    expect(raw.tensors.get('fc.weight')!.shape).toEqual([6, 32]); // [out, in]
    expect(raw.tensors.get('bn1.num_batches_tracked')).toMatchObject({ dtype: 'I64', shape: [] });
    expect(raw.metadata).toMatchObject({ format: 'pt', class_name: 'ResNetEncoder' });
    expect(JSON.parse(new TextDecoder().decode(files['config.json']))).toEqual(model.toConfig());

    const back = deserializeCheckpoint(files);
    expect(back.model).toBeInstanceOf(ResNetEncoder);
    const restored = back.model as ResNetEncoder;
    expect(restored.numBatchesTracked().get('layer2.0.downsample.1.num_batches_tracked')).toBe(1);
    for (const [k, p] of model.namedParameters()) {
      expect(Array.from(await restored.namedParameters().get(k)!.variable.data()), k).toEqual(
        Array.from(await p.variable.data()),
      );
    }
    const a = model.forward(x);
    const b = restored.forward(x);
    expect(Array.from(await b.data())).toEqual(Array.from(await a.data()));
    expect(back.state).toEqual({ step: 7, rng: rng.getState() });
    expect(Array.from(back.extras.optimizer!.get('fc.weight.exp_avg')!.data as Float32Array)).toEqual([1, 2]);
    expect(back.extras.ema!.get('fc.weight')!.shape).toEqual([6, 32]);
    tf.dispose([x, a, b]);
    for (const m of [model, ema, restored]) m.dispose();
  });

  it('accepts torch-written weights as model.safetensors and rejects broken folders', () => {
    const files = {
      'config.json': new TextEncoder().encode(JSON.stringify(resnet18Config)),
      'model.safetensors': new Uint8Array(readFileSync(fx('cddpm_encoder_resnet18/weights.safetensors'))),
    };
    const { model }: { model: AnyModel } = deserializeCheckpoint(files, 'ckpt');
    expect(model.numParameters()).toBe(180088);
    model.dispose();
    expect(() => parseCheckpoint({ 'model.safetensors': files['model.safetensors'] }, 'ckpt')).toThrow(
      /ckpt\/config\.json: missing/,
    );
    expect(() =>
      deserializeCheckpoint({ ...files, 'config.json': new TextEncoder().encode('{"className":"Nope"}') }, 'ckpt'),
    ).toThrow(/ckpt\/config\.json: .*unknown model class/);
    const w = writeSafetensors({ 'fc.weight': { shape: [1], data: new Float32Array(1) } });
    expect(() => deserializeCheckpoint({ ...files, 'model.safetensors': w }, 'ckpt')).toThrow(
      /ckpt\/model\.safetensors: state dict does not match/,
    );
  });
});
