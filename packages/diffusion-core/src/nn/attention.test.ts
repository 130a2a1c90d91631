import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import { describeBackends, expectClose, expectNoLeaks } from '@adx/test-utils';
import { ArgumentError } from '../errors.js';
import { SeededRNG } from '../random/rng.js';
import { AttentionPool2d, qkvAttention, QKVAttentionBlock } from './attention.js';

const [T, H, CH] = [5, 2, 3]; // tokens, heads, channels per head
const C = H * CH;
const qkvValues = Array.from(new SeededRNG(3).normalArray(T * 3 * C));

/**
 * Loop reference of guided-diffusion `QKVAttentionLegacy` on token-major qkv: channel
 * h·3ch + {0,1,2}·ch + c holds q/k/v of head h; w = softmax((q/√√ch)·(k/√√ch)); a = w·v.
 */
function legacyReference(qkv: number[]): number[] {
  const at = (t: number, ch: number) => qkv[t * 3 * C + ch]!;
  const out = new Array<number>(T * C).fill(0);
  const s = 1 / Math.sqrt(Math.sqrt(CH));
  for (let h = 0; h < H; h++)
    for (let t = 0; t < T; t++) {
      const logits: number[] = [];
      for (let u = 0; u < T; u++) {
        let d = 0;
        for (let c = 0; c < CH; c++) d += at(t, h * 3 * CH + c) * s * (at(u, h * 3 * CH + CH + c) * s);
        logits.push(d);
      }
      const m = Math.max(...logits);
      const e = logits.map((l) => Math.exp(l - m));
      const z = e.reduce((a, b) => a + b, 0);
      for (let c = 0; c < CH; c++) {
        let acc = 0;
        for (let u = 0; u < T; u++) acc += (e[u]! / z) * at(u, h * 3 * CH + 2 * CH + c);
        out[t * C + h * CH + c] = acc;
      }
    }
  return out;
}

describeBackends('nn attention', () => {
  it('legacy QKV order equals the loop reference', async () => {
    await expectNoLeaks(async () => {
      const qkv = tf.tensor3d(qkvValues, [1, T, 3 * C]);
      const a = qkvAttention(qkv, H, 'legacy');
      expectClose(await a.data(), legacyReference(qkvValues), 1e-5, 'legacy');
      tf.dispose([qkv, a]);
    });
  });

  it('new order (q, k, v first, then heads) equals legacy on permuted channels', async () => {
    // new-order channel j·C + h·ch + c  ←  legacy channel h·3ch + j·ch + c
    const perm: number[] = [];
    for (let t = 0; t < T; t++)
      for (let j = 0; j < 3; j++)
        for (let h = 0; h < H; h++)
          for (let c = 0; c < CH; c++) perm.push(qkvValues[t * 3 * C + h * 3 * CH + j * CH + c]!);
    await expectNoLeaks(async () => {
      const qkv = tf.tensor3d(perm, [1, T, 3 * C]);
      const a = qkvAttention(qkv, H, 'new');
      expectClose(await a.data(), legacyReference(qkvValues), 1e-5, 'new');
      tf.dispose([qkv, a]);
    });
    expect(() => qkvAttention(tf.zeros([1, 2, 10]) as tf.Tensor3D, 2, 'new')).toThrow(ArgumentError);
  });

  it('QKVAttentionBlock is the identity at init (zero proj_out) and AttentionPool2d has the upstream shapes', async () => {
    const block = new QKVAttentionBlock(32, { numHeadChannels: 16, rng: new SeededRNG(1) });
    expect(block.numHeads).toBe(2);
    const pool = new AttentionPool2d(4, 32, 16, 3, { rng: new SeededRNG(2) });
    expect(pool.positionalEmbedding.shape).toEqual([32, 17]);
    await expectNoLeaks(async () => {
      const x = new SeededRNG(1).randn([2, 4, 4, 32]) as tf.Tensor4D;
      const y = block.apply(x);
      expectClose(await y.data(), await x.data(), 0, 'identity');
      const logits = pool.apply(x);
      expect(logits.shape).toEqual([2, 3]);
      tf.dispose([x, y, logits]);
    });
    expect(() => pool.apply(tf.zeros([1, 8, 8, 32]) as tf.Tensor4D)).toThrow(ArgumentError);
    block.dispose();
    pool.dispose();
  });
});
