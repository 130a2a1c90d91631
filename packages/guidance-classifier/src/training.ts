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
import {
  ClassifierObjective,
  DDPMScheduler,
  DiffusionObjective,
  Trainer,
  type CheckpointStore,
  type EncoderUNetModel,
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

/** The noisy-classifier trainer (cross-entropy on x_t, AdamW 1e-4, no EMA; optional class weights). */
export function noisyClassifierTrainer(
  classifier: EncoderUNetModel,
  options: WollebTrainingOptions & { classWeights?: number[] | null } = {},
): Trainer {
  const scheduler = options.scheduler ?? DDPMScheduler.fromPreset('wolleb');
  return new Trainer({
    objective: new ClassifierObjective(classifier, scheduler, {
      noised: true,
      classWeights: options.classWeights ?? null,
    }),
    optimizer: { type: 'adamw', lr: options.lr ?? 1e-4, weightDecay: 0 },
    ema: null,
    seed: options.seed ?? 0,
    ...(options.store ? { store: options.store } : {}),
    ...(options.checkpointEvery !== undefined ? { checkpointEvery: options.checkpointEvery } : {}),
  });
}
