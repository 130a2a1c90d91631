/**
 * ResNet encoders (He et al. 2016), ported from torchvision 0.14 `torchvision/models/resnet.py`
 * (`ResNet`, `BasicBlock`, `Bottleneck` — the "v1.5" variant with the stride on the 3×3 conv) and
 * equivalent to timm's `resnet18/34/50` as cDDPM builds them (`src/models/modules/spark/models.py`
 * `build_encoder`: `in_chans=1`, `num_classes=cond_dim`; drop-path is inactive in eval mode and
 * not ported).
 *
 * The module tree and parameter names are torchvision's (`conv1`, `bn1`, `layer1.0.conv1`, …,
 * `layer2.0.downsample.0/1`, `fc`), so official state dicts load key-for-key. Images are NHWC.
 * BatchNorm runs in eval mode (running statistics) or training mode (batch statistics and a
 * running-average update with momentum 0.1), as cDDPM trains the encoder end-to-end.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError, ConfigError, assertRank, checkConfigKeys } from '../errors.js';
import { Module, torchDefaultInit } from '../nn/module.js';
import { SeededRNG } from '../random/rng.js';
import type { ConfigurableModel } from './types.js';

export type ResNetBlockType = 'BasicBlock' | 'Bottleneck';

/** JSON config of a {@link ResNetEncoder} (camelCase ports of torchvision/timm arguments). */
export interface ResNetEncoderConfig {
  className: 'ResNetEncoder';
  /** Only 2 for now; the config carries it so 3D can be added later. */
  spatialDims: 2;
  /** torchvision `block`: `BasicBlock` (ResNet-18/34) or `Bottleneck` (ResNet-50/101/152). */
  block: ResNetBlockType;
  /** torchvision `layers`: blocks per stage, e.g. [2,2,2,2] (18), [3,4,6,3] (34 and 50). */
  layers: number[];
  /** timm `in_chans` (1 for MRI). */
  inChannels: number;
  /** timm `stem_width`: channels of `conv1`/`bn1` (torchvision: 64). */
  stemWidth: number;
  /** Planes per stage (torchvision: [64,128,256,512]); outputs are planes × expansion. */
  stagePlanes: number[];
  /** torchvision `num_classes`: width of the final `fc` (cDDPM: the condition dimension). */
  outFeatures: number;
  /** BatchNorm eps (torch default 1e-5). */
  bnEps: number;
  /** BatchNorm momentum of the running-average update (torch default 0.1). */
  bnMomentum: number;
  /** torchvision `zero_init_residual`: zero-init the last BN weight of every block. */
  zeroInitResidual: boolean;
}

export type ResNetEncoderConfigInput = Partial<Omit<ResNetEncoderConfig, 'className'>> & {
  className?: 'ResNetEncoder';
};

export type ResNetPreset = 'resnet18' | 'resnet34' | 'resnet50';

const PRESETS: Record<ResNetPreset, { block: ResNetBlockType; layers: number[] }> = {
  // torchvision resnet18 / resnet34 / resnet50 (`_resnet(BasicBlock|Bottleneck, layers, …)`).
  resnet18: { block: 'BasicBlock', layers: [2, 2, 2, 2] },
  resnet34: { block: 'BasicBlock', layers: [3, 4, 6, 3] },
  resnet50: { block: 'Bottleneck', layers: [3, 4, 6, 3] },
};

const CONFIG_KEYS = [
  'className',
  'spatialDims',
  'block',
  'layers',
  'inChannels',
  'stemWidth',
  'stagePlanes',
  'outFeatures',
  'bnEps',
  'bnMomentum',
  'zeroInitResidual',
] as const;

const DEFAULTS: Omit<ResNetEncoderConfig, 'className'> = {
  spatialDims: 2,
  ...PRESETS.resnet50,
  inChannels: 1,
  stemWidth: 64,
  stagePlanes: [64, 128, 256, 512],
  outFeatures: 512,
  bnEps: 1e-5,
  bnMomentum: 0.1,
  zeroInitResidual: false,
};

const EXPANSION: Record<ResNetBlockType, number> = { BasicBlock: 1, Bottleneck: 4 };

function positiveInt(key: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
    throw new ConfigError('ResNetEncoder', key, `expected a positive integer, got ${JSON.stringify(v)}`);
  }
  return v;
}

/**
 * Validates a (partial) ResNetEncoder config and fills the defaults (timm/torchvision `resnet50`,
 * 1 input channel, torch BatchNorm eps/momentum). Unknown keys → ConfigError. `undefined` values
 * count as absent.
 */
export function resolveResNetEncoderConfig(input: unknown): ResNetEncoderConfig {
  return validateConfig(input);
}

function validateConfig(input: unknown): ResNetEncoderConfig {
  checkConfigKeys('ResNetEncoder', input, CONFIG_KEYS);
  const given = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined));
  if (given.className !== undefined && given.className !== 'ResNetEncoder') {
    throw new ConfigError(
      'ResNetEncoder',
      'className',
      `expected 'ResNetEncoder', got ${JSON.stringify(given.className)}`,
    );
  }
  const c = { ...DEFAULTS, ...(given as Partial<ResNetEncoderConfig>), className: 'ResNetEncoder' as const };
  if (c.spatialDims !== 2)
    throw new ConfigError('ResNetEncoder', 'spatialDims', `only 2 is supported, got ${c.spatialDims}`);
  if (c.block !== 'BasicBlock' && c.block !== 'Bottleneck') {
    throw new ConfigError(
      'ResNetEncoder',
      'block',
      `expected 'BasicBlock' or 'Bottleneck', got ${JSON.stringify(c.block)}`,
    );
  }
  if (!Array.isArray(c.layers) || c.layers.length === 0) {
    throw new ConfigError('ResNetEncoder', 'layers', 'expected a non-empty array of block counts');
  }
  c.layers.forEach((n, i) => positiveInt(`layers[${i}]`, n));
  if (!Array.isArray(c.stagePlanes) || c.stagePlanes.length !== c.layers.length) {
    throw new ConfigError(
      'ResNetEncoder',
      'stagePlanes',
      `expected ${c.layers.length} entries (one per stage of 'layers')`,
    );
  }
  c.stagePlanes.forEach((n, i) => positiveInt(`stagePlanes[${i}]`, n));
  positiveInt('inChannels', c.inChannels);
  positiveInt('stemWidth', c.stemWidth);
  positiveInt('outFeatures', c.outFeatures);
  if (!(typeof c.bnEps === 'number' && c.bnEps > 0))
    throw new ConfigError('ResNetEncoder', 'bnEps', 'expected a positive number');
  if (!(typeof c.bnMomentum === 'number' && c.bnMomentum >= 0 && c.bnMomentum <= 1)) {
    throw new ConfigError('ResNetEncoder', 'bnMomentum', 'expected a number in [0, 1]');
  }
  if (typeof c.zeroInitResidual !== 'boolean')
    throw new ConfigError('ResNetEncoder', 'zeroInitResidual', 'expected a boolean');
  return { ...c, layers: [...c.layers], stagePlanes: [...c.stagePlanes] };
}

/** A bias-free `nn.Conv2d` with symmetric zero padding (torch semantics), weight HWIO. */
class Conv2dNoBias extends Module {
  readonly weight: tf.Variable;
  constructor(
    rng: SeededRNG,
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernel: number,
    readonly stride: number,
    readonly padding: number,
  ) {
    super();
    // torchvision ResNet.__init__: kaiming_normal_(mode="fan_out", nonlinearity="relu"),
    // std = √(2 / fan_out), fan_out = out · kh · kw.
    const std = Math.sqrt(2 / (outChannels * kernel * kernel));
    this.weight = this.addParameter(
      'weight',
      tf.tidy(() => tf.mul(rng.randn([kernel, kernel, inChannels, outChannels]), std)),
      'conv2d',
    );
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    // A numeric pad in tfjs is symmetric (top = bottom = left = right), exactly torch's padding=p.
    return tf.conv2d(x, this.weight as tf.Tensor4D, this.stride, this.padding);
  }
}

/**
 * `nn.BatchNorm2d` over the channel (last) axis of NHWC tensors.
 * eval: y = (x − running_mean)/√(running_var + eps)·γ + β;
 * train: batch mean / biased variance over (N,H,W), and running ← (1−m)·running + m·batch with the
 * unbiased variance (torch `F.batch_norm`).
 */
class BatchNorm2d extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
  readonly runningMean: tf.Variable;
  readonly runningVar: tf.Variable;
  /** torch's `num_batches_tracked` (kept as a number; not a tensor parameter). */
  numBatchesTracked = 0;

  constructor(
    readonly channels: number,
    readonly eps: number,
    readonly momentum: number,
    zeroWeight = false,
  ) {
    super();
    this.weight = this.addParameter('weight', zeroWeight ? tf.zeros([channels]) : tf.ones([channels]));
    this.bias = this.addParameter('bias', tf.zeros([channels]));
    this.runningMean = this.addBuffer('running_mean', tf.zeros([channels]));
    this.runningVar = this.addBuffer('running_var', tf.ones([channels]));
  }

  forward(x: tf.Tensor4D, training: boolean): tf.Tensor4D {
    if (!training) {
      return tf.batchNorm4d(
        x,
        this.runningMean as tf.Tensor1D,
        this.runningVar as tf.Tensor1D,
        this.bias as tf.Tensor1D,
        this.weight as tf.Tensor1D,
        this.eps,
      );
    }
    const { mean, variance } = tf.moments(x, [0, 1, 2]);
    const n = x.shape[0] * x.shape[1] * x.shape[2];
    if (n <= 1)
      throw new ArgumentError(
        'x',
        `BatchNorm training needs more than 1 value per channel, got shape [${x.shape.join(', ')}]`,
      );
    // Running-average update (its result never feeds the output, so it adds nothing to gradients).
    const m = this.momentum;
    const newMean = tf.tidy(() => tf.add(tf.mul(this.runningMean, 1 - m), tf.mul(mean, m)));
    const newVar = tf.tidy(() => tf.add(tf.mul(this.runningVar, 1 - m), tf.mul(variance, (m * n) / (n - 1))));
    this.runningMean.assign(newMean);
    this.runningVar.assign(newVar);
    tf.dispose([newMean, newVar]);
    this.numBatchesTracked += 1;
    const y = tf.batchNorm4d(
      x,
      mean as tf.Tensor1D,
      variance as tf.Tensor1D,
      this.bias as tf.Tensor1D,
      this.weight as tf.Tensor1D,
      this.eps,
    );
    tf.dispose([mean, variance]);
    return y;
  }
}

/** `nn.Linear` with torch's default init; weight stored `[in, out]`. */
class Linear extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
  constructor(rng: SeededRNG, inFeatures: number, outFeatures: number) {
    super();
    this.weight = this.addParameter('weight', torchDefaultInit(rng, [inFeatures, outFeatures], inFeatures), 'linear');
    this.bias = this.addParameter('bias', torchDefaultInit(rng, [outFeatures], inFeatures));
  }
  forward(x: tf.Tensor2D): tf.Tensor2D {
    return tf.add(tf.matMul(x, this.weight as tf.Tensor2D), this.bias);
  }
}

/** `downsample = nn.Sequential(conv1x1(inplanes, planes·expansion, stride), norm_layer(…))`. */
class Downsample extends Module {
  readonly conv: Conv2dNoBias;
  readonly bn: BatchNorm2d;
  constructor(rng: SeededRNG, inC: number, outC: number, stride: number, eps: number, momentum: number) {
    super();
    this.conv = this.addModule(0, new Conv2dNoBias(rng, inC, outC, 1, stride, 0));
    this.bn = this.addModule(1, new BatchNorm2d(outC, eps, momentum));
  }
  forward(x: tf.Tensor4D, training: boolean): tf.Tensor4D {
    return this.bn.forward(this.conv.forward(x), training);
  }
}

interface Block extends Module {
  forward(x: tf.Tensor4D, training: boolean): tf.Tensor4D;
}

/** torchvision `BasicBlock`: conv3×3(stride)–bn–relu–conv3×3–bn, + identity, relu. */
class BasicBlock extends Module implements Block {
  private readonly conv1: Conv2dNoBias;
  private readonly bn1: BatchNorm2d;
  private readonly conv2: Conv2dNoBias;
  private readonly bn2: BatchNorm2d;
  private readonly downsample?: Downsample;
  constructor(rng: SeededRNG, inplanes: number, planes: number, stride: number, c: ResNetEncoderConfig) {
    super();
    this.conv1 = this.addModule('conv1', new Conv2dNoBias(rng, inplanes, planes, 3, stride, 1));
    this.bn1 = this.addModule('bn1', new BatchNorm2d(planes, c.bnEps, c.bnMomentum));
    this.conv2 = this.addModule('conv2', new Conv2dNoBias(rng, planes, planes, 3, 1, 1));
    this.bn2 = this.addModule('bn2', new BatchNorm2d(planes, c.bnEps, c.bnMomentum, c.zeroInitResidual));
    if (stride !== 1 || inplanes !== planes) {
      this.downsample = this.addModule(
        'downsample',
        new Downsample(rng, inplanes, planes, stride, c.bnEps, c.bnMomentum),
      );
    }
  }
  forward(x: tf.Tensor4D, training: boolean): tf.Tensor4D {
    return tf.tidy(() => {
      let out = tf.relu(this.bn1.forward(this.conv1.forward(x), training));
      out = this.bn2.forward(this.conv2.forward(out), training);
      const identity = this.downsample ? this.downsample.forward(x, training) : x;
      return tf.relu(tf.add(out, identity)) as tf.Tensor4D;
    });
  }
}

/** torchvision `Bottleneck` (v1.5): conv1×1–bn–relu–conv3×3(stride)–bn–relu–conv1×1(4·planes)–bn, + identity, relu. */
class Bottleneck extends Module implements Block {
  private readonly conv1: Conv2dNoBias;
  private readonly bn1: BatchNorm2d;
  private readonly conv2: Conv2dNoBias;
  private readonly bn2: BatchNorm2d;
  private readonly conv3: Conv2dNoBias;
  private readonly bn3: BatchNorm2d;
  private readonly downsample?: Downsample;
  constructor(rng: SeededRNG, inplanes: number, planes: number, stride: number, c: ResNetEncoderConfig) {
    super();
    const width = planes; // planes · (base_width / 64) · groups with the defaults 64 and 1
    const out = planes * EXPANSION.Bottleneck;
    this.conv1 = this.addModule('conv1', new Conv2dNoBias(rng, inplanes, width, 1, 1, 0));
    this.bn1 = this.addModule('bn1', new BatchNorm2d(width, c.bnEps, c.bnMomentum));
    this.conv2 = this.addModule('conv2', new Conv2dNoBias(rng, width, width, 3, stride, 1));
    this.bn2 = this.addModule('bn2', new BatchNorm2d(width, c.bnEps, c.bnMomentum));
    this.conv3 = this.addModule('conv3', new Conv2dNoBias(rng, width, out, 1, 1, 0));
    this.bn3 = this.addModule('bn3', new BatchNorm2d(out, c.bnEps, c.bnMomentum, c.zeroInitResidual));
    if (stride !== 1 || inplanes !== out) {
      this.downsample = this.addModule('downsample', new Downsample(rng, inplanes, out, stride, c.bnEps, c.bnMomentum));
    }
  }
  forward(x: tf.Tensor4D, training: boolean): tf.Tensor4D {
    return tf.tidy(() => {
      let out = tf.relu(this.bn1.forward(this.conv1.forward(x), training));
      out = tf.relu(this.bn2.forward(this.conv2.forward(out), training));
      out = this.bn3.forward(this.conv3.forward(out), training);
      const identity = this.downsample ? this.downsample.forward(x, training) : x;
      return tf.relu(tf.add(out, identity)) as tf.Tensor4D;
    });
  }
}

/** `nn.Sequential` of blocks registered under indices `0, 1, …`. */
class Stage extends Module {
  readonly blocks: Block[] = [];
  add(block: Block): void {
    this.blocks.push(this.addModule(this.blocks.length, block));
  }
  forward(x: tf.Tensor4D, training: boolean): tf.Tensor4D {
    return tf.tidy(() => this.blocks.reduce((h, b) => b.forward(h, training), x));
  }
}

export interface ResNetForwardOptions {
  /** Override the module's mode for this call (default: {@link ResNetEncoder.training}). */
  training?: boolean;
}

/**
 * torchvision `ResNet` as an image encoder: conv7×7/2 (pad 3) – BN – ReLU – maxpool 3×3/2 (pad 1)
 * – layer1…layerK – global average pool – `fc` → `[N, outFeatures]`.
 */
export class ResNetEncoder extends Module implements ConfigurableModel {
  readonly className = 'ResNetEncoder' as const;
  readonly config: ResNetEncoderConfig;
  /** Like torch's `module.training`; false (eval) after construction, unlike torch, as ADX mostly infers. */
  training = false;
  private readonly conv1: Conv2dNoBias;
  private readonly bn1: BatchNorm2d;
  private readonly stages: Stage[] = [];
  private readonly fc: Linear;

  /** State-dict keys of the PyTorch module that have no ADX parameter and are skipped on import. */
  static readonly ignoredTorchKeys: readonly RegExp[] = [/(^|\.)num_batches_tracked$/];

  /**
   * @param config full or partial config (defaults: timm resnet50 with 1 input channel and 512
   *   outputs, torchvision widths).
   * @param rng initialisation RNG (default `new SeededRNG(0)`), torchvision's init scheme.
   */
  constructor(config: ResNetEncoderConfigInput = {}, rng: SeededRNG = new SeededRNG(0)) {
    super();
    const c = (this.config = validateConfig(config));
    this.conv1 = this.addModule('conv1', new Conv2dNoBias(rng, c.inChannels, c.stemWidth, 7, 2, 3));
    this.bn1 = this.addModule('bn1', new BatchNorm2d(c.stemWidth, c.bnEps, c.bnMomentum));
    // ResNet._make_layer: the first block of each stage but the first has stride 2.
    let inplanes = c.stemWidth;
    c.layers.forEach((count, s) => {
      const planes = c.stagePlanes[s]!;
      const stage = this.addModule(`layer${s + 1}`, new Stage());
      for (let i = 0; i < count; i++) {
        const stride = i === 0 && s > 0 ? 2 : 1;
        stage.add(
          c.block === 'BasicBlock'
            ? new BasicBlock(rng, inplanes, planes, stride, c)
            : new Bottleneck(rng, inplanes, planes, stride, c),
        );
        inplanes = planes * EXPANSION[c.block];
      }
      this.stages.push(stage);
    });
    this.fc = this.addModule('fc', new Linear(rng, inplanes, c.outFeatures));
  }

  /** A named torchvision architecture; `widthDivisor` divides every width (the fixtures use 8). */
  static preset(
    name: ResNetPreset,
    options: { inChannels?: number; outFeatures?: number; widthDivisor?: number } = {},
    rng?: SeededRNG,
  ): ResNetEncoder {
    const p = PRESETS[name];
    if (!p) throw new ArgumentError('name', `unknown ResNet preset '${String(name)}' (resnet18, resnet34, resnet50)`);
    const d = options.widthDivisor ?? 1;
    if (!(Number.isInteger(64 / d) && 64 / d > 0))
      throw new ArgumentError('options.widthDivisor', `must divide 64, got ${d}`);
    return new ResNetEncoder(
      {
        ...p,
        inChannels: options.inChannels ?? 1,
        outFeatures: options.outFeatures ?? 512,
        stemWidth: 64 / d,
        stagePlanes: [64, 128, 256, 512].map((w) => w / d),
      },
      rng,
    );
  }

  /** Width of the pooled feature vector fed to `fc`. */
  get featureDim(): number {
    return this.config.stagePlanes[this.config.stagePlanes.length - 1]! * EXPANSION[this.config.block];
  }

  /** Sets training mode (batch statistics + running-stat updates); returns this. */
  train(mode = true): this {
    this.training = mode;
    return this;
  }

  /** Sets eval mode (running statistics); returns this. */
  eval(): this {
    return this.train(false);
  }

  /**
   * @param x NHWC images `[N, H, W, inChannels]`.
   * @returns `[N, outFeatures]`.
   */
  forward(x: tf.Tensor4D, options: ResNetForwardOptions = {}): tf.Tensor2D {
    assertRank('x', x.shape, 4);
    if (x.shape[3] !== this.config.inChannels) {
      throw new ArgumentError(
        'x',
        `expected ${this.config.inChannels} channels (NHWC), got shape [${x.shape.join(', ')}]`,
      );
    }
    const training = options.training ?? this.training;
    return tf.tidy(() => {
      let h = tf.relu(this.bn1.forward(this.conv1.forward(x), training));
      // nn.MaxPool2d(3, 2, padding=1): tfjs pooling skips padded positions, i.e. pads with −∞.
      h = tf.maxPool(h, 3, 2, 1);
      for (const stage of this.stages) h = stage.forward(h, training);
      const pooled = tf.mean(h, [1, 2]) as tf.Tensor2D; // AdaptiveAvgPool2d((1,1)) + flatten
      return this.fc.forward(pooled);
    });
  }

  /** Alias of {@link forward} (callable-module style). */
  apply(x: tf.Tensor4D, options?: ResNetForwardOptions): tf.Tensor2D {
    return this.forward(x, options);
  }

  /** BatchNorm `num_batches_tracked` counters keyed like torch (for checkpoints). */
  numBatchesTracked(): Map<string, number> {
    return new Map(this.batchNorms().map(([prefix, bn]) => [`${prefix}num_batches_tracked`, bn.numBatchesTracked]));
  }

  /** Restores the counters from torch `num_batches_tracked` entries (I64 scalars) of a state dict. */
  setNumBatchesTracked(stateDict: Map<string, { data: ArrayLike<number | bigint> | BigInt64Array }>): void {
    for (const [prefix, bn] of this.batchNorms()) {
      const v = stateDict.get(`${prefix}num_batches_tracked`)?.data[0];
      if (v !== undefined) bn.numBatchesTracked = Number(v);
    }
  }

  private batchNorms(): [string, BatchNorm2d][] {
    const out: [string, BatchNorm2d][] = [['bn1.', this.bn1]];
    this.stages.forEach((stage, s) =>
      stage.blocks.forEach((b, i) => {
        const block = b as unknown as Record<string, unknown>;
        for (const name of ['bn1', 'bn2', 'bn3']) {
          const bn = block[name];
          if (bn instanceof BatchNorm2d) out.push([`layer${s + 1}.${i}.${name}.`, bn]);
        }
        const ds = block.downsample;
        if (ds instanceof Downsample) out.push([`layer${s + 1}.${i}.downsample.1.`, ds.bn]);
      }),
    );
    return out;
  }

  toConfig(): ResNetEncoderConfig {
    return { ...this.config, layers: [...this.config.layers], stagePlanes: [...this.config.stagePlanes] };
  }

  /** Builds from a JSON config; `options.seed` (or `options.rng`) seeds the initialisation. */
  static fromConfig(config: unknown, options: { seed?: number; rng?: SeededRNG } = {}): ResNetEncoder {
    return new ResNetEncoder(validateConfig(config), options.rng ?? new SeededRNG(options.seed ?? 0));
  }
}
