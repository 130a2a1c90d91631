/**
 * Self-attention blocks on NHWC feature maps. Tokens are the H·W positions in row-major order.
 *
 * - {@link MonaiAttentionBlock}: MONAI-generative `AttentionBlock` as copied into THOR
 *   (`net_utils/nets/diffusion_unet.py`): GN → to_q/to_k/to_v Linear → softmax(q·kᵀ/√(C/heads))·v
 *   → + residual. `proj_attn` exists but `forward` never applies it; it is kept for weight parity.
 * - {@link QKVAttentionBlock}: guided-diffusion `AttentionBlock` (`guided_diffusion/unet.py`): GN →
 *   kernel-1 Conv1d `qkv` → `QKVAttentionLegacy` or `QKVAttention` (new order) → `proj_out` (zero-init)
 *   → + residual.
 * - {@link AttentionPool2d}: guided-diffusion `AttentionPool2d`, the classifier head.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError } from '../errors.js';
import { SeededRNG } from '../random/rng.js';
import { GroupNorm, Linear } from './layers.js';
import { Module } from './module.js';

/** `[N, T, heads·ch]` → `[N·heads, T, ch]` (channels split into contiguous per-head groups). */
function splitHeads(x: tf.Tensor3D, heads: number): tf.Tensor3D {
  if (heads === 1) return x;
  const [n, t, c] = x.shape;
  return tf.reshape(tf.transpose(tf.reshape(x, [n, t, heads, c / heads]), [0, 2, 1, 3]), [n * heads, t, c / heads]);
}

/** Inverse of {@link splitHeads}. */
function mergeHeads(x: tf.Tensor3D, heads: number): tf.Tensor3D {
  if (heads === 1) return x;
  const [nh, t, ch] = x.shape;
  const n = nh / heads;
  return tf.reshape(tf.transpose(tf.reshape(x, [n, heads, t, ch]), [0, 2, 1, 3]), [n, t, heads * ch]);
}

/** One `[T, ch]` attention problem; both matMuls have an untransposed right operand. */
function attention2d(
  q: tf.Tensor2D,
  k: tf.Tensor2D,
  v: tf.Tensor2D,
  scales: { q?: number; k?: number; scores?: number },
): tf.Tensor2D {
  const qs = scales.q === undefined ? q : tf.mul(q, scales.q);
  const ks = scales.k === undefined ? k : tf.mul(k, scales.k);
  let w: tf.Tensor2D = tf.matMul(qs, tf.transpose(ks));
  if (scales.scores !== undefined) w = tf.mul(w, scales.scores);
  return tf.matMul(tf.softmax(w, -1), v);
}

/**
 * Scaled dot-product attention on `[B, T, ch]` tensors: softmax over keys of
 * `(q·qScale)(k·kScale)ᵀ·scoreScale`, times v. The scalings are applied where upstream applies them
 * (guided-diffusion scales q and k by ch^(−¼) each; MONAI scales the scores by 1/√ch).
 *
 * Orientation matters on wasm: a rank-2 matMul whose right operand is not transposed takes
 * XNNPACK's fast path, batched or transposed ones a slow generic loop. For B = 4, T = 1024,
 * ch = 32 the per-slice rank-2 form took 24 ms against 246 ms batched (cpu: equal, 1.3 s both;
 * nn/__tests__/matmul-orientation.bench.ts, measured on a loaded 2-core machine). GPU backends keep
 * one batched dispatch.
 */
export function scaledDotProductAttention(
  q: tf.Tensor3D,
  k: tf.Tensor3D,
  v: tf.Tensor3D,
  scales: { q?: number; k?: number; scores?: number },
): tf.Tensor3D {
  return tf.tidy(() => {
    const backend = tf.getBackend();
    if (backend === 'webgpu' || backend === 'webgl') {
      const qs = scales.q === undefined ? q : tf.mul(q, scales.q);
      const ks = scales.k === undefined ? k : tf.mul(k, scales.k);
      let w: tf.Tensor3D = tf.matMul(qs, ks, false, true);
      if (scales.scores !== undefined) w = tf.mul(w, scales.scores);
      return tf.matMul(tf.softmax(w, -1), v);
    }
    const [b, t] = q.shape;
    if (b === 1) {
      const r = (x: tf.Tensor3D) => tf.reshape(x, [x.shape[1], x.shape[2]]) as tf.Tensor2D;
      return tf.reshape(attention2d(r(q), r(k), r(v), scales), [1, t, v.shape[2]]) as tf.Tensor3D;
    }
    const ks = tf.unstack(k) as tf.Tensor2D[];
    const vs = tf.unstack(v) as tf.Tensor2D[];
    const outs = (tf.unstack(q) as tf.Tensor2D[]).map((qi, i) => attention2d(qi, ks[i]!, vs[i]!, scales));
    return tf.stack(outs) as tf.Tensor3D;
  });
}

/**
 * guided-diffusion's QKV attention on a per-token `qkv` tensor `[N, T, 3·C]`:
 * - `legacy` (`QKVAttentionLegacy`): channels grouped per head as [q_h, k_h, v_h];
 * - `new` (`QKVAttention`): split into q, k, v first, then heads.
 * Returns `[N, T, C]` with per-head outputs in contiguous channel groups.
 */
export function qkvAttention(qkv: tf.Tensor3D, numHeads: number, order: 'legacy' | 'new'): tf.Tensor3D {
  const [n, t, width] = qkv.shape;
  if (width % (3 * numHeads) !== 0) {
    throw new ArgumentError('qkv', `width ${width} is not divisible by 3·${numHeads} heads`);
  }
  const ch = width / (3 * numHeads);
  return tf.tidy(() => {
    // legacy: [N, T, heads, 3, ch]; new: [N, T, 3, heads, ch] — split as the rank-3 views
    // [N·T·heads, 3, ch] / [N·T, 3, heads·ch] (same elements; the wasm Slice kernel copies rank ≤ 4
    // by rows but rank 5 element by element: 26 ms per split of a wolleb-small qkv).
    const shaped =
      order === 'legacy' ? tf.reshape(qkv, [n * t * numHeads, 3, ch]) : tf.reshape(qkv, [n * t, 3, numHeads * ch]);
    const [q, k, v] = tf.split(shaped, 3, 1).map((p) => splitHeads(tf.reshape(p, [n, t, numHeads * ch]), numHeads));
    // scale = 1/√√ch applied to q and k (more stable than dividing afterwards; upstream comment)
    const scale = 1 / Math.sqrt(Math.sqrt(ch));
    return mergeHeads(scaledDotProductAttention(q!, k!, v!, { q: scale, k: scale }), numHeads);
  });
}

/** NHWC `[N, H, W, C]` → tokens `[N, H·W, C]`. */
function toTokens(x: tf.Tensor4D): tf.Tensor3D {
  const [n, h, w, c] = x.shape;
  return tf.reshape(x, [n, h * w, c]);
}

export interface MonaiAttentionOptions {
  /** Channels per head; `undefined` → 1 head (MONAI `num_head_channels=None`). */
  numHeadChannels?: number;
  normNumGroups?: number;
  normEps?: number;
  rng?: SeededRNG;
}

/** MONAI-generative `AttentionBlock` (keys `norm`, `to_q`, `to_k`, `to_v`, unused `proj_attn`). */
export class MonaiAttentionBlock extends Module {
  readonly numHeads: number;
  readonly norm: GroupNorm;
  readonly toQ: Linear;
  readonly toK: Linear;
  readonly toV: Linear;
  /** Registered for state-dict parity; upstream `forward` never applies it. */
  readonly projAttn: Linear;

  constructor(
    readonly numChannels: number,
    options: MonaiAttentionOptions = {},
  ) {
    super();
    const { numHeadChannels, normNumGroups = 32, normEps = 1e-6, rng = new SeededRNG(0) } = options;
    if (numHeadChannels !== undefined && (numHeadChannels <= 0 || numChannels % numHeadChannels !== 0)) {
      throw new ArgumentError('numHeadChannels', `${numChannels} channels are not divisible by ${numHeadChannels}`);
    }
    this.numHeads = numHeadChannels === undefined ? 1 : numChannels / numHeadChannels;
    this.norm = this.addModule('norm', new GroupNorm(normNumGroups, numChannels, normEps));
    this.toQ = this.addModule('to_q', new Linear(numChannels, numChannels, { rng }));
    this.toK = this.addModule('to_k', new Linear(numChannels, numChannels, { rng }));
    this.toV = this.addModule('to_v', new Linear(numChannels, numChannels, { rng }));
    this.projAttn = this.addModule('proj_attn', new Linear(numChannels, numChannels, { rng }));
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const h = toTokens(this.norm.apply(x));
      const q = splitHeads(this.toQ.apply(h), this.numHeads);
      const k = splitHeads(this.toK.apply(h), this.numHeads);
      const v = splitHeads(this.toV.apply(h), this.numHeads);
      // baddbmm(q, kᵀ, alpha = 1/√(C/heads)) → softmax → bmm(·, v)
      const scale = 1 / Math.sqrt(this.numChannels / this.numHeads);
      const a = mergeHeads(scaledDotProductAttention(q, k, v, { scores: scale }), this.numHeads);
      return tf.add(tf.reshape(a, x.shape), x) as tf.Tensor4D;
    });
  }
}

export interface QKVAttentionOptions {
  /** Number of heads when `numHeadChannels` is −1 (upstream default 1). */
  numHeads?: number;
  /** Channels per head; −1 → use `numHeads`. */
  numHeadChannels?: number;
  useNewAttentionOrder?: boolean;
  normNumGroups?: number;
  normEps?: number;
  rng?: SeededRNG;
}

/** guided-diffusion `AttentionBlock` (keys `norm`, `qkv`, `proj_out`). */
export class QKVAttentionBlock extends Module {
  readonly numHeads: number;
  readonly order: 'legacy' | 'new';
  readonly norm: GroupNorm;
  readonly qkv: Linear;
  readonly projOut: Linear;

  constructor(
    readonly channels: number,
    options: QKVAttentionOptions = {},
  ) {
    super();
    const {
      numHeads = 1,
      numHeadChannels = -1,
      useNewAttentionOrder = false,
      normNumGroups = 32,
      normEps = 1e-5,
      rng = new SeededRNG(0),
    } = options;
    if (numHeadChannels === -1) {
      if (!Number.isInteger(numHeads) || numHeads <= 0 || channels % numHeads !== 0) {
        throw new ArgumentError('numHeads', `${channels} channels are not divisible into ${numHeads} heads`);
      }
      this.numHeads = numHeads;
    } else {
      if (numHeadChannels <= 0 || channels % numHeadChannels !== 0) {
        throw new ArgumentError('numHeadChannels', `q,k,v channels ${channels} not divisible by ${numHeadChannels}`);
      }
      this.numHeads = channels / numHeadChannels;
    }
    this.order = useNewAttentionOrder ? 'new' : 'legacy';
    this.norm = this.addModule('norm', new GroupNorm(normNumGroups, channels, normEps));
    this.qkv = this.addModule('qkv', new Linear(channels, 3 * channels, { rng, torchLayout: 'conv1dK1' }));
    this.projOut = this.addModule(
      'proj_out',
      new Linear(channels, channels, { rng, torchLayout: 'conv1dK1', zeroInit: true }),
    );
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const qkv = this.qkv.apply(toTokens(this.norm.apply(x)));
      const h = this.projOut.apply(qkvAttention(qkv, this.numHeads, this.order));
      return tf.add(x, tf.reshape(h, x.shape)) as tf.Tensor4D;
    });
  }
}

/**
 * guided-diffusion `AttentionPool2d(spacial_dim, embed_dim, num_heads_channels, output_dim)`:
 * tokens = [spatial mean, H·W positions] + `positional_embedding` → `qkv_proj` → new-order
 * QKV attention → `c_proj` → token 0. Keys `positional_embedding` (`[C, H·W+1]`), `qkv_proj`, `c_proj`.
 */
export class AttentionPool2d extends Module {
  readonly numHeads: number;
  readonly positionalEmbedding: tf.Variable;
  readonly qkvProj: Linear;
  readonly cProj: Linear;
  readonly outputDim: number;

  constructor(
    readonly spacialDim: number,
    readonly embedDim: number,
    numHeadsChannels: number,
    outputDim?: number,
    options: { rng?: SeededRNG } = {},
  ) {
    super();
    const rng = options.rng ?? new SeededRNG(0);
    if (numHeadsChannels <= 0 || embedDim % numHeadsChannels !== 0) {
      throw new ArgumentError('numHeadsChannels', `${embedDim} is not divisible by ${numHeadsChannels}`);
    }
    this.numHeads = embedDim / numHeadsChannels;
    this.outputDim = outputDim ?? embedDim;
    const tokens = spacialDim * spacialDim + 1;
    // th.randn(embed_dim, spacial_dim ** 2 + 1) / embed_dim ** 0.5
    this.positionalEmbedding = this.addParameter(
      'positional_embedding',
      tf.tidy(() => tf.div(rng.randn([embedDim, tokens]), Math.sqrt(embedDim))),
    );
    this.qkvProj = this.addModule('qkv_proj', new Linear(embedDim, 3 * embedDim, { rng, torchLayout: 'conv1dK1' }));
    this.cProj = this.addModule('c_proj', new Linear(embedDim, this.outputDim, { rng, torchLayout: 'conv1dK1' }));
  }

  /** `[N, S, S, C]` → `[N, outputDim]`. */
  apply(x: tf.Tensor4D): tf.Tensor2D {
    const [, h, w, c] = x.shape;
    if (h !== this.spacialDim || w !== this.spacialDim || c !== this.embedDim) {
      throw new ArgumentError(
        'x',
        `AttentionPool2d expects [N, ${this.spacialDim}, ${this.spacialDim}, ${this.embedDim}], got [${x.shape.join(', ')}]`,
      );
    }
    return tf.tidy(() => {
      const tokens = toTokens(x);
      let t = tf.concat([tf.mean(tokens, 1, true) as tf.Tensor3D, tokens], 1);
      t = tf.add(t, tf.transpose(this.positionalEmbedding)) as tf.Tensor3D;
      const a = qkvAttention(this.qkvProj.apply(t), this.numHeads, 'new');
      // c_proj is per token; upstream returns token 0 of its output.
      const first = tf.slice(a, [0, 0, 0], [-1, 1, -1]);
      return tf.reshape(this.cProj.apply(first), [-1, this.outputDim]) as tf.Tensor2D;
    });
  }
}
