/**
 * Training of the two networks of Wolleb et al. with the official hyperparameters, on the
 * `@adx/diffusion-core` trainer (spec classifier-guidance.md §2–§3):
 *
 * - the class-conditional diffusion UNet (`scripts/image_train.py`): t ~ U{0 … 999}, hybrid loss
 *   mean‖ε − ε_θ‖² + L_vb (learned-range Σ, VB term not rescaled, ε stop-gradient inside L_vb),
 *   labels y (0 healthy, 1 diseased) to the UNet, AdamW lr 1e-4, weight decay 0, EMA 0.9999,
 *   trained on healthy **and** diseased slices;
 * - the noisy classifier (`scripts/classifier_train.py`): x_t = q_sample(x₀, t) with
 *   t ~ U{0 … 999} and fresh noise, cross-entropy with the weak labels, AdamW lr 1e-4 (README
 *   TRAIN_FLAGS, issue #16), weight decay 0, no EMA; optional class weights (not in the official
 *   code; the MONAI tutorial uses (3, 1)).
 *
 * Batch size (official 10) and the number of steps are the caller's: `trainer.fit({ data, steps })`.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  ArgumentError,
  ClassifierObjective,
  ConfigError,
  DDPMScheduler,
  DiffusionObjective,
  SeededRNG,
  Trainer,
  crossEntropyLoss,
  type Augmentation,
  type CheckpointStore,
  type EncoderUNetModel,
  type ObjectiveContext,
  type TrainableNetwork,
  type TrainingBatch,
  type TrainingObjective,
  type UNetModel,
} from '@adx/diffusion-core';

export interface WollebTrainingOptions {
  /** Learning rate (default 1e-4). */
  lr?: number;
  /** Scheduler of the training noise (default `DDPMScheduler.fromPreset('wolleb')`: linear, T = 1000, learned range). */
  scheduler?: DDPMScheduler;
  /** Seed of the trainer's generators (default 0). */
  seed?: number;
  /** Checkpoint destination and cadence. */
  store?: CheckpointStore;
  checkpointEvery?: number | null;
}

/** The class-conditional learned-sigma UNet trainer (hybrid loss, AdamW 1e-4, EMA 0.9999 unless `ema: null`). */
export function wollebDiffusionTrainer(
  model: UNetModel,
  options: WollebTrainingOptions & { ema?: number | null } = {},
): Trainer {
  const scheduler = options.scheduler ?? DDPMScheduler.fromPreset('wolleb');
  const ema = options.ema === undefined ? 0.9999 : options.ema;
  return new Trainer({
    objective: DiffusionObjective.wolleb(model, scheduler),
    optimizer: { type: 'adamw', lr: options.lr ?? 1e-4, weightDecay: 0 },
    ema: ema === null ? null : { decay: ema },
    seed: options.seed ?? 0,
    ...(options.store ? { store: options.store } : {}),
    ...(options.checkpointEvery !== undefined ? { checkpointEvery: options.checkpointEvery } : {}),
  });
}

/** Options of {@link noisyClassifierTrainer} beyond the common ones. */
export interface NoisyClassifierTrainingOptions extends WollebTrainingOptions {
  /** Per-class cross-entropy weights (MONAI tutorial (3, 1); not in the official code), or null. */
  classWeights?: number[] | null;
  /**
   * Train on t ~ U{0 … maxTimestep − 1} instead of U{0 … T − 1} (own addition, not in the official
   * code). Guidance only queries the classifier at t < L·stride (e.g. t < 300 for L = 30 on
   * `ddim100`), and at large t a small lesion is invisible under the noise, so the uniform
   * official range spends most steps on indistinguishable inputs. Default: T (official).
   */
  maxTimestep?: number;
  /** AdamW decoupled weight decay (default 0, official). */
  weightDecay?: number;
  /** Global gradient-norm clip, or null (default, official). */
  gradClipNorm?: number | null;
  /** Seeded host augmentation of every batch (e.g. `randomHorizontalFlip()` of diffusion-core). */
  augment?: Augmentation | null;
}

/**
 * Wolleb et al.'s noisy-classifier loss (`scripts/classifier_train.py`, as diffusion-core's
 * `ClassifierObjective`) with the timestep range restricted to t ~ U{0 … maxTimestep − 1}:
 * x_t = √ᾱ_t·x₀ + √(1 − ᾱ_t)·z, loss = CE(f(x_t, t), y) with optional class weights.
 */
export class NoisyClassifierObjective implements TrainingObjective {
  readonly className = 'NoisyClassifierObjective';

  constructor(
    readonly classifier: EncoderUNetModel,
    readonly scheduler: DDPMScheduler,
    readonly config: { maxTimestep: number; classWeights: number[] | null },
  ) {
    const T = scheduler.schedule.numTimesteps;
    const m = config.maxTimestep;
    if (!Number.isInteger(m) || m < 1 || m > T)
      throw new ConfigError('NoisyClassifierObjective', 'maxTimestep', `expected an integer in [1, ${T}], got ${m}`);
    const w = config.classWeights;
    if (w !== null && (!Array.isArray(w) || w.length !== classifier.numClasses || w.some((x) => !(x >= 0)))) {
      throw new ConfigError(
        'NoisyClassifierObjective',
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
    // guided-diffusion UniformSampler over the first maxTimestep levels
    const t = new Int32Array(B);
    for (let i = 0; i < B; i++) t[i] = context.rng.randint(0, this.config.maxTimestep);
    return tf.tidy(() => {
      const xt = this.scheduler.addNoise(x, context.rng.randn(x.shape), t) as tf.Tensor4D;
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
 * The noisy-classifier trainer (cross-entropy on x_t, AdamW 1e-4, no EMA; optional class weights).
 * With the defaults this is the official recipe on diffusion-core's `ClassifierObjective`; the
 * extra options (`maxTimestep`, `weightDecay`, `gradClipNorm`, `augment`) give the recipe that
 * learns on the small phantom (see the README, "Classifier recipe").
 */
export function noisyClassifierTrainer(
  classifier: EncoderUNetModel,
  options: NoisyClassifierTrainingOptions = {},
): Trainer {
  const scheduler = options.scheduler ?? DDPMScheduler.fromPreset('wolleb');
  const T = scheduler.schedule.numTimesteps;
  const classWeights = options.classWeights ?? null;
  const objective =
    options.maxTimestep === undefined || options.maxTimestep === T
      ? new ClassifierObjective(classifier, scheduler, { noised: true, classWeights })
      : new NoisyClassifierObjective(classifier, scheduler, { maxTimestep: options.maxTimestep, classWeights });
  return new Trainer({
    objective,
    optimizer: { type: 'adamw', lr: options.lr ?? 1e-4, weightDecay: options.weightDecay ?? 0 },
    ema: null,
    gradClipNorm: options.gradClipNorm ?? null,
    augment: options.augment ?? null,
    seed: options.seed ?? 0,
    ...(options.store ? { store: options.store } : {}),
    ...(options.checkpointEvery !== undefined ? { checkpointEvery: options.checkpointEvery } : {}),
  });
}

/** Accuracy of the noisy classifier in one timestep bucket (see {@link classifierAccuracyByTimestep}). */
export interface TimestepAccuracy {
  /** Bucket [from, to) of original timesteps. */
  from: number;
  to: number;
  accuracy: number;
  /** Mean of the per-class recalls (chance = 1/K whatever the class balance). */
  balancedAccuracy: number;
  /** Mean cross-entropy (nats). */
  crossEntropy: number;
  /** Evaluated (image, t) pairs. */
  count: number;
}

/**
 * Held-out accuracy of a noisy classifier per timestep bucket: every image is noised (seeded
 * Gaussian noise, `q_sample`) at `perBucket` timesteps drawn uniformly in each bucket and
 * classified by argmax of f(x_t, t). Images `[N, H, W, C]` in the training range, labels 0/1/….
 */
export async function classifierAccuracyByTimestep(
  classifier: EncoderUNetModel,
  images: tf.Tensor4D,
  labels: ArrayLike<number>,
  options: {
    buckets?: number[];
    perBucket?: number;
    seed?: number;
    batchSize?: number;
    scheduler?: DDPMScheduler;
  } = {},
): Promise<TimestepAccuracy[]> {
  const scheduler = options.scheduler ?? DDPMScheduler.fromPreset('wolleb');
  const T = scheduler.schedule.numTimesteps;
  const edges = options.buckets ?? [0, 50, 100, 200, 300, 500, 750, T];
  const perBucket = options.perBucket ?? 2;
  const batchSize = options.batchSize ?? 16;
  const N = images.shape[0];
  if (labels.length !== N) throw new ArgumentError('labels', `expected ${N} labels, got ${labels.length}`);
  if (edges.length < 2 || edges.some((e, i) => i > 0 && !(e > edges[i - 1]!)) || edges[0]! < 0 || edges.at(-1)! > T)
    throw new ArgumentError('options.buckets', `expected increasing edges in [0, ${T}], got ${JSON.stringify(edges)}`);
  const rng = new SeededRNG(options.seed ?? 0);
  const out: TimestepAccuracy[] = [];
  for (let b = 0; b + 1 < edges.length; b++) {
    const [from, to] = [edges[b]!, edges[b + 1]!];
    let correct = 0;
    let ce = 0;
    let count = 0;
    const hit = new Map<number, [number, number]>();
    for (let r = 0; r < perBucket; r++) {
      for (let s = 0; s < N; s += batchSize) {
        const n = Math.min(batchSize, N - s);
        const t = new Int32Array(n);
        for (let i = 0; i < n; i++) t[i] = rng.randint(from, to);
        const logits = tf.tidy(() => {
          const x = tf.slice(images, [s, 0, 0, 0], [n, -1, -1, -1]);
          const xt = scheduler.addNoise(x, rng.randn(x.shape), t) as tf.Tensor4D;
          const l = classifier.apply(xt, scheduler.modelTimesteps(t));
          return tf.sub(l, tf.logSumExp(l, 1, true));
        });
        const lp = await logits.data();
        logits.dispose();
        const K = lp.length / n;
        for (let i = 0; i < n; i++) {
          const y = labels[s + i]!;
          let arg = 0;
          for (let k = 1; k < K; k++) if (lp[i * K + k]! > lp[i * K + arg]!) arg = k;
          if (arg === y) correct++;
          const h = hit.get(y) ?? [0, 0];
          hit.set(y, [h[0] + (arg === y ? 1 : 0), h[1] + 1]);
          ce -= lp[i * K + y]!;
          count++;
        }
      }
    }
    const recalls = [...hit.values()].map(([c, n]) => c / n);
    out.push({
      from,
      to,
      accuracy: correct / count,
      balancedAccuracy: recalls.reduce((a, b) => a + b, 0) / recalls.length,
      crossEntropy: ce / count,
      count,
    });
  }
  return out;
}
