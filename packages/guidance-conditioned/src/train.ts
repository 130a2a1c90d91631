/**
 * Training glue for cDDPM and the DDPM baseline over the `@adx/diffusion-core` Trainer
 * (conditioned.md §3; `DDPM_2D.training_step`, `cond_DDPM.py` `p_losses`, `create_dataset.py`
 * `vol2slice`):
 *
 *   per epoch: one uniformly random axial slice of every training volume, shuffled, batches of 32, drop_last
 *   loss = L1(UNet(√ᾱ_t·(2x − 1) + √(1−ᾱ_t)·n, t, encoder(x)), 2x − 1),  t ~ U{0…T−1},
 *          n = one unnormalised float16 simplex map shared by the batch; encoder trained jointly
 *   Adam lr 1e-4 (torch defaults), no EMA, no clipping; seed 3141; intensity augmentations
 *
 * pDDPM trains box-wise ({@link PatchedDiffusionObjective}, `patched.ts`); {@link trainingObjective}
 * picks the objective of `model.config.variant` and {@link createTrainer} uses it.
 */
import {
  ArgumentError,
  DiffusionObjective,
  SeededRNG,
  Trainer,
  behrendtAugmentation,
  type Augmentation,
  type BatchInput,
  type TrainingObjective,
  type TrainerOptions,
  type TrainingData,
} from '@adx/diffusion-core';
import type { CDDPM } from './model.js';
import { PatchedDiffusionObjective, type PatchedObjectiveConfig } from './patched.js';
import type { VolumeArray } from './detect.js';

/** Behrendt's objective for the model: x₀-L1, simplex noise, [0,1] → [−1,1], the encoder trained jointly. */
export function cddpmObjective(model: CDDPM): DiffusionObjective {
  if (model.variant === 'pDDPM')
    throw new ArgumentError('model', 'pDDPM trains box-wise: use patchedObjective(model) or trainingObjective(model)');
  return DiffusionObjective.behrendt(model.unet, model.scheduler, model.encoder ?? undefined);
}

/** pDDPM's box-wise objective for a pDDPM model (`patchSize` from the model config; `DDPM_2D_patched.training_step`). */
export function patchedObjective(
  model: CDDPM,
  config: Partial<Omit<PatchedObjectiveConfig, 'patchSize'>> = {},
): PatchedDiffusionObjective {
  if (model.variant !== 'pDDPM' || model.config.patchSize === null)
    throw new ArgumentError('model', `box-wise training is the pDDPM objective, the model is a ${model.variant}`);
  return new PatchedDiffusionObjective(model.unet, model.scheduler, { ...config, patchSize: model.config.patchSize });
}

/**
 * The training objective of `model.config.variant`: cDDPM → x₀-L1 with the jointly trained encoder,
 * DDPM → plain x₀-L1, pDDPM → box-wise x₀-L1 ({@link PatchedDiffusionObjective}).
 */
export function trainingObjective(
  model: CDDPM,
  options: { patched?: Partial<Omit<PatchedObjectiveConfig, 'patchSize'>> } = {},
): TrainingObjective {
  return model.variant === 'pDDPM' ? patchedObjective(model, options.patched) : cddpmObjective(model);
}

export interface CDDPMTrainerOptions extends Omit<TrainerOptions, 'objective' | 'augment'> {
  /** Batch augmentation: `'behrendt'` (default: gamma, bias field, blur, ghosting), an augmentation, or null. */
  augment?: Augmentation | 'behrendt' | null;
  /** pDDPM only: objective settings other than `patchSize` (which comes from the model config). */
  patched?: Partial<Omit<PatchedObjectiveConfig, 'patchSize'>>;
}

/**
 * A core `Trainer` for the variant of `model.config.variant` ({@link trainingObjective}), set up
 * like the official code: Adam 1e-4, seed 3141, Behrendt's intensity augmentations.
 */
export function createTrainer(model: CDDPM, options: CDDPMTrainerOptions = {}): Trainer {
  const { augment = 'behrendt', patched, ...rest } = options;
  return new Trainer({
    seed: 3141,
    ...rest,
    objective: trainingObjective(model, { patched }),
    augment: augment === 'behrendt' ? behrendtAugmentation() : augment,
  });
}

export interface RandomSliceOptions {
  /** Default 32. */
  batchSize?: number;
  /** Drop the last incomplete batch (default true, `droplast: True`). */
  dropLast?: boolean;
  /** Seed of the per-epoch slice choice and shuffle (default 3141). */
  seed?: number;
}

/**
 * `vol2slice` training data: every epoch draws one uniformly random slice index per volume
 * (`[D, H, W]` volumes in [0, 1], slices along the first axis), shuffles the volumes and serves
 * batches. Epoch e uses its own generator, so epochs are reproducible (and restartable) independently.
 */
export function randomSliceBatches(volumes: readonly VolumeArray[], options: RandomSliceOptions = {}): TrainingData {
  const { batchSize = 32, dropLast = true, seed = 3141 } = options;
  if (volumes.length === 0) throw new ArgumentError('volumes', 'needs at least one volume');
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new ArgumentError('options.batchSize', `expected an integer ≥ 1, got ${batchSize}`);
  const [, h, w] = volumes[0]!.shape as [number, number, number];
  volumes.forEach((v, i) => {
    if (v.shape.length !== 3 || v.shape[1] !== h || v.shape[2] !== w)
      throw new ArgumentError(`volumes[${i}]`, `expected [D, ${h}, ${w}], got [${v.shape.join(', ')}]`);
    if (v.data.length !== v.shape[0]! * h * w)
      throw new ArgumentError(`volumes[${i}]`, `has ${v.data.length} values for shape [${v.shape.join(', ')}]`);
  });
  const slice = h * w;
  return {
    batches(epoch: number): Iterable<BatchInput> {
      const rng = new SeededRNG(seed + 7919 * epoch);
      const order = rng.shuffle(volumes.map((_, i) => i));
      const picks = order.map((i) => ({ i, s: rng.randint(0, volumes[i]!.shape[0]!) }));
      const batches: BatchInput[] = [];
      for (let b = 0; b < picks.length; b += batchSize) {
        const part = picks.slice(b, b + batchSize);
        if (part.length < batchSize && dropLast) break;
        const data = new Float32Array(part.length * slice);
        part.forEach(({ i, s }, k) => {
          const src = volumes[i]!.data;
          for (let j = 0; j < slice; j++) data[k * slice + j] = src[s * slice + j]!;
        });
        batches.push({ image: { data, shape: [part.length, h, w, 1] } });
      }
      return batches;
    },
  };
}
