/**
 * pDDPM training objective (patched DDPM, Behrendt et al. MIDL; conditioned.md §7):
 * `FinnBehrendt/patched-Diffusion-Models-UAD` @ da14cd0b, `src/models/DDPM_2D_patched.py`
 * `training_step` (`grid_boxes: True`) and `src/models/modules/cond_DDPM.py` `p_losses` with
 * `box` and `inpaint: True`, `objective: pred_x0`, `loss: l1`:
 *
 *   k_b  ~ U{0 … #boxes − 1} per sample        one random box of the 2×2 grid (48 px at 96²)
 *   n    = gen_noise()                          ONE unnormalised simplex map shared by the batch
 *   t_b  ~ U{0 … T − 1} per sample
 *   x0   = 2x − 1
 *   x_in = M_b·q_sample(x0, t, n) + (1 − M_b)·x0     only the box is noised, the rest is clean context
 *   out  = M_b·UNet(x_in, t) + (1 − M_b)·x0           inpaint: outside the box the clean input is pasted
 *   L    = mean_b mean_pixels |out − x0|              = Σ_box |x̂₀ − x0| / (H·W): the loss is on the box only
 *
 * The mean runs over all H·W pixels of every sample (`reduce(loss, 'b ... -> b (...)', 'mean')`),
 * so the box error is divided by the whole slice size, exactly as upstream.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  ArgumentError,
  ConfigError,
  checkConfigKeys,
  sampleUniformTimesteps,
  simplexNoiseBatch,
  type DDPMScheduler,
  type SeededRNG,
  type DiffusionObjectiveNetworks,
  type ObjectiveContext,
  type TrainableNetwork,
  type TrainingBatch,
  type TrainingObjective,
} from '@adx/diffusion-core';
import { gridBoxes } from './detect.js';

export interface PatchedObjectiveConfig {
  /** `patch_size`: side of the square grid boxes (48 at 96², i.e. a 2×2 grid). */
  patchSize: number;
  /** `inpaint`: paste the clean input outside the box before the loss (true upstream). */
  inpaint: boolean;
  /** Training noise: one unnormalised simplex map shared by the batch (`noisetype: simplex`) or Gaussian. */
  noiseType: 'simplex' | 'gaussian';
  /** Simplex parameters (`gen_noise`: 6 octaves, persistence 0.8, frequency 64, float16). */
  simplexOctaves: number;
  simplexPersistence: number;
  simplexFrequency: number;
}

const KEYS = ['patchSize', 'inpaint', 'noiseType', 'simplexOctaves', 'simplexPersistence', 'simplexFrequency'] as const;

/**
 * pDDPM's box-wise x₀-L1 objective for the core `Trainer` (a {@link TrainingObjective}; networks
 * `{ model }`, the unconditioned UNet). The scheduler must predict x₀ (`predictionType: 'sample'`).
 */
export class PatchedDiffusionObjective implements TrainingObjective {
  readonly className = 'PatchedDiffusionObjective';
  readonly config: PatchedObjectiveConfig;

  constructor(
    readonly model: DiffusionObjectiveNetworks['model'],
    readonly scheduler: DDPMScheduler,
    config: Partial<PatchedObjectiveConfig> = {},
  ) {
    checkConfigKeys(this.className, config, KEYS);
    const c: PatchedObjectiveConfig = {
      patchSize: 48,
      inpaint: true,
      noiseType: 'simplex',
      simplexOctaves: 6,
      simplexPersistence: 0.8,
      simplexFrequency: 64,
      ...config,
    };
    if (!Number.isInteger(c.patchSize) || c.patchSize < 1)
      throw new ConfigError(this.className, 'patchSize', `expected a positive integer, got ${String(c.patchSize)}`);
    if (typeof c.inpaint !== 'boolean') throw new ConfigError(this.className, 'inpaint', 'expected a boolean');
    if (c.noiseType !== 'simplex' && c.noiseType !== 'gaussian')
      throw new ConfigError(this.className, 'noiseType', `expected simplex | gaussian, got ${String(c.noiseType)}`);
    if (scheduler.toConfig().predictionType !== 'sample')
      throw new ConfigError(
        this.className,
        'scheduler',
        "pDDPM predicts x0 (objective pred_x0): predictionType 'sample'",
      );
    if (model.outChannels !== model.inChannels)
      throw new ConfigError(this.className, undefined, 'the UNet must have as many output as input channels');
    this.config = c;
  }

  networks(): Record<string, TrainableNetwork> {
    return { model: this.model };
  }

  /**
   * Box masks `[B, H, W, 1]` (1 inside the box): one uniformly random grid box per sample
   * (`ind = torch.randint(0, n_boxes, (B,))`). Returns the mask and the chosen box indices.
   */
  boxMasks(batch: number, height: number, width: number, rng: SeededRNG): { mask: tf.Tensor4D; boxes: number[] } {
    const n = gridBoxes(height, width, this.config.patchSize).length;
    const boxes = Array.from({ length: batch }, () => rng.randint(0, n));
    return { mask: this.masksOf(boxes, height, width), boxes };
  }

  /** `[B, H, W, 1]` masks of the given grid-box indices (row-major 2×2 grid at 96² / 48 px). */
  masksOf(boxes: readonly number[], height: number, width: number): tf.Tensor4D {
    const grid = gridBoxes(height, width, this.config.patchSize);
    const m = new Float32Array(boxes.length * height * width);
    boxes.forEach((k, b) => {
      if (!(Number.isInteger(k) && k >= 0 && k < grid.length))
        throw new ArgumentError('boxes', `box indices are integers in [0, ${grid.length}), got ${k}`);
      const [y0, x0, y1, x1] = grid[k]!;
      for (let y = y0; y < y1; y++) m.fill(1, (b * height + y) * width + x0, (b * height + y) * width + x1);
    });
    return tf.tensor4d(m, [boxes.length, height, width, 1]);
  }

  loss(batch: TrainingBatch, context: ObjectiveContext): tf.Scalar {
    return tf.tidy(() => tf.mean(this.perSampleLoss(batch, context)) as tf.Scalar);
  }

  /**
   * Per-sample losses `[B]`; `override` fixes the box indices / timesteps / noise (tests), otherwise
   * they are drawn from `context.rng` in the upstream order: boxes, noise, timesteps.
   */
  perSampleLoss(
    batch: TrainingBatch,
    context: ObjectiveContext,
    override: { boxes?: readonly number[]; timesteps?: ArrayLike<number>; noise?: tf.Tensor4D } = {},
  ): tf.Tensor1D {
    const x = batch.image;
    const [B, H, W, C] = x.shape;
    if (C !== this.model.inChannels)
      throw new ArgumentError('batch.image', `expected ${this.model.inChannels} channels, got ${C}`);
    const sched = this.scheduler;
    return tf.tidy(() => {
      if (override.boxes && override.boxes.length !== B)
        throw new ArgumentError('override.boxes', `expected ${B} box indices, got ${override.boxes.length}`);
      const mask = override.boxes ? this.masksOf(override.boxes, H, W) : this.boxMasks(B, H, W, context.rng).mask;
      const noise =
        override.noise ??
        (this.config.noiseType === 'simplex'
          ? simplexNoiseBatch([B, H, W, C], context.rng, {
              octaves: this.config.simplexOctaves,
              persistence: this.config.simplexPersistence,
              frequency: this.config.simplexFrequency,
            })
          : (context.rng.randn([B, H, W, C]) as tf.Tensor4D));
      const t = override.timesteps ?? sampleUniformTimesteps(context.rng, B, sched.schedule.numTimesteps);
      const x0 = tf.sub(tf.mul(x, 2), 1) as tf.Tensor4D; // normalize_to_neg_one_to_one
      const xtFull = sched.addNoise(x0, noise, t) as tf.Tensor4D; // q_sample
      const outside = tf.sub(1, mask);
      // x = x_start.clone(); x[i, :, box] = q_sample(...)[i, :, box]
      const xIn = tf.add(tf.mul(mask, xtFull), tf.mul(outside, x0)) as tf.Tensor4D;
      const out = this.model.apply(xIn, sched.modelTimesteps(t), {}, { training: true, rng: context.dropoutRng });
      // inpaint: out = x_start.clone(); out[i, :, box] = model_out[i, :, box]
      const pred = this.config.inpaint ? tf.add(tf.mul(mask, out), tf.mul(outside, x0)) : out;
      const err = tf.abs(tf.sub(pred, x0));
      return tf.mean(tf.reshape(err, [B, -1]), 1) as tf.Tensor1D;
    });
  }

  toConfig(): Record<string, unknown> {
    return { className: this.className, ...this.config, scheduler: this.scheduler.toConfig() };
  }
}
