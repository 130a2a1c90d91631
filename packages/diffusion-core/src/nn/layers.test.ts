import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import { expect, it } from 'vitest';
import { describeBackends, expectClose, expectNoLeaks } from '@adx/test-utils';
import { ArgumentError } from '../errors.js';
import { SeededRNG } from '../random/rng.js';
import { loadStateDict } from '../weights/state-dict.js';
import { timestepEmbedding, timestepFrequencies } from './embeddings.js';
import { avgPool2x2, Conv2d, dropout, GroupNorm, Linear, upsampleNearest2x } from './layers.js';

/** Deterministic pseudo-random values for hand-computed references. */
const vals = (n: number, seed = 1) => Array.from(new SeededRNG(seed).normalArray(n));

it('timestepFrequencies equal exp(−ln(10000)·i/half) in float32', () => {
  const f = timestepFrequencies(8);
  expect(f.length).toBe(4);
  for (let i = 0; i < 4; i++) expect(f[i]).toBeCloseTo(Math.exp((-Math.log(10000) * i) / 4), 7);
});

describeBackends('nn layers', (backend) => {
  it('timestepEmbedding: [cos | sin] of t·f (and sinCos, odd dim zero pad)', async () => {
    await expectNoLeaks(async () => {
      const ts = [0, 1, 7, 50];
      const e = timestepEmbedding(ts, 6);
      const d = await e.data();
      const ref: number[] = [];
      for (const t of ts) {
        const f = [0, 1, 2].map((i) => Math.exp((-Math.log(10000) * i) / 3));
        ref.push(...f.map((fi) => Math.cos(t * fi)), ...f.map((fi) => Math.sin(t * fi)));
      }
      expectClose(d, ref, 2e-6, 'cosSin');
      const t7 = tf.tensor1d([7]);
      const s = timestepEmbedding(t7, 6, { order: 'sinCos' });
      // tensor timesteps use the backend's cos/sin (WebGPU's are approximate, ~2e-4 on SwiftShader)
      const tensorTol = backend === 'webgpu' ? 5e-4 : 2e-6;
      expectClose(await s.data(), [...ref.slice(15, 18), ...ref.slice(12, 15)], tensorTol, 'sinCos');
      // large t: the argument is rounded to float32 first, like `timesteps.float() * freqs`
      const big = timestepEmbedding([999], 4);
      const f1 = Math.fround(Math.exp(Math.fround(Math.fround(-Math.log(10000)) / 2)));
      const arg1 = Math.fround(999 * f1);
      expectClose(await big.data(), [Math.cos(999), Math.cos(arg1), Math.sin(999), Math.sin(arg1)], 1e-7, 't=999');
      big.dispose();
      const odd = timestepEmbedding(3, 5);
      expect(odd.shape).toEqual([1, 5]);
      expect((await odd.data())[4]).toBe(0);
      tf.dispose([e, s, odd, t7]);
    });
  });

  it('GroupNorm equals a hand computation (biased variance per group, affine)', async () => {
    const [n, h, w, c, g] = [2, 2, 3, 4, 2];
    const xs = vals(n * h * w * c);
    const gn = new GroupNorm(g, c, 1e-5);
    tf.tidy(() => {
      gn.weight!.assign(tf.tensor1d([1, 2, 0.5, -1]));
      gn.bias!.assign(tf.tensor1d([0, 0.1, 0.2, 0.3]));
    });
    const ref = new Array<number>(xs.length);
    for (let b = 0; b < n; b++)
      for (let gi = 0; gi < g; gi++) {
        const idx: number[] = [];
        for (let p = 0; p < h * w; p++)
          for (let j = 0; j < c / g; j++) idx.push(b * h * w * c + p * c + gi * (c / g) + j);
        const mean = idx.reduce((a, i) => a + xs[i]!, 0) / idx.length;
        const v = idx.reduce((a, i) => a + (xs[i]! - mean) ** 2, 0) / idx.length;
        for (const i of idx) {
          const ch = i % c;
          ref[i] = ((xs[i]! - mean) / Math.sqrt(v + 1e-5)) * [1, 2, 0.5, -1][ch]! + [0, 0.1, 0.2, 0.3][ch]!;
        }
      }
    await expectNoLeaks(async () => {
      const x = tf.tensor4d(xs, [n, h, w, c]);
      const y = gn.apply(x);
      expectClose(await y.data(), ref, 1e-5, 'groupnorm');
      tf.dispose([x, y]);
    });
    expect(() => new GroupNorm(3, 4)).toThrow(ArgumentError);
    gn.dispose();
  });

  it('Conv2d pads symmetrically like PyTorch, also for stride 2 (not TF "same")', async () => {
    const conv = new Conv2d(2, 3, 3, { stride: 2, padding: 1, rng: new SeededRNG(4) });
    const [H, W] = [4, 4];
    const xs = vals(H * W * 2, 9);
    const wt = await conv.weight.data(); // HWIO
    const bs = await conv.bias!.data();
    const ref: number[] = [];
    for (let oy = 0; oy < 2; oy++)
      for (let ox = 0; ox < 2; ox++)
        for (let o = 0; o < 3; o++) {
          let s = bs[o]!;
          for (let ky = 0; ky < 3; ky++)
            for (let kx = 0; kx < 3; kx++) {
              const iy = oy * 2 - 1 + ky;
              const ix = ox * 2 - 1 + kx;
              if (iy < 0 || ix < 0 || iy >= H || ix >= W) continue;
              for (let i = 0; i < 2; i++) s += xs[(iy * W + ix) * 2 + i]! * wt[((ky * 3 + kx) * 2 + i) * 3 + o]!;
            }
          ref.push(s);
        }
    await expectNoLeaks(async () => {
      const x = tf.tensor4d(xs, [1, H, W, 2]);
      const y = conv.apply(x);
      expect(y.shape).toEqual([1, 2, 2, 3]);
      expectClose(await y.data(), ref, 1e-5, 'conv s2');
      tf.dispose([x, y]);
    });
    expect(() => conv.apply(tf.zeros([1, 4, 4, 3]) as tf.Tensor4D)).toThrow(/channels/);
    conv.dispose();
  });

  it('Linear loads torch [out, in] and kernel-1 Conv1d [out, in, 1] weights and computes x·Wᵀ + b', async () => {
    const lin = new Linear(2, 3);
    const conv1d = new Linear(2, 3, { torchLayout: 'conv1dK1' });
    const w = [1, 2, 3, 4, 5, 6]; // torch [out=3, in=2]
    loadStateDict(lin, {
      weight: { shape: [3, 2], data: Float32Array.from(w) },
      bias: { shape: [3], data: Float32Array.from([1, 0, -1]) },
    });
    loadStateDict(conv1d, {
      weight: { shape: [3, 2, 1], data: Float32Array.from(w) },
      bias: { shape: [3], data: Float32Array.from([1, 0, -1]) },
    });
    await expectNoLeaks(async () => {
      const x = tf.tensor3d([1, 1, 2, -1], [1, 2, 2]);
      const ref = [1 + 1 + 2, 3 + 4, 5 + 6 - 1, 2 - 2 + 1, 6 - 4, 10 - 6 - 1];
      const a = lin.apply(x);
      const b = conv1d.apply(x);
      expect(a.shape).toEqual([1, 2, 3]);
      expectClose(await a.data(), ref, 1e-6, 'linear');
      expectClose(await b.data(), ref, 1e-6, 'conv1dK1');
      tf.dispose([x, a, b]);
    });
    lin.dispose();
    conv1d.dispose();
  });

  it('avgPool2x2, upsampleNearest2x and their gradients', async () => {
    await expectNoLeaks(async () => {
      const x = tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16], [1, 4, 4, 1]);
      const p = avgPool2x2(x);
      expectClose(await p.data(), [3.5, 5.5, 11.5, 13.5], 1e-6, 'avgpool');
      const small = tf.tensor4d([1, 2, 3, 4], [1, 2, 2, 1]);
      const u = upsampleNearest2x(small);
      expectClose(await u.data(), [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4], 0, 'upsample');
      const g1 = tf.grad((t) => tf.sum(tf.mul(avgPool2x2(t as tf.Tensor4D), small)))(x);
      expectClose(
        await g1.data(),
        [0.25, 0.25, 0.5, 0.5, 0.25, 0.25, 0.5, 0.5, 0.75, 0.75, 1, 1, 0.75, 0.75, 1, 1],
        1e-7,
        'dpool',
      );
      const g2 = tf.grad((t) => tf.sum(tf.mul(upsampleNearest2x(t as tf.Tensor4D), x)))(small);
      // each input pixel receives the sum of its 2×2 block of x
      expectClose(await g2.data(), [14, 22, 46, 54], 0, 'dup');
      tf.dispose([x, p, u, g1, g2, small]);
    });
  });

  it('dropout: identity in eval, seeded inverted dropout in training', async () => {
    await expectNoLeaks(async () => {
      const x = tf.ones([1000]);
      const e = dropout(x, 0.3, false);
      expectClose(await e.data(), await x.data(), 0, 'eval');
      const a = await (async () => {
        const t = dropout(x, 0.3, true, new SeededRNG(5));
        const d = await t.data();
        t.dispose();
        return d;
      })();
      const b = dropout(x, 0.3, true, new SeededRNG(5));
      expect(Array.from(a)).toEqual(Array.from(await b.data()));
      const kept = Array.from(a).filter((v) => v !== 0);
      for (const v of kept) expect(v).toBeCloseTo(1 / 0.7, 5);
      expect(kept.length).toBeGreaterThan(630);
      expect(kept.length).toBeLessThan(770);
      tf.dispose([x, e, b]);
    });
    expect(() => dropout(tf.ones([2]), 0.5, true)).toThrow(/rng/);
  });
});
