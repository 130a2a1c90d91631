/**
 * guided-diffusion networks (`openai/guided-diffusion` / `JuliaWolleb/diffusion-anomaly`,
 * `guided_diffusion/unet.py`), NHWC, with the upstream state_dict keys:
 *
 * - {@link UNetModel}: the class-conditional diffusion UNet with optional learned sigma
 *   (`out_channels = 2·in_channels`), legacy/new attention order, scale-shift norm, ResBlock up/down.
 * - {@link EncoderUNetModel}: the noisy classifier (input half + middle, then an attention-pool or
 *   adaptive-pool head).
 *
 * The body (input blocks, middle block, output blocks, head) is shared with Behrendt's conditioned
 * UNet (`conditioned-unet.ts`) through {@link OpenAIUNetBase}; only the embedding differs.
 */
import * as tf from '@tensorflow/tfjs-core';
import { checkConfigKeys, ConfigError } from '../errors.js';
import { SeededRNG } from '../random/rng.js';
import { AttentionPool2d, QKVAttentionBlock } from '../nn/attention.js';
import { EmbeddingMLP, timestepEmbedding } from '../nn/embeddings.js';
import { Conv2d, Embedding, GroupNorm, ModuleDict, silu } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import {
  OpenAIDownsample,
  OpenAIResBlock,
  OpenAIUpsample,
  type BlockContext,
  type EmbeddingBlock,
} from '../nn/resblocks.js';
import {
  cfg,
  checkDivisible,
  checkImageInput,
  checkSpatialDims,
  prepareClassLabels,
  validateTimesteps,
  type Classifier,
  type DenoisingModel,
  type ForwardOptions,
  type ModelConditioning,
  type TimestepsInput,
} from './types.js';

/** GroupNorm of guided-diffusion (`normalization(ch)` = `GroupNorm32(32, ch)`, eps 1e-5, float32). */
const GN_GROUPS = 32;
const GN_EPS = 1e-5;

/**
 * guided-diffusion `TimestepEmbedSequential`: children named `0`, `1`, …; blocks that take the
 * embedding (ResBlocks) get it, the others (conv, attention) get only `x`.
 */
export class TimestepEmbedSequential extends Module {
  private readonly layers: Module[] = [];

  push<M extends Module>(m: M): M {
    this.layers.push(this.addModule(this.layers.length, m));
    return m;
  }

  get length(): number {
    return this.layers.length;
  }

  forward(x: tf.Tensor4D, emb: tf.Tensor2D, ctx: BlockContext): tf.Tensor4D {
    return tf.tidy(() => {
      let h = x;
      for (const layer of this.layers) {
        if (layer instanceof Conv2d || layer instanceof QKVAttentionBlock) h = layer.apply(h);
        else h = (layer as EmbeddingBlock).forward(h, emb, ctx);
      }
      return h;
    });
  }
}

/** The body kwargs shared by UNetModel, EncoderUNetModel and the conditioned UNet (camelCase). */
export interface OpenAIUNetBodyConfig {
  spatialDims: 2 | 3;
  imageSize: number | [number, number];
  inChannels: number;
  modelChannels: number;
  outChannels: number;
  numResBlocks: number;
  /** Downsample factors (ds) at which attention is used, as the constructor receives them. */
  attentionResolutions: number[];
  dropout: number;
  channelMult: number[];
  convResample: boolean;
  /** Accepted for config fidelity; gradient checkpointing does not apply in tfjs. */
  useCheckpoint: boolean;
  /** Accepted for config fidelity; ADX always computes in float32. */
  useFp16: boolean;
  numHeads: number;
  numHeadChannels: number;
  numHeadsUpsample: number;
  useScaleShiftNorm: boolean;
  resblockUpdown: boolean;
  useNewAttentionOrder: boolean;
  /** ADX: timesteps must lie in [0, numTrainTimesteps). */
  numTrainTimesteps: number;
}

export const BODY_KEYS = [
  'className',
  'spatialDims',
  'imageSize',
  'inChannels',
  'modelChannels',
  'outChannels',
  'numResBlocks',
  'attentionResolutions',
  'dropout',
  'channelMult',
  'convResample',
  'useCheckpoint',
  'useFp16',
  'numHeads',
  'numHeadChannels',
  'numHeadsUpsample',
  'useScaleShiftNorm',
  'resblockUpdown',
  'useNewAttentionOrder',
  'numTrainTimesteps',
] as const;

const BODY_REQUIRED = [
  'imageSize',
  'inChannels',
  'modelChannels',
  'outChannels',
  'numResBlocks',
  'attentionResolutions',
];

/** Validates the shared body kwargs of `config` (keys already checked) and fills upstream defaults. */
export function resolveBodyConfig(component: string, c: Record<string, unknown>): OpenAIUNetBodyConfig {
  if (c.className !== undefined && c.className !== component) {
    throw new ConfigError(component, 'className', `expected '${component}', got ${JSON.stringify(c.className)}`);
  }
  for (const k of BODY_REQUIRED) if (c[k] === undefined) throw new ConfigError(component, k, 'missing required key');
  checkSpatialDims(component, c.spatialDims ?? 2);
  let imageSize: number | [number, number];
  if (Array.isArray(c.imageSize)) {
    const l = cfg.intList(component, 'imageSize', c.imageSize, 1);
    if (l.length !== 2) throw new ConfigError(component, 'imageSize', 'expected a number or [height, width]');
    imageSize = [l[0]!, l[1]!];
  } else imageSize = cfg.int(component, 'imageSize', c.imageSize, 1);
  const modelChannels = cfg.int(component, 'modelChannels', c.modelChannels, 1);
  const channelMult = cfg.intList(component, 'channelMult', c.channelMult ?? [1, 2, 4, 8], 1);
  for (const m of channelMult) {
    if ((m * modelChannels) % GN_GROUPS !== 0) {
      throw new ConfigError(
        component,
        'channelMult',
        `every width (modelChannels·mult) must be a multiple of ${GN_GROUPS}, got ${m * modelChannels}`,
      );
    }
  }
  const numHeads = cfg.int(component, 'numHeads', c.numHeads ?? 1, 1);
  const numHeadChannels = c.numHeadChannels ?? -1;
  if (numHeadChannels !== -1) cfg.int(component, 'numHeadChannels', numHeadChannels, 1);
  const numHeadsUpsample = c.numHeadsUpsample ?? -1;
  if (numHeadsUpsample !== -1) cfg.int(component, 'numHeadsUpsample', numHeadsUpsample, 1);
  const attentionResolutions =
    Array.isArray(c.attentionResolutions) && c.attentionResolutions.length === 0
      ? []
      : cfg.intList(component, 'attentionResolutions', c.attentionResolutions, 1);
  const dropout = cfg.num(component, 'dropout', c.dropout ?? 0);
  if (dropout < 0 || dropout >= 1) throw new ConfigError(component, 'dropout', `must be in [0, 1), got ${dropout}`);
  return {
    spatialDims: 2,
    imageSize,
    inChannels: cfg.int(component, 'inChannels', c.inChannels, 1),
    modelChannels,
    outChannels: cfg.int(component, 'outChannels', c.outChannels, 1),
    numResBlocks: cfg.int(component, 'numResBlocks', c.numResBlocks, 1),
    attentionResolutions,
    dropout,
    channelMult,
    convResample: cfg.bool(component, 'convResample', c.convResample ?? true),
    useCheckpoint: cfg.bool(component, 'useCheckpoint', c.useCheckpoint ?? false),
    useFp16: cfg.bool(component, 'useFp16', c.useFp16 ?? false),
    numHeads,
    numHeadChannels: numHeadChannels as number,
    numHeadsUpsample: numHeadsUpsample as number,
    useScaleShiftNorm: cfg.bool(component, 'useScaleShiftNorm', c.useScaleShiftNorm ?? false),
    resblockUpdown: cfg.bool(component, 'resblockUpdown', c.resblockUpdown ?? false),
    useNewAttentionOrder: cfg.bool(component, 'useNewAttentionOrder', c.useNewAttentionOrder ?? false),
    numTrainTimesteps: cfg.int(component, 'numTrainTimesteps', c.numTrainTimesteps ?? 1000, 1),
  };
}

/** Checks that every attention width is divisible into heads (a ConfigError rather than a late throw). */
function checkHeads(component: string, ch: number, numHeads: number, numHeadChannels: number, key: string): void {
  const ok = numHeadChannels === -1 ? ch % numHeads === 0 : ch % numHeadChannels === 0;
  if (!ok)
    throw new ConfigError(
      component,
      key,
      `attention width ${ch} is not divisible by ${numHeadChannels === -1 ? numHeads : numHeadChannels}`,
    );
}

interface EncoderHalf {
  inputBlocks: TimestepEmbedSequential[];
  middleBlock: TimestepEmbedSequential;
  inputBlockChans: number[];
  ch: number;
  ds: number;
}

/**
 * Builds `input_blocks` and `middle_block` exactly as `UNetModel.__init__` / `EncoderUNetModel.__init__`
 * do (same loop, same ds bookkeeping) and registers them through `register`.
 */
function buildEncoderHalf(
  component: string,
  c: OpenAIUNetBodyConfig,
  embDim: number,
  rng: SeededRNG,
  register: <M extends Module>(name: string, m: M) => M,
): EncoderHalf {
  const resOpts = {
    dropout: c.dropout,
    useScaleShiftNorm: c.useScaleShiftNorm,
    normNumGroups: GN_GROUPS,
    normEps: GN_EPS,
    rng,
  };
  const attn = (ch: number, numHeads: number) => {
    checkHeads(component, ch, numHeads, c.numHeadChannels, 'numHeadChannels');
    return new QKVAttentionBlock(ch, {
      numHeads,
      numHeadChannels: c.numHeadChannels,
      useNewAttentionOrder: c.useNewAttentionOrder,
      normNumGroups: GN_GROUPS,
      normEps: GN_EPS,
      rng,
    });
  };
  const list = register('input_blocks', new ModuleDict());
  const inputBlocks: TimestepEmbedSequential[] = [];
  const pushBlock = (): TimestepEmbedSequential => {
    const b = list.set(inputBlocks.length, new TimestepEmbedSequential());
    inputBlocks.push(b);
    return b;
  };
  let ch = c.channelMult[0]! * c.modelChannels;
  pushBlock().push(new Conv2d(c.inChannels, ch, 3, { padding: 1, rng }));
  const inputBlockChans = [ch];
  let ds = 1;
  c.channelMult.forEach((mult, level) => {
    for (let i = 0; i < c.numResBlocks; i++) {
      const b = pushBlock();
      b.push(new OpenAIResBlock(ch, embDim, { ...resOpts, outChannels: mult * c.modelChannels }));
      ch = mult * c.modelChannels;
      if (c.attentionResolutions.includes(ds)) b.push(attn(ch, c.numHeads));
      inputBlockChans.push(ch);
    }
    if (level !== c.channelMult.length - 1) {
      const b = pushBlock();
      if (c.resblockUpdown) b.push(new OpenAIResBlock(ch, embDim, { ...resOpts, outChannels: ch, down: true }));
      else b.push(new OpenAIDownsample(ch, c.convResample, ch, { rng }));
      inputBlockChans.push(ch);
      ds *= 2;
    }
  });
  const middleBlock = register('middle_block', new TimestepEmbedSequential());
  middleBlock.push(new OpenAIResBlock(ch, embDim, resOpts));
  middleBlock.push(attn(ch, c.numHeads));
  middleBlock.push(new OpenAIResBlock(ch, embDim, resOpts));
  return { inputBlocks, middleBlock, inputBlockChans, ch, ds };
}

/**
 * The guided-diffusion UNet body with an abstract embedding: `UNetModel` adds a class embedding,
 * Behrendt's conditioned UNet concatenates a condition MLP.
 */
export abstract class OpenAIUNetBase extends Module implements DenoisingModel {
  abstract readonly className: string;
  protected readonly body: OpenAIUNetBodyConfig;
  protected readonly timeEmbed: EmbeddingMLP;
  private readonly inputBlocks: TimestepEmbedSequential[];
  private readonly middleBlock: TimestepEmbedSequential;
  private readonly outputBlocks: TimestepEmbedSequential[] = [];
  private readonly outNorm: GroupNorm;
  private readonly outConv: Conv2d;

  /**
   * @param timeEmbedDim width of `time_embed` (4·model_channels)
   * @param embDim width of the embedding the ResBlocks receive
   */
  protected constructor(
    component: string,
    body: OpenAIUNetBodyConfig,
    timeEmbedDim: number,
    embDim: number,
    rng: SeededRNG,
  ) {
    super();
    this.body = body;
    const c = body;
    this.timeEmbed = this.addModule('time_embed', new EmbeddingMLP(c.modelChannels, timeEmbedDim, { rng }));
    const enc = buildEncoderHalf(component, c, embDim, rng, (n, m) => this.addModule(n, m));
    this.inputBlocks = enc.inputBlocks;
    this.middleBlock = enc.middleBlock;
    const chans = [...enc.inputBlockChans];
    let { ch, ds } = enc;
    const resOpts = {
      dropout: c.dropout,
      useScaleShiftNorm: c.useScaleShiftNorm,
      normNumGroups: GN_GROUPS,
      normEps: GN_EPS,
      rng,
    };
    const headsUp = c.numHeadsUpsample === -1 ? c.numHeads : c.numHeadsUpsample;
    const list = this.addModule('output_blocks', new ModuleDict());
    for (let level = c.channelMult.length - 1; level >= 0; level--) {
      const mult = c.channelMult[level]!;
      for (let i = 0; i <= c.numResBlocks; i++) {
        const ich = chans.pop()!;
        const b = list.set(this.outputBlocks.length, new TimestepEmbedSequential());
        this.outputBlocks.push(b);
        b.push(new OpenAIResBlock(ch + ich, embDim, { ...resOpts, outChannels: c.modelChannels * mult }));
        ch = c.modelChannels * mult;
        if (c.attentionResolutions.includes(ds)) {
          checkHeads(component, ch, headsUp, c.numHeadChannels, 'numHeadsUpsample');
          b.push(
            new QKVAttentionBlock(ch, {
              numHeads: headsUp,
              numHeadChannels: c.numHeadChannels,
              useNewAttentionOrder: c.useNewAttentionOrder,
              normNumGroups: GN_GROUPS,
              normEps: GN_EPS,
              rng,
            }),
          );
        }
        if (level > 0 && i === c.numResBlocks) {
          if (c.resblockUpdown) b.push(new OpenAIResBlock(ch, embDim, { ...resOpts, outChannels: ch, up: true }));
          else b.push(new OpenAIUpsample(ch, c.convResample, ch, { rng }));
          ds /= 2;
        }
      }
    }
    const out = this.addModule('out', new ModuleDict());
    this.outNorm = out.set(0, new GroupNorm(GN_GROUPS, ch, GN_EPS));
    this.outConv = out.set(
      2,
      new Conv2d(c.channelMult[0]! * c.modelChannels, c.outChannels, 3, { padding: 1, rng, zeroInit: true }),
    );
  }

  get inChannels(): number {
    return this.body.inChannels;
  }
  get outChannels(): number {
    return this.body.outChannels;
  }

  abstract toConfig(): ReturnType<DenoisingModel['toConfig']>;

  /**
   * The embedding the ResBlocks see, from the time embedding `[1|N, 4·mc]` and the conditioning
   * (called inside a tidy; throw {@link ArgumentError} for missing/invalid conditioning).
   */
  protected abstract embed(timeEmb: tf.Tensor2D, cond: ModelConditioning, batch: number): tf.Tensor2D;

  /** `UNetModel.forward(x, timesteps, y)` on NHWC input. */
  apply(
    x: tf.Tensor4D,
    timesteps: TimestepsInput,
    cond: ModelConditioning = {},
    options: ForwardOptions = {},
  ): tf.Tensor4D {
    checkImageInput(x, this.body.inChannels);
    checkDivisible(x, this.body.channelMult.length - 1);
    const ctx: BlockContext = { training: options.training ?? false, rng: options.rng };
    return tf.tidy(() => {
      const n = x.shape[0];
      validateTimesteps(timesteps, n, this.body.numTrainTimesteps);
      const emb = this.embed(this.timeEmbed.apply(timestepEmbedding(timesteps, this.body.modelChannels)), cond, n);
      const hs: tf.Tensor4D[] = [];
      let h = x;
      for (const block of this.inputBlocks) {
        h = block.forward(h, emb, ctx);
        hs.push(h);
      }
      h = this.middleBlock.forward(h, emb, ctx);
      for (const block of this.outputBlocks) h = block.forward(tf.concat([h, hs.pop()!], 3), emb, ctx);
      return this.outConv.apply(silu(this.outNorm.apply(h)));
    });
  }
}

// ---------------------------------------------------------------------------------------------
// UNetModel
// ---------------------------------------------------------------------------------------------

export interface UNetModelConfig extends OpenAIUNetBodyConfig {
  className: 'UNetModel';
  /** Number of classes for class-conditional models (`label_emb` Embedding), or null. */
  numClasses: number | null;
}

const UNET = 'UNetModel';
const UNET_KEYS = [...BODY_KEYS, 'numClasses'] as const;

export function resolveUNetModelConfig(config: unknown): UNetModelConfig {
  checkConfigKeys(UNET, config, UNET_KEYS);
  const body = resolveBodyConfig(UNET, config);
  const nc = config.numClasses;
  return {
    className: UNET,
    ...body,
    numClasses: nc === undefined || nc === null ? null : cfg.int(UNET, 'numClasses', nc, 1),
  };
}

/** guided-diffusion `UNetModel` (Wolleb et al.'s diffusion model). */
export class UNetModel extends OpenAIUNetBase {
  readonly className = UNET;
  readonly numClasses: number | null;
  private readonly labelEmb: Embedding | null;

  constructor(config: Partial<UNetModelConfig>, options: { seed?: number } = {}) {
    const c = resolveUNetModelConfig(config);
    const rng = new SeededRNG(options.seed ?? 0);
    const d = 4 * c.modelChannels;
    super(UNET, c, d, d, rng);
    this.numClasses = c.numClasses;
    this.labelEmb = c.numClasses === null ? null : this.addModule('label_emb', new Embedding(c.numClasses, d, { rng }));
  }

  static fromConfig(config: unknown, options: { seed?: number } = {}): UNetModel {
    return new UNetModel(resolveUNetModelConfig(config), options);
  }

  toConfig(): UNetModelConfig {
    return JSON.parse(
      JSON.stringify({ className: UNET, ...this.body, numClasses: this.numClasses }),
    ) as UNetModelConfig;
  }

  /** emb = time_embed(t) (+ label_emb(y)). */
  protected embed(timeEmb: tf.Tensor2D, cond: ModelConditioning, batch: number): tf.Tensor2D {
    if (!this.labelEmb) return timeEmb;
    const labels = prepareClassLabels(cond.classLabels, batch, this.numClasses!, UNET);
    return tf.add(timeEmb, this.labelEmb.apply(labels));
  }
}

// ---------------------------------------------------------------------------------------------
// EncoderUNetModel (classifier)
// ---------------------------------------------------------------------------------------------

export interface EncoderUNetModelConfig extends OpenAIUNetBodyConfig {
  className: 'EncoderUNetModel';
  /** `'attention'` (AttentionPool2d head) or `'adaptive'` (GN, SiLU, global average, zero-init 1×1 conv). */
  pool: 'attention' | 'adaptive';
}

const ENC = 'EncoderUNetModel';
const ENC_KEYS = [...BODY_KEYS, 'pool'] as const;

export function resolveEncoderUNetModelConfig(config: unknown): EncoderUNetModelConfig {
  checkConfigKeys(ENC, config, ENC_KEYS);
  const body = resolveBodyConfig(ENC, config);
  const pool = config.pool ?? 'adaptive';
  if (pool !== 'attention' && pool !== 'adaptive') {
    throw new ConfigError(
      ENC,
      'pool',
      `'attention' and 'adaptive' are supported, got ${JSON.stringify(pool)} (upstream 'spatial' is broken in the Wolleb fork)`,
    );
  }
  if (pool === 'attention' && body.numHeadChannels === -1) {
    throw new ConfigError(ENC, 'numHeadChannels', "pool 'attention' needs numHeadChannels ≠ −1 (upstream assertion)");
  }
  if (Array.isArray(body.imageSize) && body.imageSize[0] !== body.imageSize[1]) {
    throw new ConfigError(ENC, 'imageSize', 'the attention pool needs square images');
  }
  return { className: ENC, ...body, pool };
}

/** guided-diffusion `EncoderUNetModel`: the noisy classifier of Wolleb et al. → logits `[N, outChannels]`. */
export class EncoderUNetModel extends Module implements Classifier {
  readonly className = ENC;
  readonly config: EncoderUNetModelConfig;
  private readonly timeEmbed: EmbeddingMLP;
  private readonly inputBlocks: TimestepEmbedSequential[];
  private readonly middleBlock: TimestepEmbedSequential;
  private readonly outNorm: GroupNorm;
  private readonly pool: AttentionPool2d | Conv2d;
  private readonly spatial: number;

  constructor(config: Partial<EncoderUNetModelConfig>, options: { seed?: number } = {}) {
    super();
    const c = resolveEncoderUNetModelConfig(config);
    this.config = c;
    const rng = new SeededRNG(options.seed ?? 0);
    const d = 4 * c.modelChannels;
    this.timeEmbed = this.addModule('time_embed', new EmbeddingMLP(c.modelChannels, d, { rng }));
    const enc = buildEncoderHalf(ENC, c, d, rng, (n, m) => this.addModule(n, m));
    this.inputBlocks = enc.inputBlocks;
    this.middleBlock = enc.middleBlock;
    const size = Array.isArray(c.imageSize) ? c.imageSize[0] : c.imageSize;
    this.spatial = size / enc.ds;
    if (c.pool === 'attention' && !Number.isInteger(this.spatial)) {
      throw new ConfigError(ENC, 'imageSize', `${size} is not divisible by the total downsampling ${enc.ds}`);
    }
    const out = this.addModule('out', new ModuleDict());
    this.outNorm = out.set(0, new GroupNorm(GN_GROUPS, enc.ch, GN_EPS));
    this.pool =
      c.pool === 'attention'
        ? out.set(2, new AttentionPool2d(this.spatial, enc.ch, c.numHeadChannels, c.outChannels, { rng }))
        : out.set(3, new Conv2d(enc.ch, c.outChannels, 1, { rng, zeroInit: true }));
  }

  static fromConfig(config: unknown, options: { seed?: number } = {}): EncoderUNetModel {
    return new EncoderUNetModel(resolveEncoderUNetModelConfig(config), options);
  }

  get inChannels(): number {
    return this.config.inChannels;
  }
  get numClasses(): number {
    return this.config.outChannels;
  }

  toConfig(): EncoderUNetModelConfig {
    return JSON.parse(JSON.stringify(this.config)) as EncoderUNetModelConfig;
  }

  /** Logits `[N, outChannels]` of NHWC `x` at `timesteps` (differentiable w.r.t. `x`). */
  apply(x: tf.Tensor4D, timesteps: TimestepsInput, options: ForwardOptions = {}): tf.Tensor2D {
    const c = this.config;
    const size = Array.isArray(c.imageSize) ? c.imageSize : ([c.imageSize, c.imageSize] as [number, number]);
    checkImageInput(x, c.inChannels, c.pool === 'attention' ? size : undefined);
    checkDivisible(x, c.channelMult.length - 1);
    const ctx: BlockContext = { training: options.training ?? false, rng: options.rng };
    return tf.tidy(() => {
      validateTimesteps(timesteps, x.shape[0], c.numTrainTimesteps);
      const emb = this.timeEmbed.apply(timestepEmbedding(timesteps, c.modelChannels));
      let h = x;
      for (const block of this.inputBlocks) h = block.forward(h, emb, ctx);
      h = this.middleBlock.forward(h, emb, ctx);
      h = silu(this.outNorm.apply(h));
      if (this.pool instanceof AttentionPool2d) return this.pool.apply(h);
      // adaptive: AdaptiveAvgPool2d((1, 1)) → zero-init conv 1×1 → flatten
      const pooled = tf.mean(h, [1, 2], true) as tf.Tensor4D;
      return tf.reshape(this.pool.apply(pooled), [x.shape[0], c.outChannels]) as tf.Tensor2D;
    });
  }
}
