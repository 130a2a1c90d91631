/**
 * Residual blocks and resampling layers (NHWC), with the official parameter names.
 *
 * - MONAI-generative (THOR's `diffusion_unet.py`): {@link MonaiResnetBlock}, {@link MonaiDownsample},
 *   {@link MonaiUpsample}. MONAI's `Convolution(conv_only=True)` wraps the conv as `<name>.conv`.
 * - guided-diffusion / LDM (`unet.py` / `openaimodel.py`): {@link OpenAIResBlock} (additive or
 *   scale-shift embedding, up/down variants), {@link OpenAIDownsample}, {@link OpenAIUpsample}.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError } from '../errors.js';
import { SeededRNG } from '../random/rng.js';
import { avgPool2x2, Conv2d, dropout, GroupNorm, Linear, ModuleDict, silu, upsampleNearest2x } from './layers.js';
import { Module } from './module.js';

/** Per-forward state blocks need: dropout mode and its generator. */
export interface BlockContext {
  training: boolean;
  rng?: SeededRNG;
}

export const EVAL_CONTEXT: BlockContext = { training: false };

/** A block taking the feature map and the embedding (guided-diffusion's `TimestepBlock`). */
export interface EmbeddingBlock extends Module {
  forward(x: tf.Tensor4D, emb: tf.Tensor2D, ctx: BlockContext): tf.Tensor4D;
}

/** `emb [N|1, C]` → `[N|1, 1, 1, C]` to broadcast over H×W (upstream `emb_out[..., None, None]`). */
function asSpatial(emb: tf.Tensor2D): tf.Tensor4D {
  return tf.reshape(emb, [emb.shape[0], 1, 1, emb.shape[1]]);
}

function checkChannels(x: tf.Tensor4D, channels: number, block: string): void {
  if (x.rank !== 4 || x.shape[3] !== channels) {
    throw new ArgumentError('x', `${block} expects [N, H, W, ${channels}], got [${x.shape.join(', ')}]`);
  }
}

// ---------------------------------------------------------------------------------------------
// MONAI-generative
// ---------------------------------------------------------------------------------------------

/** MONAI `Convolution(spatial_dims=2, conv_only=True)`: a Conv2d stored as child `conv`. */
export class MonaiConvolution extends Module {
  readonly conv: Conv2d;
  constructor(
    inChannels: number,
    outChannels: number,
    kernelSize: number,
    options: { stride?: number; padding?: number; rng?: SeededRNG; zeroInit?: boolean } = {},
  ) {
    super();
    this.conv = this.addModule('conv', new Conv2d(inChannels, outChannels, kernelSize, options));
  }
  apply(x: tf.Tensor4D): tf.Tensor4D {
    return this.conv.apply(x);
  }
}

export interface MonaiBlockOptions {
  normNumGroups?: number;
  normEps?: number;
  rng?: SeededRNG;
}

/** MONAI `Downsample(use_conv)`: `op` = conv3×3 stride 2 pad 1, or a 2×2 average pool. */
export class MonaiDownsample extends Module implements EmbeddingBlock {
  readonly op: MonaiConvolution | null;
  constructor(
    readonly numChannels: number,
    useConv: boolean,
    options: { outChannels?: number; padding?: number; rng?: SeededRNG } = {},
  ) {
    super();
    const out = options.outChannels ?? numChannels;
    if (!useConv && out !== numChannels) throw new ArgumentError('outChannels', 'pooling cannot change channels');
    this.op = useConv
      ? this.addModule(
          'op',
          new MonaiConvolution(numChannels, out, 3, { stride: 2, padding: options.padding ?? 1, rng: options.rng }),
        )
      : null;
  }
  forward(x: tf.Tensor4D): tf.Tensor4D {
    checkChannels(x, this.numChannels, 'Downsample');
    return this.op ? this.op.apply(x) : avgPool2x2(x);
  }
}

/** MONAI `Upsample(use_conv)`: nearest ×2, then `conv` (3×3, pad 1) if `use_conv`. */
export class MonaiUpsample extends Module implements EmbeddingBlock {
  readonly conv: MonaiConvolution | null;
  constructor(
    readonly numChannels: number,
    useConv: boolean,
    options: { outChannels?: number; rng?: SeededRNG } = {},
  ) {
    super();
    const out = options.outChannels ?? numChannels;
    this.conv = useConv
      ? this.addModule('conv', new MonaiConvolution(numChannels, out, 3, { padding: 1, rng: options.rng }))
      : null;
  }
  forward(x: tf.Tensor4D): tf.Tensor4D {
    checkChannels(x, this.numChannels, 'Upsample');
    return tf.tidy(() => {
      const up = upsampleNearest2x(x);
      return this.conv ? this.conv.apply(up) : up;
    });
  }
}

/**
 * MONAI-generative `ResnetBlock`:
 *   h = conv1(SiLU(GN1(x)))  (after ↑/↓ of h and x for the up/down variants)
 *   h = h + time_emb_proj(SiLU(emb));  h = conv2(SiLU(GN2(h)))   (conv2 zero-init)
 *   out = skip_connection(x) + h   (identity, or 1×1 conv when the channel count changes)
 */
export class MonaiResnetBlock extends Module implements EmbeddingBlock {
  readonly norm1: GroupNorm;
  readonly conv1: MonaiConvolution;
  readonly timeEmbProj: Linear;
  readonly norm2: GroupNorm;
  readonly conv2: MonaiConvolution;
  readonly skipConnection: MonaiConvolution | null;

  constructor(
    readonly inChannels: number,
    readonly tembChannels: number,
    readonly outChannels: number = inChannels,
    readonly variant: { up?: boolean; down?: boolean } = {},
    options: MonaiBlockOptions = {},
  ) {
    super();
    const { normNumGroups = 32, normEps = 1e-6, rng = new SeededRNG(0) } = options;
    if (variant.up && variant.down) throw new ArgumentError('variant', 'a ResnetBlock cannot be both up and down');
    this.norm1 = this.addModule('norm1', new GroupNorm(normNumGroups, inChannels, normEps));
    this.conv1 = this.addModule('conv1', new MonaiConvolution(inChannels, outChannels, 3, { padding: 1, rng }));
    this.timeEmbProj = this.addModule('time_emb_proj', new Linear(tembChannels, outChannels, { rng }));
    this.norm2 = this.addModule('norm2', new GroupNorm(normNumGroups, outChannels, normEps));
    this.conv2 = this.addModule(
      'conv2',
      new MonaiConvolution(outChannels, outChannels, 3, { padding: 1, rng, zeroInit: true }),
    );
    this.skipConnection =
      outChannels === inChannels
        ? null
        : this.addModule('skip_connection', new MonaiConvolution(inChannels, outChannels, 1, { rng }));
  }

  forward(x: tf.Tensor4D, emb: tf.Tensor2D): tf.Tensor4D {
    checkChannels(x, this.inChannels, 'ResnetBlock');
    return tf.tidy(() => {
      let h = silu(this.norm1.apply(x));
      let skipIn = x;
      if (this.variant.up) {
        skipIn = upsampleNearest2x(x);
        h = upsampleNearest2x(h);
      } else if (this.variant.down) {
        skipIn = avgPool2x2(x);
        h = avgPool2x2(h);
      }
      h = this.conv1.apply(h);
      h = tf.add(h, asSpatial(this.timeEmbProj.apply(silu(emb))));
      h = this.conv2.apply(silu(this.norm2.apply(h)));
      const skip = this.skipConnection ? this.skipConnection.apply(skipIn) : skipIn;
      return tf.add(skip, h);
    });
  }
}

// ---------------------------------------------------------------------------------------------
// guided-diffusion / LDM ("OpenAI")
// ---------------------------------------------------------------------------------------------

/** guided-diffusion `Downsample(channels, use_conv, out_channels)`: `op` conv3×3 stride 2 pad 1, or avg-pool. */
export class OpenAIDownsample extends Module implements EmbeddingBlock {
  readonly op: Conv2d | null;
  constructor(
    readonly channels: number,
    useConv: boolean,
    outChannels: number = channels,
    options: { rng?: SeededRNG } = {},
  ) {
    super();
    if (!useConv && outChannels !== channels) throw new ArgumentError('outChannels', 'pooling cannot change channels');
    this.op = useConv
      ? this.addModule('op', new Conv2d(channels, outChannels, 3, { stride: 2, padding: 1, rng: options.rng }))
      : null;
  }
  forward(x: tf.Tensor4D): tf.Tensor4D {
    checkChannels(x, this.channels, 'Downsample');
    return this.op ? this.op.apply(x) : avgPool2x2(x);
  }
}

/** guided-diffusion `Upsample(channels, use_conv, out_channels)`: nearest ×2, then `conv` 3×3 pad 1. */
export class OpenAIUpsample extends Module implements EmbeddingBlock {
  readonly conv: Conv2d | null;
  constructor(
    readonly channels: number,
    useConv: boolean,
    outChannels: number = channels,
    options: { rng?: SeededRNG } = {},
  ) {
    super();
    this.conv = useConv
      ? this.addModule('conv', new Conv2d(channels, outChannels, 3, { padding: 1, rng: options.rng }))
      : null;
  }
  forward(x: tf.Tensor4D): tf.Tensor4D {
    checkChannels(x, this.channels, 'Upsample');
    return tf.tidy(() => {
      const up = upsampleNearest2x(x);
      return this.conv ? this.conv.apply(up) : up;
    });
  }
}

export interface OpenAIResBlockOptions {
  outChannels?: number;
  dropout?: number;
  /** 3×3 conv instead of 1×1 on the skip path when channels change (`use_conv`). */
  useConv?: boolean;
  useScaleShiftNorm?: boolean;
  up?: boolean;
  down?: boolean;
  normNumGroups?: number;
  normEps?: number;
  rng?: SeededRNG;
}

/**
 * guided-diffusion `ResBlock` (`unet.py`; identical in LDM `openaimodel.py`):
 *   in_layers = [GN, SiLU, conv3×3]; for up/down, ↑/↓ is applied to h (after GN+SiLU) and to x;
 *   emb_layers = [SiLU, Linear(emb → C or 2C)];
 *   additive:    h = out_layers(h + emb)
 *   scale-shift: (scale, shift) = chunk(emb, 2); h = GN(h)·(1 + scale) + shift; SiLU, Dropout, conv
 *   out_layers = [GN, SiLU, Dropout, conv3×3 (zero-init)]; output = skip(x) + h.
 */
export class OpenAIResBlock extends Module implements EmbeddingBlock {
  readonly outChannels: number;
  readonly dropout: number;
  readonly useScaleShiftNorm: boolean;
  readonly up: boolean;
  readonly down: boolean;
  readonly inNorm: GroupNorm;
  readonly inConv: Conv2d;
  readonly embLinear: Linear;
  readonly outNorm: GroupNorm;
  readonly outConv: Conv2d;
  readonly skipConnection: Conv2d | null;

  constructor(
    readonly channels: number,
    readonly embChannels: number,
    options: OpenAIResBlockOptions = {},
  ) {
    super();
    const {
      outChannels = channels,
      dropout: p = 0,
      useConv = false,
      useScaleShiftNorm = false,
      up = false,
      down = false,
      normNumGroups = 32,
      normEps = 1e-5,
      rng = new SeededRNG(0),
    } = options;
    if (up && down) throw new ArgumentError('options', 'a ResBlock cannot be both up and down');
    if (!(p >= 0 && p < 1)) throw new ArgumentError('options.dropout', `must be in [0, 1), got ${p}`);
    this.outChannels = outChannels;
    this.dropout = p;
    this.useScaleShiftNorm = useScaleShiftNorm;
    this.up = up;
    this.down = down;
    const inLayers = this.addModule('in_layers', new ModuleDict());
    this.inNorm = inLayers.set(0, new GroupNorm(normNumGroups, channels, normEps));
    this.inConv = inLayers.set(2, new Conv2d(channels, outChannels, 3, { padding: 1, rng }));
    const embLayers = this.addModule('emb_layers', new ModuleDict());
    this.embLinear = embLayers.set(
      1,
      new Linear(embChannels, useScaleShiftNorm ? 2 * outChannels : outChannels, { rng }),
    );
    const outLayers = this.addModule('out_layers', new ModuleDict());
    this.outNorm = outLayers.set(0, new GroupNorm(normNumGroups, outChannels, normEps));
    this.outConv = outLayers.set(3, new Conv2d(outChannels, outChannels, 3, { padding: 1, rng, zeroInit: true }));
    if (outChannels === channels) this.skipConnection = null;
    else if (useConv)
      this.skipConnection = this.addModule(
        'skip_connection',
        new Conv2d(channels, outChannels, 3, { padding: 1, rng }),
      );
    else this.skipConnection = this.addModule('skip_connection', new Conv2d(channels, outChannels, 1, { rng }));
  }

  forward(x: tf.Tensor4D, emb: tf.Tensor2D, ctx: BlockContext = EVAL_CONTEXT): tf.Tensor4D {
    checkChannels(x, this.channels, 'ResBlock');
    return tf.tidy(() => {
      let h = silu(this.inNorm.apply(x));
      let xs = x;
      if (this.up) {
        h = upsampleNearest2x(h);
        xs = upsampleNearest2x(x);
      } else if (this.down) {
        h = avgPool2x2(h);
        xs = avgPool2x2(x);
      }
      h = this.inConv.apply(h);
      const embOut = asSpatial(this.embLinear.apply(silu(emb)));
      if (this.useScaleShiftNorm) {
        const [scale, shift] = tf.split(embOut, 2, 3);
        h = tf.add(tf.mul(this.outNorm.apply(h), tf.add(scale!, 1)), shift!);
      } else {
        h = this.outNorm.apply(tf.add(h, embOut));
      }
      h = this.outConv.apply(dropout(silu(h), this.dropout, ctx.training, ctx.rng));
      const skip = this.skipConnection ? this.skipConnection.apply(xs) : xs;
      return tf.add(skip, h);
    });
  }
}
