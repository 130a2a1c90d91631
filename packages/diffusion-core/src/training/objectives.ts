/**
 * Training objectives of the three papers, as one interface the {@link Trainer} drives:
 *
 * | objective | paper / reference code | loss |
 * | --- | --- | --- |
 * | {@link DiffusionObjective} `epsilon` + `mse` | THOR (`AnoTrainer`, `core/Trainer.py`), Wolleb (`LossType.MSE`) | ‖ε − ε_θ(x_t, t)‖² |
 * | {@link DiffusionObjective} `epsilon` + `hybrid` | Wolleb et al. (guided-diffusion `training_losses`, learned-range Σ, `rescale_learned_sigmas=False`) | ‖ε − ε_θ‖² + L_vb (bits/dim, stop-gradient on the mean) |
 * | {@link DiffusionObjective} `sample` + `l1` | Behrendt et al. (`cond_DDPM.py` `p_losses`, objective `pred_x0`) | |x₀ − x̂₀_θ(x_t, t, c)| |
 * | {@link ClassifierObjective} | Wolleb et al. (`scripts/classifier_train.py`) | CE(f(x_t, t), y), optional class weights |
 *
 * Every objective draws its timesteps (guided-diffusion `UniformSampler`: t ~ U{0, …, T−1}, one
 * per sample) and its noise from the generator it is given, so a seeded trainer reproduces them.
 * Conditioning: class labels (Wolleb's class-conditional UNet) or a condition vector computed from
 * the clean input by an encoder trained jointly (cDDPM: `DDPM_2D.forward` passes the [0, 1] input
 * to the ResNet, the UNet gets x_t in [−1, 1]).
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError, ConfigError, checkConfigKeys } from '../errors.js';
import type { Classifier, DenoisingModel } from '../models/types.js';
import type { Module } from '../nn/module.js';
import { SeededRNG } from '../random/rng.js';
import type { DDPMScheduler } from '../schedulers/ddpm.js';
import { simplexNoiseBatch } from '../noise/simplex.js';
import { sampleUniformTimesteps } from './losses.js';

/** A batch as the objectives see it: NHWC images and optional conditioning, all tensors. */
export interface TrainingBatch {
  /** Clean images `[B, H, W, C]` in the data range (usually [0, 1]). */
  image: tf.Tensor4D;
  /** Integer class labels `[B]` (class-conditional UNet, noisy classifier). */
  label?: tf.Tensor1D;
  /** Condition vectors `[B, K]` given directly (instead of an encoder). */
  condition?: tf.Tensor2D;
}

/** A trainable network: an ADX module with a JSON config (what checkpoints store). */
export type TrainableNetwork = Module & { readonly className: string; toConfig(): { className: string } };

/** Per-step context the trainer hands to {@link TrainingObjective.loss}. */
export interface ObjectiveContext {
  /** Timesteps and noise come from here. */
  rng: SeededRNG;
  /** Dropout masks come from here (forward `training: true`). */
  dropoutRng: SeededRNG;
}

/** The loss terms of a step (scalars; the trainer disposes them). */
export interface ObjectiveOutput {
  /** The scalar that is differentiated. */
  loss: tf.Scalar;
}

/**
 * What the trainer optimises: it owns its networks (by role; the role `model` is the one written
 * to `model.safetensors`) and turns a batch into a scalar loss differentiable w.r.t. their
 * trainable variables. `loss` runs inside `tf.variableGrads` (synchronous, no host reads).
 */
export interface TrainingObjective {
  readonly className: string;
  /** Networks by role; must contain `model`. Other roles (e.g. `encoder`) are trained jointly. */
  networks(): Record<string, TrainableNetwork>;
  loss(batch: TrainingBatch, context: ObjectiveContext): tf.Scalar;
  /** Puts networks in training (true) or evaluation mode (BatchNorm). */
  setTraining?(training: boolean): void;
  toConfig(): Record<string, unknown>;
}

// ---------------------------------------------------------------------------------------------
// guided-diffusion `losses.py` and the VB term

/**
 * KL(N(μ₁, e^{logσ₁²}) ‖ N(μ₂, e^{logσ₂²})) elementwise, in nats (guided-diffusion `losses.py`
 * `normal_kl`): ½(−1 + logσ₂² − logσ₁² + e^{logσ₁² − logσ₂²} + (μ₁ − μ₂)² e^{−logσ₂²}).
 */
export function normalKl(mean1: tf.Tensor, logvar1: tf.Tensor, mean2: tf.Tensor, logvar2: tf.Tensor): tf.Tensor {
  return tf.tidy(() =>
    tf.mul(
      0.5,
      tf.add(
        tf.add(tf.sub(tf.add(-1, logvar2), logvar1), tf.exp(tf.sub(logvar1, logvar2))),
        tf.mul(tf.square(tf.sub(mean1, mean2)), tf.exp(tf.neg(logvar2))),
      ),
    ),
  );
}

/** Φ(x) ≈ ½(1 + tanh(√(2/π)(x + 0.044715x³))) (guided-diffusion `approx_standard_normal_cdf`). */
export function approxStandardNormalCdf(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() =>
    tf.mul(
      0.5,
      tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.mul(x, tf.mul(x, x))))))),
    ),
  );
}

/**
 * log-likelihood (nats, elementwise) of images x ∈ [−1, 1] discretised to 256 bins under
 * N(means, e^{2·logScales}) (guided-diffusion `discretized_gaussian_log_likelihood`): the bin
 * [x − 1/255, x + 1/255], open at the edges (x < −0.999: log Φ(plus); x > 0.999: log(1 − Φ(min))).
 */
export function discretizedGaussianLogLikelihood(x: tf.Tensor, means: tf.Tensor, logScales: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const centered = tf.sub(x, means);
    const invStdv = tf.exp(tf.neg(logScales));
    const cdfPlus = approxStandardNormalCdf(tf.mul(invStdv, tf.add(centered, 1 / 255)));
    const cdfMin = approxStandardNormalCdf(tf.mul(invStdv, tf.sub(centered, 1 / 255)));
    const logCdfPlus = tf.log(tf.maximum(cdfPlus, 1e-12));
    const logOneMinusCdfMin = tf.log(tf.maximum(tf.sub(1, cdfMin), 1e-12));
    const logDelta = tf.log(tf.maximum(tf.sub(cdfPlus, cdfMin), 1e-12));
    return tf.where(tf.less(x, -0.999), logCdfPlus, tf.where(tf.greater(x, 0.999), logOneMinusCdfMin, logDelta));
  });
}

/** Identity forward, zero gradient (torch `.detach()`). */
export const stopGradient: (x: tf.Tensor) => tf.Tensor = tf.customGrad(((x: tf.Tensor) => ({
  value: tf.clone(x),
  gradFunc: (dy: tf.Tensor | tf.Tensor[]) => tf.zerosLike(dy as tf.Tensor),
})) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: tf.Tensor) => tf.Tensor;

/** Mean over all axes but the batch axis (guided-diffusion `mean_flat`). */
function meanFlat(x: tf.Tensor): tf.Tensor1D {
  return tf.mean(
    x,
    x.shape.slice(1).map((_, i) => i + 1),
  ) as tf.Tensor1D;
}

/**
 * The VB term L_vb per sample, in bits per dimension (guided-diffusion `_vb_terms_bpd` as
 * `training_losses` calls it for learned Σ: `clip_denoised=False`, the model's mean from the
 * **detached** ε̂, the variance from v with gradient):
 *   t > 0: KL(q(x_{t−1} | x_t, x₀) ‖ p_θ(x_{t−1} | x_t)) / ln 2
 *   t = 0: −log p_θ(x₀ | x₁) (discretised decoder NLL) / ln 2.
 * `modelOutput` is `[B, H, W, 2C]` (ε̂ | v), timesteps are indices of `scheduler.schedule`.
 */
export function vbTermBpd(
  scheduler: DDPMScheduler,
  modelOutput: tf.Tensor4D,
  x0: tf.Tensor4D,
  xt: tf.Tensor4D,
  timesteps: ArrayLike<number>,
): tf.Tensor1D {
  if (scheduler.varianceType !== 'learnedRange') {
    throw new ArgumentError('scheduler', `the VB term needs a learnedRange scheduler, got ${scheduler.varianceType}`);
  }
  const C = x0.shape[3];
  if (modelOutput.shape[3] !== 2 * C)
    throw new ArgumentError('modelOutput', `expected ${2 * C} channels (ε̂ and v), got ${modelOutput.shape[3]}`);
  return tf.tidy(() => {
    const [eps, v] = tf.split(modelOutput, 2, 3);
    // frozen_out = cat([model_output.detach(), model_var_values]): the VB term trains only Σ.
    const frozen = tf.concat([stopGradient(eps!), v!], 3);
    const truth = scheduler.qPosteriorMeanVariance(x0, xt, timesteps);
    const out = scheduler.pMeanVariance(frozen, timesteps, xt, { clipDenoised: false });
    const kl = tf.div(meanFlat(normalKl(truth.mean, truth.logVariance, out.mean, out.logVariance)), Math.LN2);
    const nll = tf.div(
      meanFlat(tf.neg(discretizedGaussianLogLikelihood(x0, out.mean, tf.mul(0.5, out.logVariance)))),
      Math.LN2,
    );
    const isZero = tf.tensor1d(
      Array.from(timesteps, (t) => (t === 0 ? 1 : 0)),
      'bool',
    );
    return tf.where(isZero, nll, kl) as tf.Tensor1D;
  });
}

// ---------------------------------------------------------------------------------------------
// Diffusion objective

export type DiffusionLossType = 'mse' | 'l1' | 'hybrid';
export type TrainingNoiseType = 'gaussian' | 'simplex';
export type InputScaling = 'none' | 'zeroOneToSymmetric';

export interface DiffusionObjectiveConfig {
  /** 'mse' (THOR, Wolleb ε-MSE), 'l1' (Behrendt x₀-L1) or 'hybrid' (MSE + L_vb, learned Σ). */
  lossType: DiffusionLossType;
  /** Training noise: Gaussian N(0, I) per pixel, or one unnormalised simplex map shared by the batch (cDDPM `gen_noise`). */
  noiseType: TrainingNoiseType;
  /** Input mapping before noising: none, or x → 2x − 1 (cDDPM `p_losses` L605). */
  inputScaling: InputScaling;
  /** Class labels from the batch go to the UNet (Wolleb's `class_cond`). */
  classConditional: boolean;
  /** Rescale L_vb by T/1000 (guided-diffusion RESCALED_MSE); false for Wolleb (`rescale_learned_sigmas=False`). */
  rescaleVb: boolean;
  /** Simplex parameters (cDDPM: 6 octaves, persistence 0.8, frequency 64, float16). */
  simplexOctaves: number;
  simplexPersistence: number;
  simplexFrequency: number;
}

const DIFFUSION_KEYS = [
  'lossType',
  'noiseType',
  'inputScaling',
  'classConditional',
  'rescaleVb',
  'simplexOctaves',
  'simplexPersistence',
  'simplexFrequency',
] as const;

export interface DiffusionObjectiveNetworks {
  /** The denoising UNet. */
  model: DenoisingModel & TrainableNetwork;
  /** Condition encoder trained jointly (cDDPM ResNet): c = encoder(x₀ in the data range). */
  encoder?: TrainableNetwork & {
    apply(x: tf.Tensor4D, options?: { training?: boolean }): tf.Tensor2D;
    train?(mode?: boolean): unknown;
  };
}

/**
 * The diffusion training loss (one per-sample t ~ U{0, …, T−1}, x_t = √ᾱ_t·x₀ + √(1−ᾱ_t)·n):
 * target ε for `predictionType: 'epsilon'`, x₀ for `'sample'` (the scheduler's setting).
 */
export class DiffusionObjective implements TrainingObjective {
  readonly className = 'DiffusionObjective';
  readonly config: DiffusionObjectiveConfig;
  /** The scheduler's `predictionType` is 'sample' (target x₀) rather than 'epsilon' (target ε). */
  readonly predictsSample: boolean;

  constructor(
    readonly nets: DiffusionObjectiveNetworks,
    readonly scheduler: DDPMScheduler,
    config: Partial<DiffusionObjectiveConfig> = {},
  ) {
    checkConfigKeys('DiffusionObjective', config, DIFFUSION_KEYS);
    const c: DiffusionObjectiveConfig = {
      lossType: 'mse',
      noiseType: 'gaussian',
      inputScaling: 'none',
      classConditional: false,
      rescaleVb: false,
      simplexOctaves: 6,
      simplexPersistence: 0.8,
      simplexFrequency: 64,
      ...config,
    };
    if (!['mse', 'l1', 'hybrid'].includes(c.lossType))
      throw new ConfigError('DiffusionObjective', 'lossType', `expected mse | l1 | hybrid, got ${String(c.lossType)}`);
    if (!['gaussian', 'simplex'].includes(c.noiseType))
      throw new ConfigError(
        'DiffusionObjective',
        'noiseType',
        `expected gaussian | simplex, got ${String(c.noiseType)}`,
      );
    if (!['none', 'zeroOneToSymmetric'].includes(c.inputScaling)) {
      throw new ConfigError(
        'DiffusionObjective',
        'inputScaling',
        `expected none | zeroOneToSymmetric, got ${String(c.inputScaling)}`,
      );
    }
    if (c.lossType === 'hybrid') {
      if (scheduler.varianceType !== 'learnedRange')
        throw new ConfigError('DiffusionObjective', 'lossType', "'hybrid' needs a learnedRange scheduler (learned Σ)");
      if (scheduler.toConfig().predictionType !== 'epsilon')
        throw new ConfigError('DiffusionObjective', 'lossType', "'hybrid' is implemented for ε-prediction");
    }
    const learned = scheduler.varianceType === 'learnedRange';
    const want = learned ? 2 * nets.model.inChannels : nets.model.inChannels;
    if (nets.model.outChannels !== want) {
      throw new ConfigError(
        'DiffusionObjective',
        undefined,
        `the model has ${nets.model.outChannels} output channels; the scheduler (${scheduler.varianceType}) needs ${want}`,
      );
    }
    this.config = c;
    this.predictsSample = scheduler.toConfig().predictionType === 'sample';
  }

  /** THOR (`AnoTrainer`): ε-MSE, Gaussian noise, images in [0, 1] as given (no scaling). */
  static thor(model: DiffusionObjectiveNetworks['model'], scheduler: DDPMScheduler): DiffusionObjective {
    return new DiffusionObjective({ model }, scheduler, { lossType: 'mse', noiseType: 'gaussian' });
  }

  /** Wolleb et al.: class-conditional, learned-range Σ, hybrid loss (MSE + unrescaled L_vb). */
  static wolleb(model: DiffusionObjectiveNetworks['model'], scheduler: DDPMScheduler): DiffusionObjective {
    return new DiffusionObjective({ model }, scheduler, { lossType: 'hybrid', classConditional: true });
  }

  /** Behrendt et al. cDDPM: x₀-L1, simplex noise, [0, 1] → [−1, 1], optional jointly trained encoder. */
  static behrendt(
    model: DiffusionObjectiveNetworks['model'],
    scheduler: DDPMScheduler,
    encoder?: DiffusionObjectiveNetworks['encoder'],
  ): DiffusionObjective {
    return new DiffusionObjective(encoder ? { model, encoder } : { model }, scheduler, {
      lossType: 'l1',
      noiseType: 'simplex',
      inputScaling: 'zeroOneToSymmetric',
    });
  }

  networks(): Record<string, TrainableNetwork> {
    const out: Record<string, TrainableNetwork> = { model: this.nets.model };
    if (this.nets.encoder) out.encoder = this.nets.encoder;
    return out;
  }

  setTraining(training: boolean): void {
    this.nets.encoder?.train?.(training);
  }

  /** Training noise with the image's shape. */
  drawNoise(shape: [number, number, number, number], rng: SeededRNG): tf.Tensor4D {
    if (this.config.noiseType === 'simplex') {
      const { simplexOctaves: octaves, simplexPersistence: persistence, simplexFrequency: frequency } = this.config;
      return simplexNoiseBatch(shape, rng, { octaves, persistence, frequency });
    }
    return rng.randn(shape) as tf.Tensor4D;
  }

  loss(batch: TrainingBatch, context: ObjectiveContext): tf.Scalar {
    return tf.tidy(() => tf.mean(this.perSampleLoss(batch, context)) as tf.Scalar);
  }

  /** The per-sample losses `[B]` (guided-diffusion `terms["loss"]`). */
  perSampleLoss(batch: TrainingBatch, context: ObjectiveContext, timesteps?: ArrayLike<number>): tf.Tensor1D {
    const x = batch.image;
    const [B, H, W, C] = x.shape;
    const sched = this.scheduler;
    const T = sched.schedule.numTimesteps;
    const t = timesteps ?? sampleUniformTimesteps(context.rng, B, T);
    return tf.tidy(() => {
      const x0 = this.config.inputScaling === 'zeroOneToSymmetric' ? (tf.sub(tf.mul(x, 2), 1) as tf.Tensor4D) : x;
      const noise = this.drawNoise([B, H, W, C], context.rng);
      const xt = sched.addNoise(x0, noise, t) as tf.Tensor4D;
      const cond: { classLabels?: tf.Tensor1D; condition?: tf.Tensor2D } = {};
      if (this.config.classConditional) {
        if (!batch.label) throw new ArgumentError('batch.label', 'the objective is class-conditional; give labels');
        cond.classLabels = batch.label;
      }
      if (this.nets.encoder) cond.condition = this.nets.encoder.apply(x, { training: true });
      else if (batch.condition) cond.condition = batch.condition;
      const modelT = sched.modelTimesteps(t);
      const out = this.nets.model.apply(xt, modelT, cond, { training: true, rng: context.dropoutRng });
      const target = this.predictsSample ? x0 : noise;
      const [pred, v] = out.shape[3] === 2 * C ? tf.split(out, 2, 3) : [out, null];
      const err = tf.sub(pred!, target);
      const main = meanFlat(this.config.lossType === 'l1' ? tf.abs(err) : tf.square(err));
      if (this.config.lossType !== 'hybrid' || v === null) return main;
      let vb = vbTermBpd(sched, out, x0, xt, t);
      if (this.config.rescaleVb) vb = tf.mul(vb, T / 1000);
      return tf.add(main, vb) as tf.Tensor1D;
    });
  }

  /**
   * Validation metric (THOR `test()`-style, one forward instead of a full reverse chain): noise the
   * batch to `timestep` with noise from `new SeededRNG(seed)` (the same every call), predict x̂₀
   * (unclipped) and return mean (x̂₀ − x₀)² in the model's input range. Networks run in eval mode.
   */
  async reconstructionError(
    batch: TrainingBatch,
    options: { timestep: number; seed?: number } = { timestep: 250 },
  ): Promise<number> {
    const { timestep, seed = 0 } = options;
    const x = batch.image;
    const [B, H, W, C] = x.shape;
    const rng = new SeededRNG(seed);
    this.setTraining(false);
    const err = tf.tidy(() => {
      const x0 = this.config.inputScaling === 'zeroOneToSymmetric' ? (tf.sub(tf.mul(x, 2), 1) as tf.Tensor4D) : x;
      const t = new Array<number>(B).fill(timestep);
      const xt = this.scheduler.addNoise(x0, this.drawNoise([B, H, W, C], rng), t) as tf.Tensor4D;
      const cond: { classLabels?: tf.Tensor1D; condition?: tf.Tensor2D } = {};
      if (this.config.classConditional) cond.classLabels = batch.label;
      if (this.nets.encoder) cond.condition = this.nets.encoder.apply(x, { training: false });
      else if (batch.condition) cond.condition = batch.condition;
      const out = this.nets.model.apply(xt, this.scheduler.modelTimesteps(t), cond);
      const x0Hat = this.scheduler.predictOriginalSample(out, t, xt, false);
      return tf.mean(tf.square(tf.sub(x0Hat, x0)));
    });
    const v = (await err.data())[0]!;
    err.dispose();
    return v;
  }

  toConfig(): Record<string, unknown> {
    return { className: this.className, ...this.config, scheduler: this.scheduler.toConfig() };
  }
}

// ---------------------------------------------------------------------------------------------
// Noisy classifier

export interface ClassifierObjectiveConfig {
  /** Train on x_t at t ~ U{0, …, T−1} (`--noised True`); false: on clean images. */
  noised: boolean;
  /** Per-class weights of the cross-entropy (torch `CrossEntropyLoss(weight=…)`), or null. */
  classWeights: number[] | null;
}

/**
 * Wolleb et al.'s noisy classifier (`scripts/classifier_train.py` `forward_backward_log`):
 * x_t = q_sample(x₀, t, fresh Gaussian noise) with t ~ U{0, …, T−1}, logits = f(x_t, t),
 * loss = cross-entropy with the (weak) labels. With class weights the mean is weighted as torch's
 * `F.cross_entropy(weight=w)`: Σ_i w_{y_i}·CE_i / Σ_i w_{y_i}.
 */
export class ClassifierObjective implements TrainingObjective {
  readonly className = 'ClassifierObjective';
  readonly config: ClassifierObjectiveConfig;

  constructor(
    readonly classifier: Classifier & TrainableNetwork,
    readonly scheduler: DDPMScheduler,
    config: Partial<ClassifierObjectiveConfig> = {},
  ) {
    checkConfigKeys('ClassifierObjective', config, ['noised', 'classWeights']);
    this.config = { noised: true, classWeights: null, ...config };
    const w = this.config.classWeights;
    if (w !== null && (!Array.isArray(w) || w.length !== classifier.numClasses || w.some((x) => !(x >= 0)))) {
      throw new ConfigError(
        'ClassifierObjective',
        'classWeights',
        `expected ${classifier.numClasses} non-negative weights, got ${JSON.stringify(w)}`,
      );
    }
  }

  networks(): Record<string, TrainableNetwork> {
    return { model: this.classifier };
  }

  loss(batch: TrainingBatch, context: ObjectiveContext): tf.Scalar {
    if (!batch.label) throw new ArgumentError('batch.label', 'the classifier objective needs labels');
    const x = batch.image;
    const B = x.shape[0];
    const T = this.scheduler.schedule.numTimesteps;
    const t = this.config.noised ? sampleUniformTimesteps(context.rng, B, T) : new Int32Array(B);
    return tf.tidy(() => {
      const xt = this.config.noised ? (this.scheduler.addNoise(x, context.rng.randn(x.shape), t) as tf.Tensor4D) : x;
      const logits = this.classifier.apply(xt, this.scheduler.modelTimesteps(t), {
        training: true,
        rng: context.dropoutRng,
      });
      return crossEntropyLoss(logits, batch.label!, this.config.classWeights ?? undefined);
    });
  }

  toConfig(): Record<string, unknown> {
    return { className: this.className, ...this.config, scheduler: this.scheduler.toConfig() };
  }
}

/**
 * torch `F.cross_entropy(logits, labels, weight)` with reduction 'mean':
 * CE_i = −log softmax(logits_i)[y_i]; mean = Σ w_{y_i} CE_i / Σ w_{y_i} (plain mean without weights).
 */
export function crossEntropyLoss(
  logits: tf.Tensor2D,
  labels: tf.Tensor1D,
  classWeights?: readonly number[],
): tf.Scalar {
  const [B, K] = logits.shape;
  if (labels.rank !== 1 || labels.shape[0] !== B)
    throw new ArgumentError('labels', `expected shape [${B}], got [${labels.shape.join(', ')}]`);
  if (classWeights && classWeights.length !== K)
    throw new ArgumentError('classWeights', `expected ${K} weights, got ${classWeights.length}`);
  return tf.tidy(() => {
    const oneHot = tf.oneHot(tf.cast(labels, 'int32'), K);
    // log softmax = logits − logsumexp(logits) (tf.logSoftmax leaks a data id on the wasm backend)
    const logProbs = tf.sub(logits, tf.logSumExp(logits, 1, true));
    const nll = tf.neg(tf.sum(tf.mul(logProbs, oneHot), 1));
    if (!classWeights) return tf.mean(nll) as tf.Scalar;
    const w = tf.sum(tf.mul(oneHot, tf.tensor1d([...classWeights])), 1);
    return tf.div(tf.sum(tf.mul(w, nll)), tf.sum(w)) as tf.Scalar;
  });
}
