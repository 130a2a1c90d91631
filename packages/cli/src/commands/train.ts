/**
 * `adx train`: train the networks of a method from a JSON/YAML config and write ADX checkpoint
 * folders that `adx detect` (and the demo) load.
 *
 * - `method: ddpm` (THOR / AnoDDPM): ε-MSE on healthy slices, THOR's linear schedule, Adam, THOR's
 *   affine + flip augmentation → `model/` (+ resumable `trainer/`).
 * - `method: classifier` (Wolleb et al.): class-conditional learned-sigma UNet (hybrid loss) and
 *   noisy classifier on weakly labelled slices → `unet/`, `classifier/` (see train/classifier.ts).
 * - `method: conditioned` (Behrendt et al.): cDDPM and its DDPM / pDDPM baselines on healthy
 *   volumes → `<variant>/unet` (+ `cDDPM/encoder`) (see train/conditioned.ts).
 *
 * ddpm config (all keys but `model` optional):
 *   method: ddpm
 *   model: { className: DiffusionModelUNet, inChannels: 1, outChannels: 1, numChannels: [32, 64, 64], … }
 *   data: { source: phantom, count: 256, size: 64, contrast: t1, seed: 0 }   # or png / png-slices / nifti (data.ts)
 *   training: { steps: 2000, batchSize: 8, lr: 1e-4, seed: 2109, augment: true, checkpointEvery: 500, ema: null }
 */
import { join } from 'node:path';
import {
  DDPMScheduler,
  DiffusionObjective,
  Trainer,
  thorAugmentation,
  type DiffusionModelUNet,
  type UNetModel,
} from '@adx/diffusion-core';
import { saveCheckpoint } from '@adx/diffusion-core/node';
import { writeFileAtomic } from '@adx/io-medical/node';
import { readConfigFile } from '../config-file.js';
import { UsageError } from '../errors.js';
import {
  buildModel,
  fitWithProgress,
  folderStore,
  resumeFrom,
  sliceDataset,
  type DataSummary,
  type MethodResult,
  type NetworkSummary,
} from '../train/common.js';
import { CLASSIFIER_TOP_KEYS, trainClassifierMethod } from '../train/classifier.js';
import { CONDITIONED_TOP_KEYS, trainConditionedMethod } from '../train/conditioned.js';
import { loadSliceSet } from '../train/data.js';
import { emaDecay, int, num, section, type Section } from '../train/fields.js';

export const TRAIN_METHODS = ['ddpm', 'classifier', 'conditioned'] as const;
export type TrainMethod = (typeof TRAIN_METHODS)[number];

export interface TrainCommandOptions {
  config: string;
  out: string;
  /** Overrides `training.steps`. */
  steps?: number;
  /** Overrides `training.seed`. */
  seed?: number;
  /** Continue from the trainer state in `<out>/trainer/` (see `resumeFrom`). */
  resume?: boolean;
  /** Messages (default: stderr). */
  log?: (line: string) => void;
  quiet?: boolean;
}

export interface TrainSummary {
  method: TrainMethod;
  out: string;
  steps: number;
  /** Final loss of the first network (ddpm: the UNet; classifier: the UNet; conditioned: the first variant). */
  finalLoss: number;
  /** Parameters of all trained networks. */
  parameters: number;
  /** Mean over the networks. */
  imagesPerSecond: number;
  seconds: number;
  /** The training data (slices, of which diseased; or volumes) and its size. */
  data: DataSummary;
  /** Per network (ddpm: `model`; classifier: `unet`, `classifier`; conditioned: the variants). */
  networks: Record<string, NetworkSummary>;
}

const DDPM_TOP_KEYS = ['method', 'model', 'data', 'training'];
const DDPM_TRAINING_KEYS = ['steps', 'batchSize', 'lr', 'seed', 'augment', 'checkpointEvery', 'ema', 'gradClipNorm'];

async function trainDdpm(cfg: Section, o: TrainCommandOptions): Promise<MethodResult> {
  if (cfg.model === undefined)
    throw new UsageError(`config 'model' is missing (a DiffusionModelUNet or UNetModel config)`);
  const training = section(cfg.training, 'training', DDPM_TRAINING_KEYS);
  const steps = o.steps ?? int(training, 'steps', 'training', 1000);
  const batchSize = int(training, 'batchSize', 'training', 8);
  const seed = o.seed ?? int(training, 'seed', 'training', 2109, 0);
  const unet = buildModel(cfg, 'model', 'DiffusionModelUNet', ['DiffusionModelUNet', 'UNetModel'], seed) as
    DiffusionModelUNet | UNetModel;
  let trainer: Trainer | undefined;
  try {
    const data = await loadSliceSet(cfg.data, { healthyOnly: true, defaultSize: 64, defaultCount: 256 });
    const objective = DiffusionObjective.thor(unet, DDPMScheduler.fromPreset('thor'));
    const ema = emaDecay(training, 'training');
    trainer = new Trainer({
      objective,
      optimizer: { lr: num(training, 'lr', 'training', 1e-4, 0) },
      ema: ema === null ? null : { decay: ema },
      gradClipNorm: training.gradClipNorm == null ? null : num(training, 'gradClipNorm', 'training', 1, 0),
      augment: training.augment === false ? null : thorAugmentation(),
      seed,
      store: folderStore(join(o.out, 'trainer')),
      checkpointEvery: training.checkpointEvery == null ? null : int(training, 'checkpointEvery', 'training', 1),
    });
    if (o.resume) await resumeFrom(trainer, join(o.out, 'trainer'), 'train', o.log);
    const r = await fitWithProgress(trainer, sliceDataset(data, batchSize, seed, false), steps, 'train', o.quiet);
    const checkpoint = join(o.out, 'model');
    // The model folder `adx detect -m` loads (EMA weights when EMA is on).
    await trainer.withEmaWeights(() =>
      saveCheckpoint(checkpoint, unet, {
        state: { trainedWith: 'adx train', config: cfg, steps: r.steps, seed },
      }),
    );
    return {
      networks: { model: { checkpoint, parameters: unet.numParameters(), ...r } },
      data: { slices: data.count, size: data.size },
    };
  } finally {
    trainer?.dispose();
    unet.dispose();
  }
}

export async function trainCommand(o: TrainCommandOptions): Promise<TrainSummary> {
  const raw = await readConfigFile(o.config);
  const method = raw.method ?? 'ddpm';
  if (!TRAIN_METHODS.includes(method as TrainMethod))
    throw new UsageError(`config 'method' must be one of ${TRAIN_METHODS.join(' | ')}, got ${JSON.stringify(method)}`);
  const keys = method === 'ddpm' ? DDPM_TOP_KEYS : method === 'classifier' ? CLASSIFIER_TOP_KEYS : CONDITIONED_TOP_KEYS;
  const cfg = section(raw, o.config, keys);
  const t0 = Date.now();
  const { networks, data } =
    method === 'ddpm'
      ? await trainDdpm(cfg, o)
      : method === 'classifier'
        ? await trainClassifierMethod(cfg, o)
        : await trainConditionedMethod(cfg, o);
  const list = Object.values(networks);
  const summary: TrainSummary = {
    method: method as TrainMethod,
    out: o.out,
    steps: list[0]!.steps,
    finalLoss: list[0]!.finalLoss,
    parameters: list.reduce((a, n) => a + n.parameters, 0),
    imagesPerSecond: list.reduce((a, n) => a + n.imagesPerSecond, 0) / list.length,
    seconds: (Date.now() - t0) / 1000,
    data,
    networks,
  };
  await writeFileAtomic(join(o.out, 'train-summary.json'), JSON.stringify(summary, null, 2));
  return summary;
}
