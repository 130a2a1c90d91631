/**
 * SparK masking pieces for the optional encoder pre-training of cDDPM (conditioned.md §1.1;
 * `src/models/modules/spark/Spark_2D.py` `SparK_2D.mask` and `spatial_loss` of
 * `FinnBehrendt/Conditioned-Diffusion-Models-UAD` @ c5904a71, after Tian et al., ICLR 2023):
 *
 *   len_keep = round(h·w·(1 − mask_ratio))                    3×3 grid, ratio 0.65 → 3 visible patches
 *   idx      = argsort(rand(B, h·w))[:, :len_keep]            visible patches per sample
 *   masked x = x · upsample(mask)                             (patch = H/h px, 32 at 96²)
 *   loss     = Σ_b,l mse_l(x, x̂)·[l masked] / (Σ [l masked] + 1e-8)   per-patch MSE, masked patches only
 *
 * The pre-training itself ({@link sparkPretrainEncoder}: sparse ResNet + light decoder) and the
 * conv/BN weight transfer into cDDPM ({@link transferEncoderWeights}) are at the bottom of this file.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  AdamW,
  ArgumentError,
  Conv2d,
  Module,
  ResNetEncoder,
  SeededRNG,
  epochBatches,
  iterateBatches,
  registerWasmTrainingKernels,
  upsampleNearest2x,
  type AdamConfig,
  type BatchInput,
  type TrainingData,
} from '@adx/diffusion-core';

export interface SparkMaskOptions {
  /** Patches per side (downsample ratio 32 at 96 px → 3). */
  gridSize?: number;
  /** Fraction of masked patches (default 0.65). */
  maskRatio?: number;
}

/**
 * Visible-patch masks `[B, g, g]` (1 = visible, row-major patches): for every sample, the
 * `round(g²·(1 − maskRatio))` patches with the smallest uniform draws (`rand(B, L).argsort()[:, :len_keep]`).
 */
export function sparkMask(batch: number, rng: SeededRNG, options: SparkMaskOptions = {}): Uint8Array {
  const { gridSize = 3, maskRatio = 0.65 } = options;
  if (!Number.isInteger(batch) || batch < 1) throw new ArgumentError('batch', `expected an integer ≥ 1, got ${batch}`);
  if (!Number.isInteger(gridSize) || gridSize < 1)
    throw new ArgumentError('options.gridSize', `expected an integer ≥ 1, got ${gridSize}`);
  if (!(maskRatio >= 0 && maskRatio < 1))
    throw new ArgumentError('options.maskRatio', `must be in [0, 1), got ${maskRatio}`);
  const L = gridSize * gridSize;
  const keep = Math.round(L * (1 - maskRatio));
  const out = new Uint8Array(batch * L);
  for (let b = 0; b < batch; b++) {
    const draws = Array.from({ length: L }, (_, l) => ({ l, u: rng.uniform() }));
    draws.sort((p, q) => p.u - q.u);
    for (let k = 0; k < keep; k++) out[b * L + draws[k]!.l] = 1;
  }
  return out;
}

/** The pixel mask `[B, H, W, 1]` of patch masks `[B, g, g]` (nearest upsampling; H and W multiples of g). */
export function sparkPixelMask(
  mask: Uint8Array,
  batch: number,
  height: number,
  width: number,
  gridSize = 3,
): tf.Tensor4D {
  if (height % gridSize !== 0 || width % gridSize !== 0)
    throw new ArgumentError('height', `the image ${height}×${width} must be a multiple of the grid ${gridSize}`);
  if (mask.length !== batch * gridSize * gridSize)
    throw new ArgumentError('mask', `expected ${batch * gridSize * gridSize} entries, got ${mask.length}`);
  const ph = height / gridSize;
  const pw = width / gridSize;
  const px = new Float32Array(batch * height * width);
  for (let b = 0; b < batch; b++)
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++)
        px[(b * height + y) * width + x] =
          mask[b * gridSize * gridSize + Math.floor(y / ph) * gridSize + Math.floor(x / pw)]!;
  return tf.tensor4d(px, [batch, height, width, 1]);
}

/**
 * SparK `spatial_loss` (`loss_l2`, no pixel normalisation, loss on masked patches only): per-patch
 * MSE over the patch pixels and channels, averaged over the masked patches of the batch.
 */
export function sparkMaskedLoss(
  input: tf.Tensor4D,
  reconstruction: tf.Tensor4D,
  mask: Uint8Array,
  gridSize = 3,
): tf.Scalar {
  const [b, h, w, c] = input.shape;
  if (reconstruction.shape.join() !== input.shape.join())
    throw new ArgumentError('reconstruction', `shape [${reconstruction.shape.join(', ')}] differs from the input's`);
  if (h % gridSize !== 0 || w % gridSize !== 0)
    throw new ArgumentError('input', `the image ${h}×${w} must be a multiple of the grid ${gridSize}`);
  const g = gridSize;
  const masked = Float32Array.from(mask, (v) => (v ? 0 : 1)); // non_active = mask.logical_not()
  if (masked.length !== b * g * g)
    throw new ArgumentError('mask', `expected ${b * g * g} entries, got ${masked.length}`);
  return tf.tidy(() => {
    const d = tf.square(tf.sub(input, reconstruction));
    // patchify: [B, g, H/g, g, W/g, C] → mean over the patch pixels and channels → [B, g, g]
    const perPatch = tf.mean(tf.reshape(d, [b, g, h / g, g, w / g, c]), [2, 4, 5]);
    const weights = tf.tensor3d(masked, [b, g, g]);
    return tf.div(tf.sum(tf.mul(perPatch, weights)), tf.add(tf.sum(weights), 1e-8)) as tf.Scalar;
  });
}

// ---------------------------------------------------------------------------------------------
// SparK pre-training of the condition encoder (conditioned.md §1.1; `src/models/Spark_2D.py`,
// `src/models/modules/spark/{encoder,decoder,Spark_2D}.py`).

/** The ResNet's visible positions at one resolution, `[B, h, w, 1]`, and how many there are. */
interface ActiveMask {
  mask: tf.Tensor4D;
  count: number;
}

/**
 * SparK's `_get_active_ex_or_ii`: the patch mask `[B, g, g]` upsampled (nearest) to `h × w`.
 * For `h` a multiple of `g` this is `repeat_interleave(h // g)`, as upstream.
 */
function activeAt(mask: Uint8Array, batch: number, g: number, h: number, w: number): ActiveMask {
  const px = new Float32Array(batch * h * w);
  let count = 0;
  for (let b = 0; b < batch; b++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        const v = mask[b * g * g + Math.floor((y * g) / h) * g + Math.floor((x * g) / w)]!;
        px[(b * h + y) * w + x] = v;
        count += v;
      }
  return { mask: tf.tensor4d(px, [batch, h, w, 1]), count };
}

/**
 * SparK's `SparseBatchNorm2d`: batch statistics over the visible positions only (training), or the
 * running statistics (eval); masked positions are zero on output. In training the running
 * statistics are updated from the visible positions (momentum, unbiased variance, as `BatchNorm1d`).
 */
function sparseBatchNorm(
  x: tf.Tensor4D,
  active: ActiveMask,
  p: { weight: tf.Tensor; bias: tf.Tensor; runningMean?: tf.Variable; runningVar?: tf.Variable },
  training: boolean,
  eps: number,
  momentum: number,
): tf.Tensor4D {
  const m = active.mask;
  if (!training) {
    if (!p.runningMean || !p.runningVar) throw new ArgumentError('training', 'eval mode needs running statistics');
    const y = tf.batchNorm4d(
      x,
      p.runningMean as tf.Tensor1D,
      p.runningVar as tf.Tensor1D,
      p.bias as tf.Tensor1D,
      p.weight as tf.Tensor1D,
      eps,
    );
    return tf.mul(y, m);
  }
  const n = Math.max(1, active.count);
  const mean = tf.div(tf.sum(tf.mul(x, m), [0, 1, 2]), n);
  const centred = tf.mul(tf.sub(x, mean), m);
  const variance = tf.div(tf.sum(tf.square(centred), [0, 1, 2]), n);
  if (p.runningMean && p.runningVar && n > 1) {
    const rm = p.runningMean;
    const rv = p.runningVar;
    const newMean = tf.tidy(() => tf.add(tf.mul(rm, 1 - momentum), tf.mul(mean, momentum)));
    const newVar = tf.tidy(() => tf.add(tf.mul(rv, 1 - momentum), tf.mul(variance, (momentum * n) / (n - 1))));
    rm.assign(newMean);
    rv.assign(newVar);
    tf.dispose([newMean, newVar]);
  }
  const y = tf.add(tf.mul(tf.div(centred, tf.sqrt(tf.add(variance, eps))), p.weight), p.bias);
  return tf.mul(y, m) as tf.Tensor4D;
}

/** Number of ×2 reductions of a torchvision ResNet: stem conv (2), max-pool (2), then one per stage after the first. */
export function resnetDownsampleRatio(encoder: ResNetEncoder): number {
  return 2 ** (encoder.config.layers.length + 1);
}

/**
 * The ResNet as SparK's sparse encoder (`SparseEncoder.dense_model_to_sparse`, `pyramid = #stages`):
 * the same parameters (read by their torchvision names), every conv / max-pool output multiplied by
 * the visibility mask at its resolution, BatchNorm over visible positions only. Returns the outputs
 * of layer1 … layerK (finest first). drop_path is not ported (ResNetEncoder has none).
 */
export function sparseEncoderFeatures(
  encoder: ResNetEncoder,
  x: tf.Tensor4D,
  mask: Uint8Array,
  gridSize: number,
  training: boolean,
): tf.Tensor4D[] {
  const c = encoder.config;
  const B = x.shape[0];
  const params = encoder.namedParameters();
  const v = (key: string): tf.Variable => {
    const p = params.get(key);
    if (!p) throw new ArgumentError('encoder', `has no parameter '${key}'`);
    return p.variable;
  };
  const actives = new Map<string, ActiveMask>();
  const at = (h: number, w: number): ActiveMask => {
    let a = actives.get(`${h}x${w}`);
    if (!a) actives.set(`${h}x${w}`, (a = activeAt(mask, B, gridSize, h, w)));
    return a;
  };
  const conv = (h: tf.Tensor4D, key: string, stride: number, pad: number): tf.Tensor4D => {
    const y = tf.conv2d(h, v(key) as tf.Tensor4D, stride, pad);
    return tf.mul(y, at(y.shape[1], y.shape[2]).mask) as tf.Tensor4D; // SparseConv2d: x *= active
  };
  const bn = (h: tf.Tensor4D, prefix: string): tf.Tensor4D =>
    sparseBatchNorm(
      h,
      at(h.shape[1], h.shape[2]),
      {
        weight: v(`${prefix}weight`),
        bias: v(`${prefix}bias`),
        runningMean: v(`${prefix}running_mean`),
        runningVar: v(`${prefix}running_var`),
      },
      training,
      c.bnEps,
      c.bnMomentum,
    );
  try {
    return tf.tidy(() => {
      let h = tf.relu(bn(conv(x, 'conv1.weight', 2, 3), 'bn1.'));
      h = tf.maxPool(h, 3, 2, 1);
      h = tf.mul(h, at(h.shape[1], h.shape[2]).mask) as tf.Tensor4D; // SparseMaxPooling
      const features: tf.Tensor4D[] = [];
      c.layers.forEach((count, s) => {
        for (let i = 0; i < count; i++) {
          const p = `layer${s + 1}.${i}.`;
          const stride = i === 0 && s > 0 ? 2 : 1;
          let out: tf.Tensor4D;
          if (c.block === 'BasicBlock') {
            out = tf.relu(bn(conv(h, `${p}conv1.weight`, stride, 1), `${p}bn1.`));
            out = bn(conv(out, `${p}conv2.weight`, 1, 1), `${p}bn2.`);
          } else {
            out = tf.relu(bn(conv(h, `${p}conv1.weight`, 1, 0), `${p}bn1.`));
            out = tf.relu(bn(conv(out, `${p}conv2.weight`, stride, 1), `${p}bn2.`));
            out = bn(conv(out, `${p}conv3.weight`, 1, 0), `${p}bn3.`);
          }
          const identity = params.has(`${p}downsample.0.weight`)
            ? bn(conv(h, `${p}downsample.0.weight`, stride, 0), `${p}downsample.1.`)
            : h;
          h = tf.relu(tf.add(out, identity)) as tf.Tensor4D;
        }
        features.push(h);
      });
      return features;
    });
  } finally {
    for (const a of actives.values()) a.mask.dispose();
  }
}

export interface SparkDecoderConfig {
  /** Output widths of layer1 … layerK of the encoder (finest first). */
  featureWidths: number[];
  /** `dec_dim`: width of the first (coarsest) decoder stage, halved per stage (SparK: 512). */
  decoderWidth: number;
  /** Image channels (1). */
  outChannels: number;
  /** Number of ×2 up-stages (log2 of the encoder's downsample ratio: 5 for a 4-stage ResNet). */
  upStages: number;
}

/**
 * A light SparK decoder (`spark/decoder.py` `LightDecoder` + the densify step of `SparK_2D.forward`):
 *
 *   for level i (coarsest first): f_i = SparseBN(feature_i); f_i[masked] = mask_token_i;
 *                                 to_dec_i = proj_i(f_i)   (1×1 conv at the top, 3×3 below)
 *   x = 0; for stage j: x = x + to_dec_j (if any); x = conv-BN-ReLU6-conv-BN(up×2(x))   (widths d/2^j → d/2^{j+1})
 *   reconstruction = conv1×1(x)
 *
 * Deviation: upsampling is nearest ×2 instead of `ConvTranspose2d(k4, s2, p1)`, and the decoder
 * BatchNorms always use batch statistics (the decoder is discarded after pre-training).
 */
export class SparkLightDecoder extends Module {
  readonly className = 'SparkLightDecoder';
  readonly config: SparkDecoderConfig;
  private readonly stages: {
    conv1: Conv2d;
    conv2: Conv2d;
    bn1: [tf.Variable, tf.Variable];
    bn2: [tf.Variable, tf.Variable];
  }[] = [];
  private readonly densify: { token: tf.Variable; bn: [tf.Variable, tf.Variable]; proj: Conv2d }[] = [];
  private readonly head: Conv2d;

  constructor(config: SparkDecoderConfig, rng: SeededRNG = new SeededRNG(0)) {
    super();
    const { featureWidths, decoderWidth, outChannels, upStages } = config;
    if (!(Number.isInteger(upStages) && upStages >= featureWidths.length))
      throw new ArgumentError('config.upStages', `needs ≥ ${featureWidths.length} stages, got ${upStages}`);
    this.config = { ...config, featureWidths: [...featureWidths] };
    const width = (j: number) => Math.max(1, Math.floor(decoderWidth / 2 ** j));
    const K = featureWidths.length;
    for (let i = 0; i < K; i++) {
      const fw = featureWidths[K - 1 - i]!;
      // mask_tokens[i]: trunc_normal_(std=.02, a=−.02, b=.02)
      const token = this.addParameter(
        `mask_tokens.${i}`,
        tf.tidy(() => tf.clipByValue(tf.mul(rng.randn([fw]), 0.02), -0.02, 0.02)),
      );
      const bn: [tf.Variable, tf.Variable] = [
        this.addParameter(`densify_norms.${i}.weight`, tf.ones([fw])),
        this.addParameter(`densify_norms.${i}.bias`, tf.zeros([fw])),
      ];
      const k = i === 0 ? 1 : 3;
      const proj = this.addModule(
        `densify_projs.${i}`,
        new Conv2d(fw, width(i), k, { padding: (k - 1) / 2, rng: rng.fork() }),
      );
      this.densify.push({ token, bn, proj });
    }
    for (let j = 0; j < upStages; j++) {
      const cin = width(j);
      const cout = width(j + 1);
      this.stages.push({
        conv1: this.addModule(`dec.${j}.conv.0`, new Conv2d(cin, cin, 3, { padding: 1, bias: false, rng: rng.fork() })),
        bn1: [
          this.addParameter(`dec.${j}.conv.1.weight`, tf.ones([cin])),
          this.addParameter(`dec.${j}.conv.1.bias`, tf.zeros([cin])),
        ],
        conv2: this.addModule(
          `dec.${j}.conv.3`,
          new Conv2d(cin, cout, 3, { padding: 1, bias: false, rng: rng.fork() }),
        ),
        bn2: [
          this.addParameter(`dec.${j}.conv.4.weight`, tf.ones([cout])),
          this.addParameter(`dec.${j}.conv.4.bias`, tf.zeros([cout])),
        ],
      });
    }
    this.head = this.addModule('proj', new Conv2d(width(upStages), outChannels, 1, { rng: rng.fork() }));
  }

  /**
   * @param features encoder outputs layer1 … layerK (finest first), zero at masked positions.
   * @param mask the visible patches `[B, g, g]` (1 = visible) of this batch.
   * @returns the reconstruction `[B, H, W, outChannels]`.
   */
  apply(features: readonly tf.Tensor4D[], mask: Uint8Array, gridSize: number): tf.Tensor4D {
    const K = this.config.featureWidths.length;
    if (features.length !== K)
      throw new ArgumentError('features', `expected ${K} feature maps, got ${features.length}`);
    const B = features[0]!.shape[0];
    const owned: tf.Tensor[] = [];
    try {
      return tf.tidy(() => {
        const toDec = this.densify.map(({ token, bn, proj }, i) => {
          const f = features[K - 1 - i]!;
          const a = activeAt(mask, B, gridSize, f.shape[1], f.shape[2]);
          owned.push(a.mask);
          const normed = sparseBatchNorm(f, a, { weight: bn[0], bias: bn[1] }, true, 1e-5, 0.1);
          // torch.where(cur_active, bcff, mask_tokens)
          const filled = tf.add(normed, tf.mul(tf.sub(1, a.mask), tf.reshape(token, [1, 1, 1, -1])));
          return proj.apply(filled as tf.Tensor4D);
        });
        const dense = (h: tf.Tensor4D, [w, b]: [tf.Variable, tf.Variable]) => {
          const { mean, variance } = tf.moments(h, [0, 1, 2]);
          return tf.add(tf.mul(tf.div(tf.sub(h, mean), tf.sqrt(tf.add(variance, 1e-5))), w), b) as tf.Tensor4D;
        };
        let x: tf.Tensor4D | null = null;
        this.stages.forEach((s, j) => {
          const add = toDec[j];
          const input: tf.Tensor4D = add ? (x ? (tf.add(x, add) as tf.Tensor4D) : add) : x!;
          let h = upsampleNearest2x(input);
          h = tf.clipByValue(dense(s.conv1.apply(h), s.bn1), 0, 6) as tf.Tensor4D; // ReLU6
          x = dense(s.conv2.apply(h), s.bn2);
        });
        return this.head.apply(x!);
      });
    } finally {
      tf.dispose(owned);
    }
  }

  toConfig(): SparkDecoderConfig & { className: string } {
    return { className: this.className, ...this.config, featureWidths: [...this.config.featureWidths] };
  }
}

export interface SparkPretrainOptions {
  /** Optimiser steps (SparK upstream: 1200 epochs of 12 steps). */
  steps: number;
  /** Patches per side (default: image size / the encoder's downsample ratio, 3 at 96² for ResNet-50). */
  gridSize?: number;
  /** Masked fraction of patches (default 0.65). */
  maskRatio?: number;
  /** `dec_dim` of the light decoder (default 512). */
  decoderWidth?: number;
  /** AdamW settings (default lr 1e-4, weight decay 0.05, betas (0.9, 0.95)). */
  optimizer?: Partial<AdamConfig>;
  /** Seed of masks and decoder init (default 3141). */
  seed?: number;
  onProgress?: (event: { step: number; loss: number }) => void;
}

export interface SparkPretrainResult {
  steps: number;
  /** The loss of every step (masked-patch MSE). */
  losses: number[];
}

async function hostImages(image: BatchInput['image']): Promise<{ data: Float32Array; shape: number[] }> {
  if (image instanceof tf.Tensor) return { data: (await image.data()) as Float32Array, shape: image.shape };
  return image;
}

/**
 * SparK masked-image-modelling pre-training of a cDDPM condition encoder in place
 * (`configs/experiment/cDDPM/Spark_2D_pretrain.yaml`): per batch, mask 65 % of a g×g patch grid,
 * run the sparse encoder on x·mask, decode with {@link SparkLightDecoder}, and minimise the per-patch
 * MSE on the masked patches only ({@link sparkMaskedLoss}); AdamW lr 1e-4, wd 0.05, β (0.9, 0.95).
 * Trains the encoder's conv/BN weights (and updates its BN running statistics from visible
 * positions); the `fc` head is untouched. The decoder is disposed at the end. Then copy the weights
 * into a cDDPM with {@link transferEncoderWeights}.
 *
 * @param data batches of clean slices `[B, H, W, 1]` in [0, 1] (e.g. {@link randomSliceBatches});
 *   epochs restart until `steps` is reached.
 */
export async function sparkPretrainEncoder(
  encoder: ResNetEncoder,
  data: TrainingData,
  options: SparkPretrainOptions,
): Promise<SparkPretrainResult> {
  const { steps, maskRatio = 0.65, decoderWidth = 512, seed = 3141, onProgress } = options;
  if (!(Number.isInteger(steps) && steps >= 1))
    throw new ArgumentError('options.steps', `expected an integer ≥ 1, got ${steps}`);
  registerWasmTrainingKernels();
  const ratio = resnetDownsampleRatio(encoder);
  const c = encoder.config;
  const widths = c.stagePlanes.map((p) => p * (c.block === 'Bottleneck' ? 4 : 1));
  const rng = new SeededRNG(seed);
  const decoder = new SparkLightDecoder(
    { featureWidths: widths, decoderWidth, outChannels: c.inChannels, upStages: Math.log2(ratio) },
    rng.fork(),
  );
  const trainable = [
    ...[...encoder.namedParameters()]
      .filter(([k, p]) => p.trainable && !k.startsWith('fc.'))
      .map(([k, p]) => [`encoder.${k}`, p.variable] as const),
    ...[...decoder.namedParameters()]
      .filter(([, p]) => p.trainable)
      .map(([k, p]) => [`decoder.${k}`, p.variable] as const),
  ];
  const byVariable = new Map(trainable.map(([k, v]) => [v.name, k]));
  let optimizer!: AdamW;
  tf.tidy(() => {
    optimizer = new AdamW(Object.fromEntries(trainable), {
      lr: 1e-4,
      weightDecay: 0.05,
      betas: [0.9, 0.95],
      ...options.optimizer,
    });
  });
  const losses: number[] = [];
  const wasTraining = encoder.training;
  try {
    for (let epoch = 0; losses.length < steps; epoch++) {
      let any = false;
      for await (const b of iterateBatches(epochBatches(data, epoch))) {
        any = true;
        const img = await hostImages(b.image);
        const [B, H, W, C] = img.shape as [number, number, number, number];
        const g = options.gridSize ?? H / ratio;
        if (!Number.isInteger(g) || g < 1 || H % g !== 0 || W % g !== 0 || H % ratio !== 0 || W % ratio !== 0)
          throw new ArgumentError(
            'data',
            `SparK needs H and W divisible by the downsample ratio ${ratio} and the grid ${g}, got ${H}×${W}`,
          );
        const mask = sparkMask(B, rng, { gridSize: g, maskRatio });
        const x = tf.tensor4d(img.data, [B, H, W, C]);
        const px = sparkPixelMask(mask, B, H, W, g);
        let value: tf.Scalar;
        let grads: tf.NamedTensorMap;
        try {
          ({ value, grads } = tf.variableGrads(
            () => {
              const masked = tf.mul(x, px) as tf.Tensor4D; // inp_bchw * active_b1hw
              const feats = sparseEncoderFeatures(encoder, masked, mask, g, true);
              const rec = decoder.apply(feats, mask, g);
              return sparkMaskedLoss(x, rec, mask, g);
            },
            trainable.map(([, v]) => v),
          ));
        } finally {
          tf.dispose([x, px]);
        }
        const named: Record<string, tf.Tensor> = {};
        for (const [n, t] of Object.entries(grads)) named[byVariable.get(n) ?? n] = t;
        optimizer.step(named);
        tf.dispose(Object.values(grads));
        const loss = (await value.data())[0]!;
        value.dispose();
        losses.push(loss);
        onProgress?.({ step: losses.length, loss });
        if (losses.length >= steps) break;
      }
      if (!any) throw new ArgumentError('data', 'yielded no batches');
    }
  } finally {
    optimizer.dispose();
    decoder.dispose();
    encoder.train(wasTraining);
  }
  return { steps: losses.length, losses };
}

/**
 * Copies the conv and BatchNorm tensors (weights, biases, running statistics, `num_batches_tracked`)
 * of a pre-trained encoder into a cDDPM encoder of the same architecture, and nothing else: the
 * `fc` head keeps its own (fresh) weights (`DDPM_2D.py` L74-91: `sparse_encoder…sp_cnn.X → encoder.X`,
 * `fc.*` dropped, `strict=False`). Returns the copied and the kept keys.
 */
export function transferEncoderWeights(
  source: ResNetEncoder,
  target: ResNetEncoder | { encoder: ResNetEncoder | null },
): { copied: string[]; kept: string[] } {
  const dst = target instanceof ResNetEncoder ? target : target.encoder;
  if (!dst) throw new ArgumentError('target', 'has no condition encoder (only the cDDPM variant has one)');
  const from = source.namedParameters();
  const to = dst.namedParameters();
  const copied: string[] = [];
  const kept: string[] = [];
  for (const [key, p] of to) {
    if (key.startsWith('fc.')) {
      kept.push(key);
      continue;
    }
    const s = from.get(key);
    if (!s) throw new ArgumentError('source', `has no tensor '${key}' (different architecture)`);
    if (s.variable.shape.join() !== p.variable.shape.join())
      throw new ArgumentError(
        'source',
        `'${key}' has shape [${s.variable.shape.join(', ')}], the target [${p.variable.shape.join(', ')}]`,
      );
    p.variable.assign(s.variable);
    copied.push(key);
  }
  for (const key of from.keys())
    if (!to.has(key))
      throw new ArgumentError('source', `has tensor '${key}' the target lacks (different architecture)`);
  const counters = new Map(
    [...source.numBatchesTracked()].map(([k, n]) => [k, { data: [n] as ArrayLike<number> }] as const),
  );
  dst.setNumBatchesTracked(counters);
  return { copied, kept };
}
