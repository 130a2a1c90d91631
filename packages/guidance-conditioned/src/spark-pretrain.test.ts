import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { describeBackends, expectNoLeaks } from '@adx/test-utils';
import { ArgumentError, ResNetEncoder, SeededRNG } from '@adx/diffusion-core';
import { CDDPM } from './model.js';
import { randomSliceBatches } from './train.js';
import {
  SparkLightDecoder,
  resnetDownsampleRatio,
  sparseEncoderFeatures,
  sparkPretrainEncoder,
  transferEncoderWeights,
} from './spark.js';

/** A 2-stage BasicBlock ResNet: downsample ratio 2^(2+1) = 8, so 24-px slices give SparK's 3×3 grid. */
const tinyEncoder = {
  block: 'BasicBlock' as const,
  layers: [1, 1],
  stemWidth: 8,
  stagePlanes: [8, 16],
  outFeatures: 8,
};

async function values(enc: ResNetEncoder): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const [k, p] of enc.namedParameters()) out.set(k, Float32Array.from(await p.variable.data()));
  return out;
}

describeBackends('SparK sparse encoder', () => {
  it('all patches visible: eval features → GAP → fc equal the dense ResNet', async () => {
    const enc = new ResNetEncoder(tinyEncoder, new SeededRNG(3));
    expect(resnetDownsampleRatio(enc)).toBe(8);
    const x = new SeededRNG(1).rand([2, 24, 24, 1]) as tf.Tensor4D;
    const all = new Uint8Array(2 * 9).fill(1);
    const [dense, viaFeatures] = await expectNoLeaks(async () => {
      const feats = sparseEncoderFeatures(enc, x, all, 3, false);
      expect(feats.map((f) => f.shape)).toEqual([
        [2, 6, 6, 8],
        [2, 3, 3, 16],
      ]);
      const p = enc.namedParameters();
      const out = tf.tidy(() =>
        tf.add(
          tf.matMul(tf.mean(feats[1]!, [1, 2]), p.get('fc.weight')!.variable as tf.Tensor2D),
          p.get('fc.bias')!.variable,
        ),
      );
      const ref = enc.apply(x, { training: false });
      const r = [await ref.data(), await out.data()];
      tf.dispose([...feats, out, ref]);
      return r;
    });
    for (let i = 0; i < dense.length; i++) expect(viaFeatures[i]).toBeCloseTo(dense[i]!, 4);
    x.dispose();
    enc.dispose();
  });

  it('masked patches stay zero at every level; training mode updates the running statistics', async () => {
    const enc = new ResNetEncoder(tinyEncoder, new SeededRNG(3));
    const x = new SeededRNG(2).rand([2, 24, 24, 1]) as tf.Tensor4D;
    const mask = Uint8Array.from([1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0, 1, 0, 0, 0, 0, 1]);
    const feats = sparseEncoderFeatures(enc, x, mask, 3, true);
    for (const f of feats) {
      const [, h, w, c] = f.shape;
      const d = await f.data();
      for (let b = 0; b < 2; b++)
        for (let y = 0; y < h; y++)
          for (let xx = 0; xx < w; xx++) {
            const visible = mask[b * 9 + Math.floor((y * 3) / h) * 3 + Math.floor((xx * 3) / w)]!;
            if (!visible) for (let k = 0; k < c; k++) expect(d[((b * h + y) * w + xx) * c + k]).toBe(0);
          }
    }
    // running stats moved (training mode) away from the init (0 / 1)
    const rm = await enc.namedParameters().get('bn1.running_mean')!.variable.data();
    expect(rm.some((v) => v !== 0)).toBe(true);
    tf.dispose([...feats, x]);
    enc.dispose();
  });
});

// wasm only: the gradient kernels of the core trainer make this fast there.
describeBackends(
  'sparkPretrainEncoder (masked-patch MSE, AdamW)',
  () => {
    it('the loss decreases on a tiny run; only conv/BN of the encoder change; no leaked tensors', async () => {
      const enc = new ResNetEncoder(tinyEncoder, new SeededRNG(3));
      // smooth, structured slices: something a decoder can learn to fill in
      const vols = Array.from({ length: 4 }, (_, v) => {
        const data = new Float32Array(2 * 24 * 24);
        for (let s = 0; s < 2; s++)
          for (let y = 0; y < 24; y++)
            for (let x = 0; x < 24; x++)
              data[(s * 24 + y) * 24 + x] = 0.5 + 0.4 * Math.sin((x + 3 * v) / 4) * Math.cos((y + s) / 5);
        return { data, shape: [2, 24, 24] };
      });
      const before = await values(enc);
      const n0 = tf.memory().numTensors;
      const r = await sparkPretrainEncoder(enc, randomSliceBatches(vols, { batchSize: 4 }), {
        steps: 30,
        decoderWidth: 16,
        optimizer: { lr: 3e-3 },
      });
      expect(tf.memory().numTensors).toBe(n0);
      expect(r.steps).toBe(30);
      const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
      expect(mean(r.losses.slice(-5))).toBeLessThan(0.5 * mean(r.losses.slice(0, 5)));
      const after = await values(enc);
      for (const [k, b] of before) {
        const changed = b.some((v, i) => v !== after.get(k)![i]);
        if (k.startsWith('fc.')) expect(changed, k).toBe(false);
        else if (/(conv\d?|downsample\.0)\.weight$/.test(k)) expect(changed, k).toBe(true);
      }
      enc.dispose();
    });
  },
  ['wasm'],
);

describe('transferEncoderWeights (SparK → cDDPM: conv/BN only, fc stays fresh)', () => {
  it('copies exactly the conv and BatchNorm tensors and nothing else', async () => {
    const src = new ResNetEncoder(tinyEncoder, new SeededRNG(11));
    for (const p of src.namedParameters().values())
      p.variable.assign(tf.randomUniform(p.variable.shape, 0, 1, 'float32', 5));
    (src as unknown as { setNumBatchesTracked(m: Map<string, { data: number[] }>): void }).setNumBatchesTracked(
      new Map([['bn1.num_batches_tracked', { data: [7] }]]),
    );
    const model = new CDDPM({
      variant: 'cDDPM',
      encoder: tinyEncoder,
      unet: { imageSize: 24, modelChannels: 32, numResBlocks: 1, channelMult: [1, 1], numHeadChannels: 32 },
    });
    const fresh = await values(model.encoder!);
    const unetBefore = await Promise.all(model.unet.trainableVariables().map((v) => v.data()));
    const { copied, kept } = await expectNoLeaks(() => transferEncoderWeights(src, model));
    expect(kept).toEqual(['fc.weight', 'fc.bias']);
    const srcV = await values(src);
    const dstV = await values(model.encoder!);
    expect(copied.length + kept.length).toBe(dstV.size);
    for (const k of copied)
      expect(k).toMatch(/(conv\d|bn\d|downsample\.[01])\.(weight|bias|running_mean|running_var)$/);
    for (const [k, v] of dstV) {
      if (k.startsWith('fc.')) expect(Array.from(v)).toEqual(Array.from(fresh.get(k)!));
      else expect(Array.from(v)).toEqual(Array.from(srcV.get(k)!));
    }
    expect(model.encoder!.numBatchesTracked().get('bn1.num_batches_tracked')).toBe(7);
    const unetAfter = await Promise.all(model.unet.trainableVariables().map((v) => v.data()));
    unetAfter.forEach((a, i) => expect(Array.from(a)).toEqual(Array.from(unetBefore[i]!)));
    // different architecture → typed error
    const other = new ResNetEncoder({ ...tinyEncoder, stagePlanes: [8, 8] });
    expect(() => transferEncoderWeights(other, model)).toThrow(ArgumentError);
    expect(() => transferEncoderWeights(src, { encoder: null })).toThrow(ArgumentError);
    other.dispose();
    src.dispose();
    model.dispose();
  });

  it('the light decoder maps the pyramid back to the image size', () => {
    const dec = new SparkLightDecoder({ featureWidths: [8, 16], decoderWidth: 16, outChannels: 1, upStages: 3 });
    const feats = [tf.ones([1, 6, 6, 8]), tf.ones([1, 3, 3, 16])] as tf.Tensor4D[];
    const out = dec.apply(feats, new Uint8Array(9).fill(1), 3);
    expect(out.shape).toEqual([1, 24, 24, 1]);
    tf.dispose([...feats, out]);
    expect(
      () => new SparkLightDecoder({ featureWidths: [8, 16], decoderWidth: 16, outChannels: 1, upStages: 1 }),
    ).toThrow(ArgumentError);
    dec.dispose();
  });
});
