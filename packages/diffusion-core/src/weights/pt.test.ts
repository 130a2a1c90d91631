import * as tf from '@tensorflow/tfjs-core';
import { unzipSync, zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { expectClose, expectNoLeaks, readSafetensorsFile } from '@adx/test-utils';
import { readTorchFile, readTorchStateDict } from './pt.js';
import { loadStateDict } from './state-dict.js';
import { WeightsError } from '../errors.js';
import { ResNetEncoder } from '../models/resnet.js';
import { f32Tensor, stateDict, torchPickle, torchSave, type PyTensor, type PyValue } from './__tests__/torch-save.js';

const fx = (p: string) => new URL(`../../test-fixtures/parity/${p}`, import.meta.url);
const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
/** Adds `archive/data/<key>` entries to a torch.save zip. */
const rezip = (file: Uint8Array, storages: Record<string, Uint8Array>) => {
  const entries: Record<string, Uint8Array> = unzipSync(file);
  for (const [k, b] of Object.entries(storages)) entries[`archive/data/${k}`] = b;
  return zipSync(entries, { level: 0 });
};

describe('readTorchFile (torch.save zip, no pickle execution)', () => {
  it('reads an OrderedDict state dict: dtypes, 0-d tensors, strides, offsets and shared storages', () => {
    // storage "1" = [0..11]; "t" is its transposed 3×4 → 4×3 view, "v" a row slice at offset 4.
    const base = Array.from({ length: 12 }, (_, i) => i);
    const storage1 = bytesOf(new Float32Array(base));
    const view = (extra: Partial<PyTensor['tensor']>): PyTensor => ({
      tensor: {
        storageType: 'FloatStorage',
        storage: storage1,
        numel: 12,
        key: '1',
        offset: 0,
        size: [3, 4],
        stride: [4, 1],
        ...extra,
      },
    });
    const half = new Uint16Array([0x3c00, 0xc000, 0x3800]); // 1, -2, 0.5
    const bf16 = new Uint16Array([0x3f80, 0xc040]); // 1, -3
    const sd = stateDict([
      ['conv.weight', f32Tensor('0', [2, 1, 1, 2], [1, 2, 3, 4], { requiresGrad: true })],
      ['full', view({})],
      ['t', view({ size: [4, 3], stride: [1, 4] })],
      ['v', view({ offset: 4, size: [4], stride: [1] })],
      [
        'bn.num_batches_tracked',
        {
          tensor: {
            storageType: 'LongStorage',
            storage: bytesOf(new BigInt64Array([7n])),
            numel: 1,
            key: '2',
            offset: 0,
            size: [],
            stride: [],
          },
        },
      ],
      [
        'h',
        {
          tensor: {
            storageType: 'HalfStorage',
            storage: bytesOf(half),
            numel: 3,
            key: '3',
            offset: 0,
            size: [3],
            stride: [1],
          },
        },
      ],
      [
        'b',
        {
          tensor: {
            storageType: 'BFloat16Storage',
            storage: bytesOf(bf16),
            numel: 2,
            key: '4',
            offset: 0,
            size: [2],
            stride: [1],
          },
        },
      ],
    ]);
    const { tensors, root } = readTorchFile(torchSave(sd), { source: 'sd.pt' });
    expect(root).toBeInstanceOf(Map);
    expect([...tensors.keys()]).toEqual(['conv.weight', 'full', 't', 'v', 'bn.num_batches_tracked', 'h', 'b']);
    const w = tensors.get('conv.weight')!;
    expect(w.dtype).toBe('F32');
    expect(w.shape).toEqual([2, 1, 1, 2]);
    expect(w.requiresGrad).toBe(true);
    expect(Array.from(w.data as Float32Array)).toEqual([1, 2, 3, 4]);
    expect(Array.from(tensors.get('full')!.data as Float32Array)).toEqual(base);
    // Transposed view, copied contiguously: t[i][j] = base[j*4 + i].
    expect(tensors.get('t')!.shape).toEqual([4, 3]);
    expect(Array.from(tensors.get('t')!.data as Float32Array)).toEqual([0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]);
    expect(Array.from(tensors.get('v')!.data as Float32Array)).toEqual([4, 5, 6, 7]);
    const nbt = tensors.get('bn.num_batches_tracked')!;
    expect(nbt.dtype).toBe('I64');
    expect(nbt.shape).toEqual([]);
    expect(Array.from(nbt.data as BigInt64Array)).toEqual([7n]);
    expect(Array.from(tensors.get('h')!.data as Float32Array)).toEqual([1, -2, 0.5]);
    expect(Array.from(tensors.get('b')!.data as Float32Array)).toEqual([1, -3]);
  });

  it('reads PyTorch 2 _rebuild_tensor_v3 tensors on untyped byte storages', () => {
    const half = bytesOf(new Uint16Array([0x3c00, 0x4000, 0xbc00])); // 1, 2, -1
    const v3 = (key: string, dtype: string, bytes: Uint8Array, size: number[]): PyValue => ({
      call: 'torch._utils._rebuild_tensor_v3',
      args: [
        { persid: ['storage', { global: 'torch.UntypedStorage' }, key, 'cpu', bytes.length] },
        0,
        { tuple: size },
        { tuple: size.map((_, d) => size.slice(d + 1).reduce((a, b) => a * b, 1)) },
        false,
        { call: 'collections.OrderedDict', args: [] },
        { global: dtype },
      ],
    });
    const obj = stateDict([
      ['h', v3('0', 'torch.float16', half, [3])],
      ['i', v3('1', 'torch.int32', bytesOf(new Int32Array([7, -8])), [2, 1])],
    ]);
    const storages: Record<string, Uint8Array> = { '0': half, '1': bytesOf(new Int32Array([7, -8])) };
    const files = torchSave(obj);
    // torchSave only collects storages of {tensor} nodes: add the untyped ones.
    const withData = rezip(files, storages);
    const sd = readTorchStateDict(withData);
    expect(sd.get('h')).toMatchObject({ dtype: 'F16', shape: [3] });
    expect(Array.from(sd.get('h')!.data as Float32Array)).toEqual([1, 2, -1]);
    expect(sd.get('i')).toMatchObject({ dtype: 'I32', shape: [2, 1] });
    expect(Array.from(sd.get('i')!.data as Int32Array)).toEqual([7, -8]);
    const bad = stateDict([['x', { ...(v3('0', 'torch.complex64', half, [1]) as { call: string; args: PyValue[] }) }]]);
    expect(() => readTorchFile(rezip(torchSave(bad), storages))).toThrow(/'torch\.complex64'/);
  });

  it('finds the state dict inside {model, ema, epoch} and honours key / stripPrefix', () => {
    const obj: PyValue = {
      dict: [
        ['model', stateDict([['module.fc.weight', f32Tensor('0', [1, 2], [1, 2])]])],
        ['ema', stateDict([['module.fc.weight', f32Tensor('1', [1, 2], [3, 4])]])],
        ['epoch', 5],
        ['args', { tuple: ['x', null, true, -70000, 2 ** 40] }],
      ],
    };
    const bytes = torchSave(obj);
    const model = readTorchStateDict(bytes);
    expect(Array.from(model.get('module.fc.weight')!.data as Float32Array)).toEqual([1, 2]);
    const ema = readTorchStateDict(bytes, { key: 'ema', stripPrefix: 'module.' });
    expect(Array.from(ema.get('fc.weight')!.data as Float32Array)).toEqual([3, 4]);
    const { root } = readTorchFile(bytes);
    expect((root as Map<string, unknown>).get('epoch')).toBe(5);
    expect((root as Map<string, unknown>).get('args')).toEqual(['x', null, true, -70000, 2 ** 40]);
    expect(() => readTorchStateDict(bytes, { key: 'optimizer', source: 'c.pt' })).toThrow(
      /c\.pt: no key 'optimizer'.*model, ema, epoch, args/,
    );
  });

  it('refuses any global outside the allow-list, naming it, and executes nothing', () => {
    // GLOBAL 'os system' ; ('echo pwned',) ; REDUCE — the classic malicious pickle.
    const enc = new TextEncoder();
    const evil = Uint8Array.from([
      0x80,
      0x02,
      0x63,
      ...enc.encode('os\nsystem\n'),
      0x58,
      10,
      0,
      0,
      0,
      ...enc.encode('echo pwned'),
      0x85,
      0x52,
      0x2e,
    ]);
    expect(() => readTorchFile(torchSave(null, evil), { source: 'evil.pt' })).toThrow(WeightsError);
    expect(() => readTorchFile(torchSave(null, evil), { source: 'evil.pt' })).toThrow(/evil\.pt: .*'os\.system'/);
    // A Lightning-style checkpoint with a custom class: refused by default, inert with allowUnknownGlobals.
    const lightning = torchPickle({
      dict: [
        ['state_dict', stateDict([['w', f32Tensor('0', [1], [9])]])],
        ['hparams', { global: 'argparse.Namespace' }],
      ],
    });
    const file = torchSave({ dict: [['state_dict', stateDict([['w', f32Tensor('0', [1], [9])]])]] }, lightning);
    expect(() => readTorchFile(file)).toThrow(/argparse\.Namespace/);
    const sd = readTorchStateDict(file, { allowUnknownGlobals: true });
    expect(Array.from(sd.get('w')!.data as Float32Array)).toEqual([9]);
  });

  it('detects the legacy (non-zip) format, TorchScript archives and corrupt data', () => {
    // Legacy torch.save starts with PROTO 2 + LONG1 magic number 0x1950a86a20f9469cfc6c.
    const legacy = Uint8Array.from([
      0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e,
    ]);
    expect(() => readTorchFile(legacy, { source: 'old.pth' })).toThrow(
      /old\.pth: legacy \(non-zip\) torch\.save format/,
    );
    expect(() => readTorchFile(new TextEncoder().encode('hello world'))).toThrow(/not a PyTorch zip/);
    const truncated = torchPickle(stateDict([['w', f32Tensor('0', [1], [1])]])).slice(0, 30);
    expect(() => readTorchFile(torchSave(null, truncated))).toThrow(/truncated|underflow/);
    // Storage missing from the archive.
    const pkl = torchPickle(stateDict([['w', f32Tensor('9', [1], [1])]]));
    expect(() => readTorchFile(torchSave(null, pkl), { source: 'm.pt' })).toThrow(/m\.pt: storage '9'/);
  });

  it('imports a ResNet state dict saved as .pt and reproduces the parity output', async () => {
    const w = readSafetensorsFile(fx('cddpm_encoder_resnet18/weights.safetensors'));
    const entries: [string, PyValue][] = [...w.tensors].map(([k, t], i) => {
      const storageType = t.dtype === 'I64' ? 'LongStorage' : 'FloatStorage';
      const stride = t.shape.map((_, d) => t.shape.slice(d + 1).reduce((a, b) => a * b, 1));
      return [
        k,
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
    const sd = readTorchStateDict(torchSave({ dict: [['state_dict', stateDict(entries)]] }), { source: 'resnet18.pt' });
    expect(sd.size).toBe(w.tensors.size);
    const model = new ResNetEncoder({
      block: 'BasicBlock',
      layers: [2, 2, 2, 2],
      stemWidth: 8,
      stagePlanes: [8, 16, 32, 64],
      outFeatures: 64,
    });
    loadStateDict(model, sd, { ignore: ResNetEncoder.ignoredTorchKeys });
    const io = readSafetensorsFile(fx('cddpm_encoder_resnet18/io.safetensors'));
    await expectNoLeaks(async () => {
      const xe = io.tensors.get('x')!;
      const x = tf.tidy(
        () =>
          tf.transpose(
            tf.tensor4d(xe.data as Float32Array, xe.shape as [number, number, number, number]),
            [0, 2, 3, 1],
          ) as tf.Tensor4D,
      );
      const y = model.forward(x);
      expectClose(await y.data(), io.tensors.get('output')!.data as Float32Array, 1e-5, 'resnet18 via .pt');
      tf.dispose([x, y]);
    });
    model.dispose();
  });
});
