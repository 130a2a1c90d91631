/**
 * `adx train` with `method: conditioned`: the conditioned DDPM of Behrendt et al. (cDDPM) and its
 * baselines (DDPM, pDDPM) with `createTrainer` of @adx/guidance-conditioned — x0-L1 on Behrendt's
 * cosine schedule with simplex noise, the encoder trained jointly, Behrendt's intensity
 * augmentations — on healthy volumes, one random slice per volume per epoch (`vol2slice`).
 *
 * Config:
 *   method: conditioned
 *   unet: { imageSize: 32, modelChannels: 32, numResBlocks: 1, channelMult: [1, 2, 2], … }   # ConditionedUNetModel
 *   encoder: { block: BasicBlock, layers: [1, 1, 1, 1], outFeatures: 64, … }                  # ResNetEncoder (cDDPM)
 *   variants: [DDPM, cDDPM]          # default: the method and its DDPM baseline; pDDPM too
 *   patchSize: 16                    # pDDPM grid boxes (default 48, the paper's at 96²)
 *   stepEnsemble: [250, 500, 750]    # test-time noise levels (cDDPM), testTimesteps: 500 (baselines)
 *   data: { volumes: 12, size: 32, depth: 12, contrast: t2, seed: cddpm-train }   # or source: nifti
 *   training: { steps, batchSize, lr, seed, augment: true, checkpointEvery: null }
 *   spark: { steps: 1000, batchSize, lr: 1e-4, maskRatio: 0.65, gridSize, decoderWidth: 512, seed }  # optional
 *
 * With `spark`, the cDDPM encoder is pre-trained first, SparK style (`sparkPretrainEncoder`: 65 % of
 * a g×g patch grid masked, per-patch MSE on the masked patches, AdamW lr 1e-4 / wd 0.05), on a
 * separate ResNet of the same architecture whose conv and BatchNorm tensors are then copied into
 * the cDDPM encoder (`transferEncoderWeights`; the fc head stays fresh) — the paper's "SSL" cDDPM
 * (`Spark_2D_pretrain.yaml`). The baselines have no encoder and ignore it.
 *
 * Writes `<out>/<variant>/unet` (+ `<out>/cDDPM/encoder`), the CDDPM config in the UNet's
 * `state.json` (`state.cddpm`), which `adx detect conditioned -m <out>/<variant>` loads.
 */
import { join } from 'node:path';
import { AdxError, ResNetEncoder } from '@adx/diffusion-core';
import { saveCheckpoint } from '@adx/diffusion-core/node';
import {
  CDDPM,
  createTrainer,
  randomSliceBatches,
  resolveConfig,
  sparkPretrainEncoder,
  transferEncoderWeights,
  type CDDPMVariant,
} from '@adx/guidance-conditioned';
import { UsageError } from '../errors.js';
import { fitWithProgress, folderStore, resumeFrom, type MethodResult, type NetworkSummary } from './common.js';
import { createProgress } from '../progress.js';
import { loadVolumeSet, type VolumeSet } from './data.js';
import { bool, int, num, section, type Section } from './fields.js';

export const CONDITIONED_TOP_KEYS = [
  'method',
  'unet',
  'encoder',
  'variants',
  'patchSize',
  'stepEnsemble',
  'testTimesteps',
  'data',
  'training',
  'spark',
];
const SPARK_KEYS = ['steps', 'batchSize', 'lr', 'maskRatio', 'gridSize', 'decoderWidth', 'seed'];
const TRAINING_KEYS = ['steps', 'batchSize', 'lr', 'seed', 'augment', 'checkpointEvery'];
const VARIANTS: readonly CDDPMVariant[] = ['DDPM', 'pDDPM', 'cDDPM'];

/** The CDDPM config of one variant from the shared `unet` / `encoder` sections. */
export function variantConfig(cfg: Section, variant: CDDPMVariant): Record<string, unknown> {
  const unet = (cfg.unet ?? {}) as Section;
  const extra = {
    ...(cfg.stepEnsemble !== undefined ? { stepEnsemble: cfg.stepEnsemble } : {}),
    ...(cfg.testTimesteps !== undefined ? { testTimesteps: cfg.testTimesteps } : {}),
  };
  if (variant === 'cDDPM') return { variant, encoder: cfg.encoder ?? {}, unet, ...extra };
  return {
    variant,
    unet: { ...unet, numClasses: null },
    ...(variant === 'pDDPM' && cfg.patchSize !== undefined ? { patchSize: cfg.patchSize } : {}),
    ...extra,
  };
}

/** SparK pre-training of a fresh copy of the cDDPM encoder, then its conv/BN tensors into `model.encoder`. */
async function sparkPretrain(
  model: CDDPM,
  volumes: VolumeSet['volumes'],
  s: {
    steps: number;
    batchSize: number;
    lr: number;
    maskRatio: number;
    decoderWidth: number;
    seed: number;
    gridSize?: number;
  },
  quiet: boolean | undefined,
): Promise<NonNullable<NetworkSummary['pretraining']>> {
  const encoder = ResNetEncoder.fromConfig(model.config.encoder, { seed: s.seed });
  const progress = createProgress('spark cDDPM encoder', s.steps, { quiet });
  const t0 = Date.now();
  try {
    const r = await sparkPretrainEncoder(
      encoder,
      randomSliceBatches(volumes, { batchSize: Math.min(s.batchSize, volumes.length), seed: s.seed }),
      {
        steps: s.steps,
        maskRatio: s.maskRatio,
        decoderWidth: s.decoderWidth,
        optimizer: { lr: s.lr },
        seed: s.seed,
        ...(s.gridSize !== undefined ? { gridSize: s.gridSize } : {}),
        onProgress: (e) => progress.update(e.step, { loss: e.loss.toFixed(4) }),
      },
    );
    transferEncoderWeights(encoder, model);
    return { method: 'spark', steps: r.steps, finalLoss: r.losses.at(-1) ?? NaN, seconds: (Date.now() - t0) / 1000 };
  } finally {
    progress.stop();
    encoder.dispose();
  }
}

export async function trainConditionedMethod(
  cfg: Section,
  o: { out: string; steps?: number; seed?: number; quiet?: boolean; resume?: boolean; log?: (line: string) => void },
): Promise<MethodResult> {
  const training = section(cfg.training, 'training', TRAINING_KEYS);
  const steps = o.steps ?? int(training, 'steps', 'training', 1000);
  const batchSize = int(training, 'batchSize', 'training', 32);
  const lr = num(training, 'lr', 'training', 1e-4, 0);
  const seed = o.seed ?? int(training, 'seed', 'training', 3141, 0);
  const augment = bool(training, 'augment', 'training', true);
  const checkpointEvery =
    training.checkpointEvery === undefined || training.checkpointEvery === null
      ? null
      : int(training, 'checkpointEvery', 'training', 1);
  const spark = cfg.spark === undefined ? undefined : section(cfg.spark, 'spark', SPARK_KEYS);
  const sparkSettings = spark && {
    steps: int(spark, 'steps', 'spark', 1000),
    batchSize: int(spark, 'batchSize', 'spark', batchSize),
    lr: num(spark, 'lr', 'spark', 1e-4, 0),
    maskRatio: num(spark, 'maskRatio', 'spark', 0.65, 0, 0.99),
    decoderWidth: int(spark, 'decoderWidth', 'spark', 512),
    seed: int(spark, 'seed', 'spark', seed, 0),
    ...(spark.gridSize !== undefined ? { gridSize: int(spark, 'gridSize', 'spark', 1) } : {}),
  };
  const variants = (cfg.variants ?? ['DDPM', 'cDDPM']) as CDDPMVariant[];
  if (!Array.isArray(variants) || variants.length === 0 || variants.some((v) => !VARIANTS.includes(v)))
    throw new UsageError(
      `config 'variants' must be a non-empty list of ${VARIANTS.join(' | ')}, got ${JSON.stringify(cfg.variants)}`,
    );
  if (sparkSettings && !variants.includes('cDDPM'))
    throw new UsageError(`config 'spark' pre-trains the cDDPM encoder, but 'variants' has no cDDPM`);
  if (cfg.unet !== undefined && (cfg.unet === null || typeof cfg.unet !== 'object'))
    throw new UsageError(`config 'unet' must be an object`);
  // Validate every variant's config before generating data.
  const configs = variants.map((v) => {
    try {
      return resolveConfig(variantConfig(cfg, v)); // validation only, no tensors
    } catch (e) {
      if (e instanceof AdxError) throw new UsageError(`config (variant ${v}): ${e.message}`);
      throw e;
    }
  });
  const hw = (s: number | [number, number]) => (typeof s === 'number' ? [s, s] : s);
  const data = await loadVolumeSet(cfg.data, { defaultSize: hw(configs[0]!.unet.imageSize)[0]! });
  for (const c of configs) {
    const [h, w] = hw(c.unet.imageSize);
    if (h !== data.size || w !== data.size)
      throw new UsageError(`config 'unet.imageSize' (${h}×${w}) must match 'data.size' (${data.size})`);
  }
  const out: Record<string, NetworkSummary> = {};
  for (const [k, variant] of variants.entries()) {
    const model = new CDDPM(configs[k]!, { seed });
    let pretraining: NetworkSummary['pretraining'];
    let trainer;
    try {
      if (sparkSettings && model.encoder)
        pretraining = await sparkPretrain(model, data.volumes, sparkSettings, o.quiet);
      trainer = createTrainer(model, {
        optimizer: { lr },
        seed,
        ...(augment ? {} : { augment: null }),
        ...(checkpointEvery !== null || o.resume
          ? { store: folderStore(join(o.out, 'trainer', variant)), checkpointEvery }
          : {}),
      });
    } catch (e) {
      model.dispose();
      throw e;
    }
    try {
      const batches = randomSliceBatches(data.volumes, { batchSize: Math.min(batchSize, data.volumes.length), seed });
      if (o.resume) await resumeFrom(trainer, join(o.out, 'trainer', variant), `train ${variant}`, o.log);
      const r = await fitWithProgress(trainer, batches, steps, `train ${variant}`, o.quiet);
      const state = {
        trainedWith: 'adx train',
        method: 'conditioned',
        cddpm: model.toConfig(),
        config: cfg,
        steps,
        seed,
      };
      const checkpoint = join(o.out, variant);
      await saveCheckpoint(join(checkpoint, 'unet'), model.unet, { state });
      if (model.encoder) await saveCheckpoint(join(checkpoint, 'encoder'), model.encoder, { state });
      out[variant] = { checkpoint, parameters: model.numParameters(), ...r, ...(pretraining ? { pretraining } : {}) };
    } finally {
      trainer.dispose();
      model.dispose();
    }
  }
  return { networks: out, data: { volumes: data.volumes.length, size: data.size } };
}
