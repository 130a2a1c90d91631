import * as tf from '@tensorflow/tfjs-core';
import { describe, it, expect, beforeAll } from 'vitest';
import { setTestBackend } from '@adx/test-utils';
import { SeededRNG } from '../random/rng.js';
import {
  registerWasmTrainingKernels,
  unregisterWasmTrainingKernels,
  WASM_TRAINING_KERNELS,
  conv2dFilterGradient,
} from './wasm-kernels.js';
import { registerTrainingGradients } from './gradients.js';

function expectCloseArr(got: ArrayLike<number>, want: ArrayLike<number>, atol: number, label: string): void {
  expect(got.length, label).toBe(want.length);
  for (let i = 0; i < want.length; i++)
    expect(Math.abs(got[i]! - want[i]!), `${label} [${i}]`).toBeLessThanOrEqual(atol);
}

/**
 * Gradient checks: every layer type the ADX networks use, differentiated on the wasm backend
 * (with ADX's kernels) and on the cpu backend (tfjs' reference kernels), from identical inputs.
 * Criterion: max |g_wasm − g_cpu| ≤ 1e-4 · max |g_cpu| for every differentiated input.
 */

type Loss = (...xs: tf.Tensor[]) => tf.Tensor;

interface Case {
  name: string;
  shapes: number[][];
  f: Loss;
  /** Integer inputs (not differentiated): index → values. */
  ints?: Record<number, number[]>;
}

const ones4 = (t: tf.Tensor): tf.Tensor4D => t as tf.Tensor4D;
const conv =
  (s: number | [number, number], p: 'same' | 'valid' | number): Loss =>
  (x, w) =>
    tf.conv2d(ones4(x), ones4(w), s, p);

/** Fixed random projection of the output, so the loss weights every element differently. */
function weighted(f: Loss): Loss {
  return (...xs) => {
    const y = f(...xs);
    const r = new SeededRNG(7).randn(y.shape);
    return tf.sum(tf.mul(y, r));
  };
}

function groupNorm(x: tf.Tensor, groups: number, gamma: tf.Tensor, beta: tf.Tensor): tf.Tensor {
  const [B, H, W, C] = x.shape as [number, number, number, number];
  const xg = tf.reshape(x, [B, H, W, groups, C / groups]);
  const { mean, variance } = tf.moments(xg, [1, 2, 4], true);
  const xn = tf.reshape(tf.mul(tf.sub(xg, mean), tf.rsqrt(tf.add(variance, 1e-5))), [B, H, W, C]);
  return tf.add(tf.mul(xn, gamma), beta);
}

const silu = (x: tf.Tensor): tf.Tensor => tf.mul(x, tf.sigmoid(x));

function attention(x: tf.Tensor, wqkv: tf.Tensor, wo: tf.Tensor): tf.Tensor {
  // guided-diffusion QKVAttention: x [B, T, C], one head.
  const [B, T, C] = x.shape as [number, number, number];
  const qkv = tf.reshape(tf.matMul(tf.reshape(x, [B * T, C]), wqkv), [B, T, 3 * C]);
  const [q, k, v] = tf.split(qkv, 3, 2) as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D];
  const w = tf.softmax(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(C)));
  const a = tf.matMul(w, v);
  return tf.matMul(tf.reshape(a, [B * T, C]), wo);
}

/** A tiny UNet-like graph: conv/GN/SiLU, stride-2 down, attention at the bottom, ×2 up, skip concat. */
function tinyUNet(x: tf.Tensor, ...w: tf.Tensor[]): tf.Tensor {
  const [w1, g1, b1, w2, wqkv, wo, emb, w3, w4, bias4] = w as tf.Tensor4D[];
  const labels = tf.tensor1d([1, 0], 'int32');
  const h1 = silu(groupNorm(tf.conv2d(ones4(x), w1!, 1, 'same'), 2, g1!, b1!));
  const h1e = tf.add(h1, tf.reshape(tf.gather(emb!, labels), [2, 1, 1, 4]));
  const d = tf.conv2d(h1e as tf.Tensor4D, w2!, 2, [
    [0, 0],
    [1, 1],
    [1, 1],
    [0, 0],
  ]);
  const [B, H, W, C] = d.shape;
  const a = tf.reshape(attention(tf.reshape(d, [B, H * W, C]), wqkv!, wo!), [B, H, W, C]);
  const u = tf.image.resizeNearestNeighbor(tf.add(d, a) as tf.Tensor4D, [2 * H, 2 * W]);
  const cat = tf.concat([u, h1], 3);
  const h3 = silu(tf.conv2d(ones4(cat), w3!, 1, 'same'));
  const pooled = tf.avgPool(ones4(h3), 2, 2, 'valid');
  const up = tf.image.resizeNearestNeighbor(pooled, [2 * H, 2 * W]);
  return tf.add(tf.conv2d(ones4(up), w4!, 1, 'valid'), bias4!);
}

const cases: Case[] = [
  {
    name: 'conv2d 1x1',
    shapes: [
      [2, 6, 6, 4],
      [1, 1, 4, 5],
    ],
    f: conv(1, 0),
  },
  {
    name: 'conv2d 3x3 pad 1',
    shapes: [
      [2, 8, 8, 3],
      [3, 3, 3, 4],
    ],
    f: conv(1, 1),
  },
  {
    name: 'conv2d 3x3 stride 2 pad 1',
    shapes: [
      [2, 8, 8, 3],
      [3, 3, 3, 4],
    ],
    f: conv(2, 1),
  },
  {
    name: 'conv2d 3x3 stride 2 same (odd size)',
    shapes: [
      [1, 9, 7, 2],
      [3, 3, 2, 3],
    ],
    f: conv(2, 'same'),
  },
  {
    name: 'conv2d 3x2 strides [2,1] valid',
    shapes: [
      [1, 9, 7, 2],
      [3, 2, 2, 3],
    ],
    f: conv([2, 1], 'valid'),
  },
  {
    name: 'conv2d 7x7 stride 2 pad 3',
    shapes: [
      [1, 16, 16, 3],
      [7, 7, 3, 4],
    ],
    f: conv(2, 3),
  },
  {
    name: 'conv2d explicit asymmetric padding',
    shapes: [
      [1, 7, 7, 2],
      [3, 3, 2, 3],
    ],
    f: (x, w) =>
      tf.conv2d(ones4(x), ones4(w), 2, [
        [0, 0],
        [0, 1],
        [1, 0],
        [0, 0],
      ]),
  },
  {
    name: 'conv2d with bias (add)',
    shapes: [[2, 6, 6, 3], [3, 3, 3, 4], [4]],
    f: (x, w, b) => tf.add(tf.conv2d(ones4(x), ones4(w), 1, 'same'), b!),
  },
  {
    name: 'fused conv2d + bias + relu',
    shapes: [[2, 6, 6, 3], [3, 3, 3, 4], [4]],
    f: (x, w, b) =>
      tf.fused.conv2d({ x: ones4(x), filter: ones4(w), strides: 1, pad: 'same', bias: b, activation: 'relu' }),
  },
  {
    name: 'conv2dTranspose 3x3 stride 2 same (runs on Conv2DBackpropInput)',
    shapes: [
      [2, 4, 4, 3],
      [3, 3, 2, 3],
    ],
    f: (x, w) => tf.conv2dTranspose(ones4(x), ones4(w), [2, 8, 8, 2], 2, 'same'),
  },
  {
    name: 'dense x·W + b',
    shapes: [[3, 5], [5, 4], [4]],
    f: (x, w, b) => tf.add(tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D), b!),
  },
  {
    name: 'broadcast matMul [B, T, C]·[C, D] (token-wise Linear)',
    shapes: [
      [2, 3, 4],
      [4, 5],
    ],
    f: (x, w) => tf.matMul(x!, w!),
  },
  {
    name: 'dense x·Wᵀ (torch Linear)',
    shapes: [
      [3, 5],
      [4, 5],
    ],
    f: (x, w) => tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D, false, true),
  },
  {
    name: 'matMul aᵀ·b',
    shapes: [
      [5, 3],
      [5, 4],
    ],
    f: (a, b) => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, true, false),
  },
  {
    name: 'softmax attention (batched matMul)',
    shapes: [
      [2, 6, 4],
      [4, 12],
      [4, 4],
    ],
    f: attention,
  },
  {
    name: 'group norm composition',
    shapes: [[2, 4, 4, 6], [6], [6]],
    f: (x, g, b) => groupNorm(x!, 3, g!, b!),
  },
  { name: 'SiLU', shapes: [[2, 3, 3, 4]], f: silu },
  { name: 'softmax', shapes: [[3, 7]], f: (x) => tf.softmax(x!) },
  { name: 'avgPool 2x2', shapes: [[2, 6, 6, 3]], f: (x) => tf.avgPool(ones4(x), 2, 2, 'valid') },
  { name: 'maxPool 3x3/2 pad 1', shapes: [[2, 8, 8, 3]], f: (x) => tf.maxPool(ones4(x), 3, 2, 1) },
  {
    name: 'maxPool 3x3/2 with explicit −∞ padding (torch MaxPool2d(3, 2, 1))',
    shapes: [[1, 7, 7, 2]],
    f: (x) =>
      tf.maxPool(
        ones4(
          tf.pad(
            x!,
            [
              [0, 0],
              [1, 1],
              [1, 1],
              [0, 0],
            ],
            -Infinity,
          ),
        ),
        3,
        2,
        'valid',
      ),
  },
  { name: 'nearest upsample x2', shapes: [[2, 3, 4, 3]], f: (x) => tf.image.resizeNearestNeighbor(ones4(x), [6, 8]) },
  { name: 'bilinear resize', shapes: [[2, 3, 4, 2]], f: (x) => tf.image.resizeBilinear(ones4(x), [5, 7]) },
  {
    name: 'bilinear resize, halfPixelCenters',
    shapes: [[1, 4, 3, 2]],
    f: (x) => tf.image.resizeBilinear(ones4(x), [8, 5], false, true),
  },
  {
    name: 'gather / embedding',
    shapes: [[5, 3], [4]],
    ints: { 1: [1, 4, 1, 0] },
    f: (e, i) => tf.gather(e!, i!),
  },
  {
    name: 'concat / slice / pad',
    shapes: [
      [2, 4, 4, 3],
      [2, 4, 4, 2],
    ],
    f: (a, b) =>
      tf.pad(tf.slice(tf.concat([a!, b!], 3), [0, 1, 0, 1], [2, 3, 4, 3]), [
        [0, 0],
        [1, 0],
        [0, 2],
        [0, 0],
      ]),
  },
  {
    name: 'tiny UNet end to end',
    shapes: [
      [2, 8, 8, 1],
      [3, 3, 1, 4],
      [4],
      [4],
      [3, 3, 4, 4],
      [4, 12],
      [4, 4],
      [3, 4],
      [3, 3, 8, 4],
      [1, 1, 4, 1],
      [1],
    ],
    f: tinyUNet,
  },
];

function makeInputs(c: Case): tf.Tensor[] {
  const rng = new SeededRNG(1234);
  return c.shapes.map((s, i) =>
    c.ints?.[i] ? tf.tensor(c.ints[i], s, 'int32') : tf.mul(rng.randn(s), i === 0 ? 1 : 0.5),
  );
}

async function gradients(c: Case, backend: 'cpu' | 'wasm'): Promise<Float32Array[]> {
  await setTestBackend(backend);
  const inputs = makeInputs(c);
  const diffIdx = inputs.map((_, i) => i).filter((i) => !c.ints?.[i]);
  const before = tf.memory().numTensors;
  const f = weighted(c.f);
  const gs = tf.grads((...d: tf.Tensor[]) => {
    const all = inputs.slice();
    diffIdx.forEach((k, j) => (all[k] = d[j]!));
    return f(...all) as tf.Scalar;
  })(diffIdx.map((i) => inputs[i]!));
  const out = await Promise.all(gs.map(async (g) => (await g.data()) as Float32Array));
  tf.dispose(gs);
  expect(tf.memory().numTensors, 'tensors left by the backward pass').toBe(before);
  tf.dispose(inputs);
  return out;
}

describe('wasm training kernels: gradient checks against the cpu backend', () => {
  beforeAll(() => {
    registerWasmTrainingKernels();
  });

  for (const c of cases) {
    it(c.name, async () => {
      const ref = await gradients(c, 'cpu');
      const got = await gradients(c, 'wasm');
      expect(got.length).toBe(ref.length);
      ref.forEach((r, i) => {
        const g = got[i]!;
        let scale = 0;
        let diff = 0;
        for (let k = 0; k < r.length; k++) {
          scale = Math.max(scale, Math.abs(r[k]!));
          diff = Math.max(diff, Math.abs(r[k]! - g[k]!));
        }
        expect(scale, `${c.name}: gradient ${i} is all zero`).toBeGreaterThan(0);
        expect(diff / scale, `${c.name}: gradient ${i} relative error`).toBeLessThanOrEqual(1e-4);
      });
    });
  }

  it('conv2dFilterGradient matches a hand-computed 1-channel case', async () => {
    await setTestBackend('wasm');
    // x = 1..9 (3×3), dy = ones (3×3), 'same' 3×3: dW[kh,kw] = Σ of the x window shifted by (kh−1, kw−1).
    const x = tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 3, 3, 1]);
    const dy = tf.ones([1, 3, 3, 1]) as tf.Tensor4D;
    const g = conv2dFilterGradient(x, dy, [3, 3, 1, 1], 1, 'same');
    // window sums: rows {0,1} or {1,2} or all, same for cols.
    const rows = [
      [1, 2],
      [1, 2, 3],
      [2, 3],
    ].map((r) => r.map((v) => v - 1));
    const expected: number[] = [];
    for (let kh = 0; kh < 3; kh++)
      for (let kw = 0; kw < 3; kw++) {
        // tap (kh, kw) reads x[oh + kh − 1, ow + kw − 1]; valid x rows are those reachable.
        const rs = rows[kh]!;
        const cs = rows[kw]!;
        let s = 0;
        for (const r of rs) for (const cc of cs) s += 3 * r + cc + 1;
        expected.push(s);
      }
    expect(Array.from(await g.data())).toEqual(expected);
    tf.dispose([x, dy, g]);
  });

  it('maxPool gradient: ties go to the first maximum (cpu convention), hand-computed', async () => {
    const data = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3];
    // 3×3/2 pad 1 on 4×4: every window's first 9 (row-major) is x[1, 1] → dx[5] = 4.
    const expected = data.map((_, i) => (i === 5 ? 4 : 0));
    for (const backend of ['cpu', 'wasm'] as const) {
      await setTestBackend(backend);
      const x = tf.tensor4d(data, [1, 4, 4, 1]);
      const g = tf.grad((v: tf.Tensor) => tf.sum(tf.maxPool(ones4(v), 3, 2, 1)))(x);
      expect(Array.from(await g.data()), backend).toEqual(expected);
      tf.dispose([x, g]);
    }
  });

  it('nearest-resize gradient equals a brute-force adjoint (batch 2, all resize flags) on cpu and wasm', async () => {
    const configs: [number[], [number, number], boolean, boolean][] = [
      [[2, 3, 4, 2], [6, 8], false, false],
      [[2, 3, 4, 2], [7, 5], false, false],
      [[2, 3, 4, 2], [7, 5], true, false],
      [[2, 3, 4, 2], [7, 9], false, true],
    ];
    for (const [shape, size, alignCorners, halfPixelCenters] of configs) {
      const [B, H, W, C] = shape as [number, number, number, number];
      const [OH, OW] = size;
      const dyVals = new SeededRNG(3).normalArray(B * OH * OW * C);
      // Forward index map of tfjs resizeNearestNeighbor, then dx = Σ over the pixels that read each input.
      const src = (r: number, inS: number, outS: number): number => {
        const effIn = alignCorners && outS > 1 ? inS - 1 : inS;
        const effOut = alignCorners && outS > 1 ? outS - 1 : outS;
        const frac = halfPixelCenters ? (effIn / effOut) * (r + 0.5) : (effIn / effOut) * r;
        const i = Math.min(inS - 1, alignCorners ? Math.round(frac) : Math.floor(frac));
        return halfPixelCenters ? Math.max(0, i) : i;
      };
      const expected = new Float64Array(B * H * W * C);
      for (let b = 0; b < B; b++)
        for (let r = 0; r < OH; r++)
          for (let q = 0; q < OW; q++)
            for (let c = 0; c < C; c++)
              expected[((b * H + src(r, H, OH)) * W + src(q, W, OW)) * C + c]! +=
                dyVals[((b * OH + r) * OW + q) * C + c]!;
      for (const backend of ['cpu', 'wasm'] as const) {
        await setTestBackend(backend);
        const x = tf.zeros(shape);
        const dy = tf.tensor(dyVals, [B, OH, OW, C]);
        const before = tf.memory().numTensors;
        const g = tf.grad((v: tf.Tensor) =>
          tf.sum(tf.mul(tf.image.resizeNearestNeighbor(ones4(v), size, alignCorners, halfPixelCenters), dy)),
        )(x);
        const got = await g.data();
        g.dispose();
        expect(tf.memory().numTensors).toBe(before);
        for (let i = 0; i < expected.length; i++) expect(got[i]!).toBeCloseTo(expected[i]!, 4);
        tf.dispose([x, dy]);
      }
    }
  });

  it("the 'conv' (convolution over the batch) variant agrees with the default im2col filter gradient", async () => {
    await setTestBackend('wasm');
    const rng = new SeededRNG(9);
    const configs: [number[], number[], number | [number, number], 'same' | 'valid' | number][] = [
      [[2, 8, 8, 3], [3, 3, 3, 4], 1, 'same'],
      [[2, 9, 9, 3], [3, 3, 3, 4], 2, 1],
      [[1, 16, 16, 2], [7, 7, 2, 3], 2, 3],
      [[2, 9, 7, 3], [3, 2, 3, 2], [2, 1], 'valid'],
    ];
    for (const [xs, fs, s, p] of configs) {
      const x = rng.randn(xs) as tf.Tensor4D;
      const w = fs as [number, number, number, number];
      const outShape = tf.conv2d(x, tf.zeros(w) as tf.Tensor4D, s, p).shape;
      const dy = rng.randn(outShape) as tf.Tensor4D;
      const a = conv2dFilterGradient(x, dy, w, s, p);
      const b = conv2dFilterGradient(x, dy, w, s, p, 'NHWC', undefined, 'conv');
      const av = await a.data();
      const bv = await b.data();
      const scale = Math.max(...Array.from(av, Math.abs));
      for (let i = 0; i < av.length; i++) expect(Math.abs(av[i]! - bv[i]!) / scale).toBeLessThanOrEqual(1e-5);
      tf.dispose([x, dy, a, b]);
    }
  });

  it('bilinear-resize gradient equals the brute-force adjoint of the forward op on cpu and wasm', async () => {
    // Adjoint by definition: dx[k] = Σ_j dy[j] · ∂y[j]/∂x[k], with ∂y/∂x read off the forward op
    // applied to one-hot images (independent of the gradient code).
    const [B, H, W, C] = [1, 3, 4, 1];
    const size: [number, number] = [5, 7];
    for (const [alignCorners, halfPixelCenters] of [
      [false, false],
      [true, false],
      [false, true],
    ] as const) {
      const dyVals = new SeededRNG(4).normalArray(size[0] * size[1]);
      for (const backend of ['cpu', 'wasm'] as const) {
        await setTestBackend(backend);
        const dy = tf.tensor(dyVals, [B, ...size, C]);
        const expected: number[] = [];
        for (let k = 0; k < H * W; k++) {
          const e = tf.reshape(tf.oneHot(tf.tensor1d([k], 'int32'), H * W), [B, H, W, C]);
          const y = tf.image.resizeBilinear(e as tf.Tensor4D, size, alignCorners, halfPixelCenters);
          expected.push((await tf.sum(tf.mul(y, dy)).data())[0]!);
          tf.dispose([e, y]);
        }
        const x = tf.zeros([B, H, W, C]);
        const g = tf.grad((v: tf.Tensor) =>
          tf.sum(tf.mul(tf.image.resizeBilinear(ones4(v), size, alignCorners, halfPixelCenters), dy)),
        )(x);
        expect(g.shape).toEqual([B, H, W, C]);
        expectCloseArr(await g.data(), expected, 1e-5, `${backend} align=${alignCorners} half=${halfPixelCenters}`);
        tf.dispose([x, g, dy]);
      }
    }
  });

  it('registration is idempotent and reversible', async () => {
    expect(registerWasmTrainingKernels()).toEqual([]);
    for (const k of WASM_TRAINING_KERNELS) expect(tf.getKernel(k, 'wasm')).toBeDefined();
    unregisterWasmTrainingKernels();
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeUndefined();
    expect(tf.getKernel('Conv2DBackpropInput', 'wasm')).toBeDefined(); // the wasm original is restored
    await setTestBackend('wasm');
    const w = tf.ones([1, 1, 1, 1]) as tf.Tensor4D;
    const x = tf.ones([1, 2, 2, 1]) as tf.Tensor4D;
    expect(() => tf.grad((v: tf.Tensor) => tf.sum(tf.conv2d(x, v as tf.Tensor4D, 1, 'same')))(w)).toThrow(
      /Conv2DBackpropFilter/,
    );
    // The restored original Conv2DBackpropInput works (its setup ran even if wasm initialised later).
    const dx = tf
      .engine()
      .runKernel(
        'Conv2DBackpropInput',
        { dy: x, filter: w },
        { strides: 1, pad: 'same', dataFormat: 'NHWC', inputShape: [1, 2, 2, 1] },
      ) as tf.Tensor;
    expect(Array.from(await dx.data())).toEqual([1, 1, 1, 1]);
    dx.dispose();
    expect(registerWasmTrainingKernels().sort()).toEqual([
      'cpu/ResizeBilinearGrad',
      'cpu/ResizeNearestNeighborGrad',
      'wasm/Conv2DBackpropFilter',
      'wasm/Conv2DBackpropInput',
      'wasm/MaxPoolGrad',
      'wasm/ResizeBilinearGrad',
      'wasm/ResizeNearestNeighborGrad',
      'wasm/UnsortedSegmentSum',
    ]);
    tf.dispose([w, x]);
  });

  it('broadcast matMul gradient sums over the broadcast batch (hand-computed)', async () => {
    for (const backend of ['cpu', 'wasm'] as const) {
      await setTestBackend(backend);
      const x = tf.tensor3d([1, 2, 3, 4], [2, 1, 2]);
      const w = tf.tensor2d([0.5, -1], [2, 1]);
      // d/dw Σ_b x_b·w = Σ_b x_bᵀ = [1 + 3, 2 + 4].
      const g = tf.grad((v: tf.Tensor) => tf.sum(tf.matMul(x, v as tf.Tensor2D)))(w);
      expect(g.shape).toEqual([2, 1]);
      expect(Array.from(await g.data())).toEqual([4, 6]);
      tf.dispose([x, w, g]);
    }
  });

  it('matMul gradients for every transpose flag, shape regime and batch form equal the flagged-GEMM formulas', async () => {
    // Reference (tfjs-core BatchMatMul_grad.ts, computed with the forward kernel's transpose flags):
    // for L = Σ r ⊙ op(a)·op(b): NN dA = r·bᵀ, dB = aᵀ·r; NT dA = r·b, dB = rᵀ·a;
    // TN dA = b·rᵀ, dB = a·r; TT dA = bᵀ·rᵀ, dB = rᵀ·aᵀ. The gradient under test runs without flags
    // (explicit transposes, or the transposed product when that copies less), so the two paths differ.
    const shapes: [number, number, number][] = [
      [3, 5, 4], // square-ish: operands transposed directly
      [2, 40, 30], // small m: the transposed product copies less
      [30, 40, 2], // small n
      [1, 6, 5], // row vector (transpose = reshape)
      [6, 1, 5], // outer product (k = 1)
    ];
    for (const backend of ['cpu', 'wasm'] as const) {
      await setTestBackend(backend);
      for (const [m, k, n] of shapes) {
        for (const [tA, tB] of [
          [false, false],
          [false, true],
          [true, false],
          [true, true],
        ] as const) {
          for (const batch of [[], [2], [2, 1]] as number[][]) {
            const rng = new SeededRNG(m * 100 + k * 10 + n);
            const bA = batch.length === 2 ? [2] : batch; // [2, 1] case: a batched, b broadcast over it
            const bB = batch.length === 2 ? [1] : batch;
            const a = rng.randn([...bA, ...(tA ? [k, m] : [m, k])]);
            const b = rng.randn([...bB, ...(tB ? [n, k] : [k, n])]);
            const r = rng.randn([...bA, m, n]);
            const [ga, gb] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x, y, tA, tB), r)))([
              a,
              b,
            ]);
            const want = tf.tidy(() => {
              let da: tf.Tensor;
              let db: tf.Tensor;
              if (!tA && !tB) [da, db] = [tf.matMul(r, b, false, true), tf.matMul(a, r, true, false)];
              else if (!tA && tB) [da, db] = [tf.matMul(r, b), tf.matMul(r, a, true, false)];
              else if (tA && !tB) [da, db] = [tf.matMul(b, r, false, true), tf.matMul(a, r)];
              else [da, db] = [tf.matMul(b, r, true, true), tf.matMul(r, a, true, true)];
              if (batch.length === 2) db = tf.sum(db, 0, true);
              return [da, db];
            });
            const label = `${backend} ${m}×${k}×${n} tA=${tA} tB=${tB} batch=[${batch.join(',')}]`;
            expect(ga!.shape, label).toEqual(a.shape);
            expect(gb!.shape, label).toEqual(b.shape);
            expectCloseArr(await ga!.data(), await want[0]!.data(), 1e-4, `${label} dA`);
            expectCloseArr(await gb!.data(), await want[1]!.data(), 1e-4, `${label} dB`);
            tf.dispose([a, b, r, ga!, gb!, ...want]);
          }
        }
      }
    }
  });

  it('broadcast add/mul gradients reduce over leading, middle and trailing axes like a plain loop', async () => {
    // d/db Σ r ⊙ (a + b) = Σ of r over the broadcast axes; d/db Σ r ⊙ (a ⊙ b) = Σ of r ⊙ a. The
    // reference loops in float64 over the flat index; the gradient under test sums by GEMM (wasm).
    const cases: { a: number[]; b: number[] }[] = [
      { a: [2, 3, 4, 5], b: [5] }, // leading axes (bias)
      { a: [2, 3, 4, 5], b: [2, 1, 1, 5] }, // middle block (time embedding)
      { a: [3, 4, 5], b: [3, 1, 5] }, // middle axis (GroupNorm mean)
      { a: [2, 3, 4], b: [2, 3, 1] }, // trailing axis (tf.sum)
      { a: [2, 3, 4, 5], b: [1, 3, 1, 5] }, // two blocks (tf.sum)
      { a: [70, 2, 3], b: [70, 1, 3] }, // outer > 64 (tf.sum)
    ];
    for (const backend of ['cpu', 'wasm'] as const) {
      await setTestBackend(backend);
      for (const { a: aShape, b: bShape } of cases) {
        const rng = new SeededRNG(aShape.length * 7 + bShape[0]!);
        const a = rng.randn(aShape);
        const b = rng.randn(bShape);
        const r = rng.randn(aShape);
        const gAdd = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.add(a, v), r)))(b);
        const gMul = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.mul(a, v), r)))(b);
        const [av, rv] = [await a.data(), await r.data()];
        const wantAdd = new Float64Array(b.size);
        const wantMul = new Float64Array(b.size);
        const idx = new Array<number>(aShape.length).fill(0);
        const lead = aShape.length - bShape.length; // shapes align on the right
        for (let i = 0; i < a.size; i++) {
          let rem = i;
          for (let d = aShape.length - 1; d >= 0; d--) {
            idx[d] = rem % aShape[d]!;
            rem = Math.floor(rem / aShape[d]!);
          }
          let j = 0;
          for (let d = 0; d < bShape.length; d++) j = j * bShape[d]! + (bShape[d] === 1 ? 0 : idx[d + lead]!);
          wantAdd[j]! += rv[i]!;
          wantMul[j]! += rv[i]! * av[i]!;
        }
        const label = `${backend} [${aShape.join(',')}] + [${bShape.join(',')}]`;
        expect(gAdd.shape, label).toEqual(bShape);
        expectCloseArr(await gAdd.data(), wantAdd, 1e-4, `${label} add`);
        expectCloseArr(await gMul.data(), wantMul, 1e-4, `${label} mul`);
        tf.dispose([a, b, r, gAdd, gMul]);
      }
    }
  });

  it('batchNorm (FusedBatchNorm) gradients, hand-computed', async () => {
    for (const backend of ['cpu', 'wasm'] as const) {
      await setTestBackend(backend);
      // y = (x − μ)/√(σ² + ε)·γ + β with x = [1, 2], μ = 1, σ² = 4, ε = 0, γ = 3, β = 0.
      const ins = [tf.tensor1d([1, 2]), tf.tensor1d([1]), tf.tensor1d([4]), tf.tensor1d([3]), tf.tensor1d([0])];
      const gs = tf.grads((x: tf.Tensor, m: tf.Tensor, v: tf.Tensor, sc: tf.Tensor, o: tf.Tensor) =>
        tf.sum(tf.batchNorm(x, m, v, o, sc, 0)),
      )(ins);
      const vals = await Promise.all(gs.map(async (g) => Array.from(await g.data())));
      // ∂/∂x = γ/2 = 1.5; ∂/∂μ = −Σ γ/2 = −3; ∂/∂σ² = Σ −½·(1/8)·(x − μ)·γ = −0.1875;
      // ∂/∂γ = Σ (x − μ)/2 = 0.5; ∂/∂β = 2.
      expect(vals).toEqual([[1.5, 1.5], [-3], [-0.1875], [0.5], [2]]);
      tf.dispose([...ins, ...gs]);
    }
  });

  it('registerTrainingGradients is idempotent', () => {
    expect(registerTrainingGradients()).toEqual([]);
    expect(tf.getGradient('Conv2D')).toBeDefined();
  });

  it('many training steps on wasm leave numTensors unchanged', async () => {
    await setTestBackend('wasm');
    const c = cases[cases.length - 1]!;
    const inputs = makeInputs(c);
    const vars = inputs.slice(1).map((t) => tf.variable(t));
    const x = inputs[0]!;
    const before = tf.memory().numTensors;
    for (let step = 0; step < 20; step++) {
      const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(tinyUNet(x, ...vars))) as tf.Scalar, vars);
      tf.tidy(() => vars.forEach((v) => v.assign(tf.sub(v, tf.mul(grads[v.name]!, 1e-3)))));
      await value.data();
      tf.dispose([value, ...Object.values(grads)]);
    }
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([...inputs, ...vars]);
  });
});
