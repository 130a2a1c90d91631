/**
 * Basic layers of the three papers' networks, NHWC, registered under PyTorch parameter names.
 *
 * - {@link Conv2d}: `torch.nn.Conv2d` with symmetric zero padding (PyTorch semantics, not TF `'same'`).
 * - {@link Linear}: `torch.nn.Linear` (weights `[in, out]`), or a kernel-1 `Conv1d` applied per token.
 * - {@link GroupNorm}: `torch.nn.GroupNorm` composed from differentiable tfjs-core ops (tfjs has none).
 * - {@link Embedding}: `torch.nn.Embedding`.
 * - {@link silu}, {@link dropout}, {@link avgPool2x2}, {@link upsampleNearest2x}.
 *
 * All ops used here have gradients on cpu, wasm and webgpu (no fused kernels: their custom gradients
 * always compute the filter gradient, and wasm has no Conv2DBackpropFilter kernel).
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError } from '../errors.js';
import { SeededRNG } from '../random/rng.js';
import { Module, torchDefaultInit, type TorchLayout } from './module.js';

/** Options shared by the layer constructors: where initial values come from. */
export interface InitOptions {
  /** Generator for PyTorch-like default initialisation (default: a fresh `SeededRNG(0)`). */
  rng?: SeededRNG;
  /** Zero-initialise weight and bias (upstream `zero_module`). */
  zeroInit?: boolean;
}

function initTensor(rng: SeededRNG, shape: number[], fanIn: number, zero: boolean): tf.Tensor {
  return zero ? tf.zeros(shape) : torchDefaultInit(rng, shape, fanIn);
}

/** A container whose children are named like a PyTorch `nn.Sequential` / `nn.ModuleList` / attributes. */
export class ModuleDict extends Module {
  /** Registers `module` under `name` (e.g. `0`, `2`, `conv`) and returns it. */
  set<M extends Module>(name: string | number, module: M): M {
    return this.addModule(name, module);
  }
}

export interface Conv2dOptions extends InitOptions {
  stride?: number;
  /** Symmetric zero padding on H and W, as in `torch.nn.Conv2d(padding=p)`. */
  padding?: number;
  bias?: boolean;
}

/** `torch.nn.Conv2d` on NHWC input with an HWIO weight (`weight`, `bias`). */
export class Conv2d extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable | null;
  readonly stride: number;
  readonly padding: number;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernelSize: number,
    options: Conv2dOptions = {},
  ) {
    super();
    const { stride = 1, padding = 0, bias = true, rng = new SeededRNG(0), zeroInit = false } = options;
    this.stride = stride;
    this.padding = padding;
    const fanIn = inChannels * kernelSize * kernelSize;
    this.weight = this.addParameter(
      'weight',
      initTensor(rng, [kernelSize, kernelSize, inChannels, outChannels], fanIn, zeroInit),
      'conv2d',
    );
    this.bias = bias ? this.addParameter('bias', initTensor(rng, [outChannels], fanIn, zeroInit)) : null;
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    if (x.shape[3] !== this.inChannels) {
      throw new ArgumentError(
        'x',
        `Conv2d expects ${this.inChannels} channels (NHWC), got shape [${x.shape.join(', ')}]`,
      );
    }
    return tf.tidy(() => {
      const k = this.kernelSize;
      const p = this.padding;
      let y: tf.Tensor4D;
      if (p === 0) {
        y = tf.conv2d(x, this.weight as tf.Tensor4D, this.stride, 'valid');
      } else if (this.stride === 1 && 2 * p === k - 1) {
        // Stride 1 with p = (k−1)/2: TF 'same' pads exactly p on each side, like PyTorch.
        y = tf.conv2d(x, this.weight as tf.Tensor4D, 1, 'same');
      } else {
        // Symmetric explicit padding (TF 'same' pads 0 before / 1 after for stride 2 on even sizes).
        const xp = tf.pad(x, [
          [0, 0],
          [p, p],
          [p, p],
          [0, 0],
        ]);
        y = tf.conv2d(xp, this.weight as tf.Tensor4D, this.stride, 'valid');
      }
      return this.bias ? tf.add(y, this.bias) : y;
    });
  }
}

export interface LinearOptions extends InitOptions {
  bias?: boolean;
  /**
   * Upstream layout of the weight: `linear` (`nn.Linear`, `[out, in]`) or `conv1dK1` (a kernel-1
   * `nn.Conv1d`, `[out, in, 1]`, e.g. guided-diffusion `qkv`). Both are `[in, out]` in ADX.
   */
  torchLayout?: Extract<TorchLayout, 'linear' | 'conv1dK1'>;
}

/** `torch.nn.Linear` (or a kernel-1 `Conv1d`) on the last axis of a rank-2 or rank-3 tensor. */
export class Linear extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable | null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: LinearOptions = {},
  ) {
    super();
    const { bias = true, rng = new SeededRNG(0), zeroInit = false, torchLayout = 'linear' } = options;
    this.weight = this.addParameter(
      'weight',
      initTensor(rng, [inFeatures, outFeatures], inFeatures, zeroInit),
      torchLayout,
    );
    this.bias = bias ? this.addParameter('bias', initTensor(rng, [outFeatures], inFeatures, zeroInit)) : null;
  }

  apply<T extends tf.Tensor2D | tf.Tensor3D>(x: T): T {
    const last = x.shape[x.rank - 1];
    if (last !== this.inFeatures || (x.rank !== 2 && x.rank !== 3)) {
      throw new ArgumentError(
        'x',
        `Linear expects [..., ${this.inFeatures}] of rank 2 or 3, got [${x.shape.join(', ')}]`,
      );
    }
    return tf.tidy(() => {
      // y = x·W + b with W stored [in, out]. On wasm this is ~10× faster than x·Wᵀ with transposeB
      // (2.3 ms vs 24.7 ms for [2048, 64]·[64, 192]; nn/__tests__/matmul-orientation.bench.ts).
      const x2 = x.rank === 2 ? (x as tf.Tensor2D) : tf.reshape(x, [-1, this.inFeatures]);
      let y: tf.Tensor = tf.matMul(x2 as tf.Tensor2D, this.weight as tf.Tensor2D);
      if (this.bias) y = tf.add(y, this.bias);
      if (x.rank === 2) return y as T;
      const [n, t] = x.shape as [number, number, number];
      return tf.reshape(y, [n, t, this.outFeatures]) as T;
    });
  }
}

/**
 * Group normalisation over the channel axis (last) of an NHWC or `[N, T, C]` tensor, PyTorch's
 * `F.group_norm`: biased variance over (spatial × channels-in-group), `(x − μ)/√(σ² + eps)`, two-pass
 * (mean, then the mean of squared deviations) like PyTorch.
 *
 * On cpu and wasm the statistics are two plain GEMMs over the whole batch (XNNPACK's fast path on
 * wasm, and GEMMs again in the backward pass): per-image channel sums `S·X` with `S` the [N, N·P]
 * block matrix of ones and `X` the input as [N·P, C], then the group average `(S·X)·G` with
 * `G[c, c'] = 1/(P·Cg)` where c and c' share a group. The earlier per-image `1ᵀ·Xᵢ` matMuls with
 * unstack/stack/tile took ~749 small kernels per THOR training step and a slow backward; this form
 * gives the same numbers (the same sums in the same order) with 4 GEMMs per call. Its effect on a
 * whole wasm training step was within the noise of the shared machine (bench/train.ts); the
 * backward pass is plain GEMMs plus broadcast reductions, which the training gradients run as
 * GEMMs too. GPU backends use `tf.moments`.
 */
export function groupNorm(
  x: tf.Tensor,
  numGroups: number,
  eps: number,
  gamma?: tf.Tensor1D | tf.Variable,
  beta?: tf.Tensor1D | tf.Variable,
): tf.Tensor {
  const c = x.shape[x.rank - 1]!;
  if (c % numGroups !== 0) throw new ArgumentError('x', `channels ${c} not divisible by ${numGroups} groups`);
  const cg = c / numGroups;
  return tf.tidy(() => {
    const n = x.shape[0]!;
    let y: tf.Tensor;
    const backend = tf.getBackend();
    if (backend === 'webgpu' || backend === 'webgl') {
      const g = tf.reshape(x, [n, -1, numGroups, cg]);
      const { mean, variance } = tf.moments(g, [1, 3], true);
      y = tf.reshape(tf.mul(tf.sub(g, mean), tf.rsqrt(tf.add(variance, eps))), x.shape);
    } else {
      const p = x.size / (n * c);
      // S [N, N·P]: row i sums the P positions of image i.
      const s = new Float32Array(n * n * p);
      for (let i = 0; i < n; i++) s.fill(1, i * n * p + i * p, i * n * p + (i + 1) * p);
      const sums = tf.tensor2d(s, [n, n * p]);
      // G [C, C]: channel sums → group mean, broadcast back to every channel of the group.
      const gm = new Float32Array(c * c);
      for (let i = 0; i < c; i++) {
        const g0 = Math.floor(i / cg) * cg;
        gm.fill(1 / (p * cg), i * c + g0, i * c + g0 + cg);
      }
      const groupAvg = tf.tensor2d(gm, [c, c]);
      const groupMean = (t: tf.Tensor): tf.Tensor =>
        tf.reshape(tf.matMul(tf.matMul(sums, tf.reshape(t, [n * p, c])), groupAvg), [n, 1, c]);
      // F.group_norm: two-pass mean, then biased variance of the deviations.
      const x3 = tf.reshape(x, [n, p, c]);
      const d = tf.sub(x3, groupMean(x3));
      const variance = groupMean(tf.square(d));
      y = tf.reshape(tf.mul(d, tf.rsqrt(tf.add(variance, eps))), x.shape);
    }
    if (gamma) y = tf.mul(y, gamma);
    if (beta) y = tf.add(y, beta);
    return y;
  });
}

/** `torch.nn.GroupNorm(num_groups, num_channels, eps, affine)` (`weight`, `bias`). */
export class GroupNorm extends Module {
  readonly weight: tf.Variable | null;
  readonly bias: tf.Variable | null;

  constructor(
    readonly numGroups: number,
    readonly numChannels: number,
    readonly eps = 1e-5,
    affine = true,
  ) {
    super();
    if (!Number.isInteger(numGroups) || numGroups <= 0 || numChannels % numGroups !== 0) {
      throw new ArgumentError('numGroups', `${numChannels} channels are not divisible into ${numGroups} groups`);
    }
    this.weight = affine ? this.addParameter('weight', tf.ones([numChannels])) : null;
    this.bias = affine ? this.addParameter('bias', tf.zeros([numChannels])) : null;
  }

  apply<T extends tf.Tensor>(x: T): T {
    if (x.shape[x.rank - 1] !== this.numChannels) {
      throw new ArgumentError('x', `GroupNorm expects ${this.numChannels} channels last, got [${x.shape.join(', ')}]`);
    }
    return groupNorm(x, this.numGroups, this.eps, this.weight ?? undefined, this.bias ?? undefined) as T;
  }
}

/** `torch.nn.Embedding(num, dim)` (`weight` `[num, dim]`, N(0, 1) init). */
export class Embedding extends Module {
  readonly weight: tf.Variable;

  constructor(
    readonly numEmbeddings: number,
    readonly embeddingDim: number,
    options: InitOptions = {},
  ) {
    super();
    const { rng = new SeededRNG(0), zeroInit = false } = options;
    this.weight = this.addParameter(
      'weight',
      zeroInit ? tf.zeros([numEmbeddings, embeddingDim]) : rng.randn([numEmbeddings, embeddingDim]),
    );
  }

  /** Looks up integer labels `[N]` → `[N, dim]`. */
  apply(labels: tf.Tensor1D): tf.Tensor2D {
    return tf.tidy(() => tf.gather(this.weight, tf.cast(labels, 'int32')) as tf.Tensor2D);
  }
}

/** SiLU / swish: x·σ(x). */
export function silu<T extends tf.Tensor>(x: T): T {
  return tf.tidy(() => tf.mul(x, tf.sigmoid(x)));
}

/**
 * Inverted dropout (`torch.nn.Dropout`): identity unless `training` and `p > 0`; the keep mask is
 * drawn from `rng` so it is identical on every backend.
 */
export function dropout<T extends tf.Tensor>(x: T, p: number, training: boolean, rng?: SeededRNG): T {
  if (!(p >= 0 && p < 1)) throw new ArgumentError('p', `dropout probability must be in [0, 1), got ${p}`);
  if (!training || p === 0) return x.clone();
  if (!rng) throw new ArgumentError('options.rng', 'dropout in training mode needs a SeededRNG');
  return tf.tidy(() => {
    const keep = tf.cast(tf.greaterEqual(rng.rand(x.shape), p), 'float32');
    return tf.mul(x, tf.div(keep, 1 - p));
  });
}

/** 2×2 average pooling with stride 2 (`nn.AvgPool2d(2)`), via reshape + mean (differentiable everywhere). */
export function avgPool2x2(x: tf.Tensor4D): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  if (h % 2 !== 0 || w % 2 !== 0) throw new ArgumentError('x', `avg-pool 2×2 needs even H and W, got ${h}×${w}`);
  return tf.tidy(() => tf.mean(tf.reshape(x, [n, h / 2, 2, w / 2, 2, c]), [2, 4]) as tf.Tensor4D);
}

/**
 * Nearest-neighbour ×2 upsampling (`F.interpolate(scale_factor=2, mode="nearest")`), built from
 * reshape + concat so that it is differentiable on every backend (tfjs has no rank-6 Tile gradient,
 * and not every backend has ResizeNearestNeighborGrad).
 */
export function upsampleNearest2x(x: tf.Tensor4D): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  return tf.tidy(() => {
    const cols = tf.reshape(x, [n, h, w, 1, c]);
    const wide = tf.reshape(tf.concat([cols, cols], 3), [n, h, 1, 2 * w, c]);
    return tf.reshape(tf.concat([wide, wide], 2), [n, 2 * h, 2 * w, c]) as tf.Tensor4D;
  });
}
