/**
 * MONAI-generative `DiffusionModelUNet` as used by THOR (`ci-ber/THOR_DDPM`,
 * `net_utils/nets/diffusion_unet.py`), NHWC. Parameters carry the upstream state_dict keys
 * (`conv_in.conv.weight`, `down_blocks.1.attentions.0.to_q.weight`, …), so official checkpoints load
 * key for key with {@link loadStateDict} (ignore the never-applied `proj_attn.*` or keep them: they
 * are registered).
 *
 * Forward (upstream `DiffusionModelUNet.forward`):
 *   emb = time_embed(timestep_embedding(t, num_channels[0]))  (+ class_embedding(labels))
 *   h = conv_in(x); skips = [h]
 *   for each down block: h, outs = block(h, emb); skips += outs
 *   h = middle_block(h, emb)
 *   for each up block: h = block(h, skips.pop(len(block.resnets)), emb)
 *   out = conv(SiLU(GN(h)))   (zero-init conv)
 */
import * as tf from '@tensorflow/tfjs-core';
import { checkConfigKeys, ConfigError } from '../errors.js';
import { SeededRNG } from '../random/rng.js';
import { MonaiAttentionBlock } from '../nn/attention.js';
import { EmbeddingMLP, timestepEmbedding } from '../nn/embeddings.js';
import { Embedding, GroupNorm, ModuleDict, silu } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import {
  MonaiConvolution,
  MonaiDownsample,
  MonaiResnetBlock,
  MonaiUpsample,
  type MonaiBlockOptions,
} from '../nn/resblocks.js';
import {
  cfg,
  checkDivisible,
  checkImageInput,
  checkSpatialDims,
  prepareClassLabels,
  validateTimesteps,
  type DenoisingModel,
  type ForwardOptions,
  type ModelConditioning,
  type TimestepsInput,
} from './types.js';

/** Config of {@link DiffusionModelUNet}: camelCase MONAI kwargs plus `numTrainTimesteps` (range check). */
export interface DiffusionModelUNetConfig {
  className: 'DiffusionModelUNet';
  spatialDims: 2 | 3;
  inChannels: number;
  outChannels: number;
  /** Per level (a single number is broadcast). */
  numResBlocks: number[];
  numChannels: number[];
  attentionLevels: boolean[];
  normNumGroups: number;
  normEps: number;
  resblockUpdown: boolean;
  /** Per level (a single number is broadcast). */
  numHeadChannels: number[];
  /** Cross-attention conditioning; not supported (THOR does not use it). */
  withConditioning: false;
  numClassEmbeds: number | null;
  /** ADX: timesteps must lie in [0, numTrainTimesteps). */
  numTrainTimesteps: number;
}

export type DiffusionModelUNetConfigInput = Partial<
  Omit<DiffusionModelUNetConfig, 'numResBlocks' | 'numHeadChannels'>
> & {
  numResBlocks?: number | number[];
  numHeadChannels?: number | number[];
};

const KEYS = [
  'className',
  'spatialDims',
  'inChannels',
  'outChannels',
  'numResBlocks',
  'numChannels',
  'attentionLevels',
  'normNumGroups',
  'normEps',
  'resblockUpdown',
  'numHeadChannels',
  'withConditioning',
  'numClassEmbeds',
  'numTrainTimesteps',
] as const;

const NAME = 'DiffusionModelUNet';

/** Validates a (partial) config and fills MONAI's defaults. */
export function resolveDiffusionModelUNetConfig(config: unknown): DiffusionModelUNetConfig {
  checkConfigKeys(NAME, config, KEYS, ['inChannels', 'outChannels']);
  const c = config as DiffusionModelUNetConfigInput;
  if (c.className !== undefined && c.className !== NAME) {
    throw new ConfigError(NAME, 'className', `expected '${NAME}', got ${JSON.stringify(c.className)}`);
  }
  checkSpatialDims(NAME, c.spatialDims ?? 2);
  const numChannels = cfg.intList(NAME, 'numChannels', c.numChannels ?? [32, 64, 64, 64], 1);
  const levels = numChannels.length;
  const attentionLevels = cfg.boolList(NAME, 'attentionLevels', c.attentionLevels ?? [false, false, true, true]);
  if (attentionLevels.length !== levels) {
    throw new ConfigError(NAME, 'attentionLevels', `expected ${levels} entries (one per numChannels level)`);
  }
  const normNumGroups = cfg.int(NAME, 'normNumGroups', c.normNumGroups ?? 32, 1);
  for (const ch of numChannels) {
    if (ch % normNumGroups !== 0) {
      throw new ConfigError(
        NAME,
        'numChannels',
        `every entry must be a multiple of normNumGroups (${normNumGroups}), got ${ch}`,
      );
    }
  }
  const numHeadChannels = cfg.perLevel(NAME, 'numHeadChannels', c.numHeadChannels ?? 8, levels, 1);
  numChannels.forEach((ch, i) => {
    if (attentionLevels[i] && ch % numHeadChannels[i]! !== 0) {
      throw new ConfigError(
        NAME,
        'numHeadChannels',
        `level ${i}: ${ch} channels are not divisible by ${numHeadChannels[i]}`,
      );
    }
  });
  if (c.withConditioning !== undefined && c.withConditioning !== false) {
    throw new ConfigError(NAME, 'withConditioning', 'cross-attention conditioning is not supported');
  }
  const numClassEmbeds =
    c.numClassEmbeds === undefined || c.numClassEmbeds === null
      ? null
      : cfg.int(NAME, 'numClassEmbeds', c.numClassEmbeds, 1);
  return {
    className: NAME,
    spatialDims: 2,
    inChannels: cfg.int(NAME, 'inChannels', c.inChannels, 1),
    outChannels: cfg.int(NAME, 'outChannels', c.outChannels, 1),
    numResBlocks: cfg.perLevel(NAME, 'numResBlocks', c.numResBlocks ?? 2, levels, 1),
    numChannels,
    attentionLevels,
    normNumGroups,
    normEps: cfg.num(NAME, 'normEps', c.normEps ?? 1e-6),
    resblockUpdown: cfg.bool(NAME, 'resblockUpdown', c.resblockUpdown ?? false),
    numHeadChannels,
    withConditioning: false,
    numClassEmbeds,
    numTrainTimesteps: cfg.int(NAME, 'numTrainTimesteps', c.numTrainTimesteps ?? 1000, 1),
  };
}

/** MONAI `DownBlock` / `AttnDownBlock`: `resnets`, `attentions`, `downsampler`. */
class MonaiDownBlock extends Module {
  readonly resnets: MonaiResnetBlock[] = [];
  readonly attentions: MonaiAttentionBlock[] = [];
  readonly downsampler: MonaiResnetBlock | MonaiDownsample | null;

  constructor(
    inChannels: number,
    outChannels: number,
    tembChannels: number,
    numResBlocks: number,
    opts: { addDownsample: boolean; resblockUpdown: boolean; withAttn: boolean; numHeadChannels: number },
    block: Required<MonaiBlockOptions>,
  ) {
    super();
    const resnets = this.addModule('resnets', new ModuleDict());
    const attentions = opts.withAttn ? this.addModule('attentions', new ModuleDict()) : null;
    for (let i = 0; i < numResBlocks; i++) {
      this.resnets.push(
        resnets.set(i, new MonaiResnetBlock(i === 0 ? inChannels : outChannels, tembChannels, outChannels, {}, block)),
      );
      if (attentions) {
        this.attentions.push(
          attentions.set(i, new MonaiAttentionBlock(outChannels, { numHeadChannels: opts.numHeadChannels, ...block })),
        );
      }
    }
    if (!opts.addDownsample) this.downsampler = null;
    else if (opts.resblockUpdown)
      this.downsampler = this.addModule(
        'downsampler',
        new MonaiResnetBlock(outChannels, tembChannels, outChannels, { down: true }, block),
      );
    else
      this.downsampler = this.addModule(
        'downsampler',
        new MonaiDownsample(outChannels, true, { outChannels, padding: 1, rng: block.rng }),
      );
  }

  /** Returns the new h and the skip tensors it produced (all kept; the caller disposes). */
  forward(h: tf.Tensor4D, emb: tf.Tensor2D): tf.Tensor4D[] {
    const outs: tf.Tensor4D[] = [];
    this.resnets.forEach((resnet, i) => {
      h = resnet.forward(h, emb);
      if (this.attentions[i]) h = this.attentions[i].apply(h);
      outs.push(h);
    });
    if (this.downsampler) {
      h = this.downsampler.forward(h, emb);
      outs.push(h);
    }
    return outs;
  }
}

/** MONAI `UpBlock` / `AttnUpBlock`: skip-concatenating `resnets`, `attentions`, `upsampler`. */
class MonaiUpBlock extends Module {
  readonly resnets: MonaiResnetBlock[] = [];
  readonly attentions: MonaiAttentionBlock[] = [];
  readonly upsampler: MonaiResnetBlock | MonaiUpsample | null;

  constructor(
    inChannels: number,
    prevOutputChannel: number,
    outChannels: number,
    tembChannels: number,
    numResBlocks: number,
    opts: { addUpsample: boolean; resblockUpdown: boolean; withAttn: boolean; numHeadChannels: number },
    block: Required<MonaiBlockOptions>,
  ) {
    super();
    const resnets = this.addModule('resnets', new ModuleDict());
    const attentions = opts.withAttn ? this.addModule('attentions', new ModuleDict()) : null;
    for (let i = 0; i < numResBlocks; i++) {
      const resSkipChannels = i === numResBlocks - 1 ? inChannels : outChannels;
      const resnetInChannels = i === 0 ? prevOutputChannel : outChannels;
      this.resnets.push(
        resnets.set(i, new MonaiResnetBlock(resnetInChannels + resSkipChannels, tembChannels, outChannels, {}, block)),
      );
      if (attentions) {
        this.attentions.push(
          attentions.set(i, new MonaiAttentionBlock(outChannels, { numHeadChannels: opts.numHeadChannels, ...block })),
        );
      }
    }
    if (!opts.addUpsample) this.upsampler = null;
    else if (opts.resblockUpdown)
      this.upsampler = this.addModule(
        'upsampler',
        new MonaiResnetBlock(outChannels, tembChannels, outChannels, { up: true }, block),
      );
    else this.upsampler = this.addModule('upsampler', new MonaiUpsample(outChannels, true, { rng: block.rng }));
  }

  /** `skips` in stack order; the last one is concatenated first. */
  forward(h: tf.Tensor4D, skips: tf.Tensor4D[], emb: tf.Tensor2D): tf.Tensor4D {
    this.resnets.forEach((resnet, i) => {
      const skip = skips[skips.length - 1 - i]!;
      h = resnet.forward(tf.concat([h, skip], 3), emb);
      if (this.attentions[i]) h = this.attentions[i].apply(h);
    });
    if (this.upsampler) h = this.upsampler.forward(h, emb);
    return h;
  }
}

/** MONAI `AttnMidBlock`: `resnet_1`, `attention`, `resnet_2`. */
class MonaiMidBlock extends Module {
  readonly resnet1: MonaiResnetBlock;
  readonly attention: MonaiAttentionBlock;
  readonly resnet2: MonaiResnetBlock;
  constructor(channels: number, tembChannels: number, numHeadChannels: number, block: Required<MonaiBlockOptions>) {
    super();
    this.resnet1 = this.addModule('resnet_1', new MonaiResnetBlock(channels, tembChannels, channels, {}, block));
    this.attention = this.addModule('attention', new MonaiAttentionBlock(channels, { numHeadChannels, ...block }));
    this.resnet2 = this.addModule('resnet_2', new MonaiResnetBlock(channels, tembChannels, channels, {}, block));
  }
  forward(h: tf.Tensor4D, emb: tf.Tensor2D): tf.Tensor4D {
    return tf.tidy(() => this.resnet2.forward(this.attention.apply(this.resnet1.forward(h, emb)), emb));
  }
}

/** THOR's (MONAI-generative) diffusion UNet. */
export class DiffusionModelUNet extends Module implements DenoisingModel {
  readonly className = NAME;
  readonly config: DiffusionModelUNetConfig;
  private readonly convIn: MonaiConvolution;
  private readonly timeEmbed: EmbeddingMLP;
  private readonly classEmbedding: Embedding | null;
  private readonly downBlocks: MonaiDownBlock[] = [];
  private readonly middleBlock: MonaiMidBlock;
  private readonly upBlocks: MonaiUpBlock[] = [];
  private readonly outNorm: GroupNorm;
  private readonly outConv: MonaiConvolution;

  constructor(
    config: DiffusionModelUNetConfigInput & Pick<DiffusionModelUNetConfig, 'inChannels' | 'outChannels'>,
    options: { seed?: number } = {},
  ) {
    super();
    const c = resolveDiffusionModelUNetConfig(config);
    this.config = c;
    const rng = new SeededRNG(options.seed ?? 0);
    const block = { normNumGroups: c.normNumGroups, normEps: c.normEps, rng };
    const ch0 = c.numChannels[0]!;
    const tembDim = ch0 * 4;
    const levels = c.numChannels.length;
    this.convIn = this.addModule('conv_in', new MonaiConvolution(c.inChannels, ch0, 3, { padding: 1, rng }));
    this.timeEmbed = this.addModule('time_embed', new EmbeddingMLP(ch0, tembDim, { rng }));
    this.classEmbedding =
      c.numClassEmbeds === null
        ? null
        : this.addModule('class_embedding', new Embedding(c.numClassEmbeds, tembDim, { rng }));

    const down = this.addModule('down_blocks', new ModuleDict());
    let outCh = ch0;
    for (let i = 0; i < levels; i++) {
      const inCh = outCh;
      outCh = c.numChannels[i]!;
      this.downBlocks.push(
        down.set(
          i,
          new MonaiDownBlock(
            inCh,
            outCh,
            tembDim,
            c.numResBlocks[i]!,
            {
              addDownsample: i !== levels - 1,
              resblockUpdown: c.resblockUpdown,
              withAttn: c.attentionLevels[i]!,
              numHeadChannels: c.numHeadChannels[i]!,
            },
            block,
          ),
        ),
      );
    }
    const last = c.numChannels[levels - 1]!;
    this.middleBlock = this.addModule(
      'middle_block',
      new MonaiMidBlock(last, tembDim, c.numHeadChannels[levels - 1]!, block),
    );

    const up = this.addModule('up_blocks', new ModuleDict());
    const rCh = [...c.numChannels].reverse();
    const rRes = [...c.numResBlocks].reverse();
    const rAttn = [...c.attentionLevels].reverse();
    const rHead = [...c.numHeadChannels].reverse();
    outCh = rCh[0]!;
    for (let i = 0; i < levels; i++) {
      const prevOut = outCh;
      outCh = rCh[i]!;
      const inCh = rCh[Math.min(i + 1, levels - 1)]!;
      this.upBlocks.push(
        up.set(
          i,
          new MonaiUpBlock(
            inCh,
            prevOut,
            outCh,
            tembDim,
            rRes[i]! + 1,
            {
              addUpsample: i !== levels - 1,
              resblockUpdown: c.resblockUpdown,
              withAttn: rAttn[i]!,
              numHeadChannels: rHead[i]!,
            },
            block,
          ),
        ),
      );
    }
    const out = this.addModule('out', new ModuleDict());
    this.outNorm = out.set(0, new GroupNorm(c.normNumGroups, ch0, c.normEps));
    this.outConv = out.set(2, new MonaiConvolution(ch0, c.outChannels, 3, { padding: 1, rng, zeroInit: true }));
  }

  static fromConfig(config: unknown, options: { seed?: number } = {}): DiffusionModelUNet {
    return new DiffusionModelUNet(resolveDiffusionModelUNetConfig(config), options);
  }

  get inChannels(): number {
    return this.config.inChannels;
  }
  get outChannels(): number {
    return this.config.outChannels;
  }

  toConfig(): DiffusionModelUNetConfig {
    return JSON.parse(JSON.stringify(this.config)) as DiffusionModelUNetConfig;
  }

  /** ε̂ (or x̂₀) for NHWC `x` `[N, H, W, inChannels]` at `timesteps`. */
  apply(
    x: tf.Tensor4D,
    timesteps: TimestepsInput,
    cond: ModelConditioning = {},
    _options: ForwardOptions = {},
  ): tf.Tensor4D {
    checkImageInput(x, this.config.inChannels);
    checkDivisible(x, this.config.numChannels.length - 1);
    const n = x.shape[0];
    return tf.tidy(() => {
      validateTimesteps(timesteps, n, this.config.numTrainTimesteps);
      let emb = this.timeEmbed.apply(timestepEmbedding(timesteps, this.config.numChannels[0]!));
      if (this.classEmbedding) {
        const labels = prepareClassLabels(cond.classLabels, n, this.config.numClassEmbeds!, NAME);
        emb = tf.add(emb, this.classEmbedding.apply(labels));
      }
      let h = this.convIn.apply(x);
      const skips: tf.Tensor4D[] = [h];
      for (const block of this.downBlocks) {
        const outs = block.forward(h, emb);
        skips.push(...outs);
        h = outs[outs.length - 1]!;
      }
      h = this.middleBlock.forward(h, emb);
      for (const block of this.upBlocks) {
        const used = skips.splice(skips.length - block.resnets.length, block.resnets.length);
        h = block.forward(h, used, emb);
      }
      return this.outConv.apply(silu(this.outNorm.apply(h)));
    });
  }
}
