/**
 * `adx train`: train a diffusion model from a JSON/YAML config and write an ADX checkpoint folder
 * that `adx detect` loads. Implemented: `method: ddpm` (THOR / AnoDDPM: ε-MSE on healthy slices,
 * THOR's linear schedule, Adam, THOR's affine + flip augmentation). Data: embedded phantom slices or
 * a folder of PNG slices.
 *
 * Config (all keys but `model` optional):
 *   method: ddpm
 *   model: { className: DiffusionModelUNet, inChannels: 1, outChannels: 1, numChannels: [32, 64, 64], … }
 *   data: { source: phantom, count: 256, size: 64, contrast: t1, seed: 0 }   # or { source: png, dir: slices/ }
 *   training: { steps: 2000, batchSize: 8, lr: 1e-4, seed: 2109, augment: true, checkpointEvery: 500, ema: null }
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DDPMScheduler,
  DiffusionObjective,
  InMemoryDataset,
  Trainer,
  createModelFromConfig,
  folderStoreFrom,
  thorAugmentation,
  type DiffusionModelUNet,
  type UNetModel,
} from '@adx/diffusion-core';
import { readCheckpointFiles, saveCheckpoint, writeFolderAtomic } from '@adx/diffusion-core/node';
import { generatePhantomSlices, percentile, prepareSlice, type Image2D } from '@adx/io-medical';
import { readPngFile, writeFileAtomic } from '@adx/io-medical/node';
import { readConfigFile } from '../config-file.js';
import { UsageError } from '../errors.js';
import { createProgress } from '../progress.js';

export interface TrainCommandOptions {
  config: string;
  out: string;
  /** Overrides `training.steps`. */
  steps?: number;
  /** Overrides `training.seed`. */
  seed?: number;
  quiet?: boolean;
}

export interface TrainSummary {
  method: string;
  out: string;
  steps: number;
  finalLoss: number;
  parameters: number;
  imagesPerSecond: number;
  seconds: number;
}

const TOP_KEYS = ['method', 'model', 'data', 'training'];
const DATA_KEYS = ['source', 'count', 'size', 'contrast', 'seed', 'dir'];
const TRAINING_KEYS = ['steps', 'batchSize', 'lr', 'seed', 'augment', 'checkpointEvery', 'ema', 'gradClipNorm'];

function pick(obj: unknown, where: string, allowed: string[]): Record<string, unknown> {
  if (obj === undefined) return {};
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj))
    throw new UsageError(`config '${where}' must be an object`);
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k))
      throw new UsageError(`config '${where}': unknown key '${k}' (allowed: ${allowed.join(', ')})`);
  }
  return obj as Record<string, unknown>;
}

/** Maps a slice to [0, 1] by its 1st/99th percentile inside the nonzero region (the detect convention). */
function normalize01(img: Image2D): Float32Array {
  const nz = img.data.filter((v) => v > 0);
  const lo = nz.length ? percentile(nz, 1) : 0;
  const hi = nz.length ? percentile(nz, 99) : 1;
  const out = new Float32Array(img.data.length);
  const span = hi > lo ? hi - lo : 1;
  for (let i = 0; i < out.length; i++) out[i] = Math.min(1, Math.max(0, (img.data[i]! - lo) / span));
  return out;
}

async function loadSlices(data: Record<string, unknown>, size: number): Promise<Float32Array[]> {
  const source = (data.source as string | undefined) ?? 'phantom';
  if (source === 'phantom') {
    const count = (data.count as number | undefined) ?? 256;
    const slices = generatePhantomSlices({
      count,
      size,
      seed: (data.seed as number | undefined) ?? 0,
      contrast: (data.contrast as 't1' | 't2' | 'flair' | 't1ce' | undefined) ?? 't1',
      diseasedFraction: 0, // normative training: healthy slices only
    });
    return slices.map((s) => normalize01(s.image));
  }
  if (source === 'png') {
    const dir = data.dir as string | undefined;
    if (!dir) throw new UsageError("config 'data.dir' is required for source: png");
    const names = (await readdir(dir)).filter((n) => /\.png$/i.test(n)).sort();
    if (names.length === 0) throw new UsageError(`config 'data.dir': no PNG files in '${dir}'`);
    const out: Float32Array[] = [];
    for (const n of names) {
      const img = await readPngFile(join(dir, n)); // [0, 1]
      out.push(prepareSlice(img, { size }).image.data);
    }
    return out;
  }
  throw new UsageError(`config 'data.source' must be 'phantom' or 'png', got '${source}'`);
}

export async function trainCommand(o: TrainCommandOptions): Promise<TrainSummary> {
  const cfg = pick(await readConfigFile(o.config), o.config, TOP_KEYS);
  const method = (cfg.method as string | undefined) ?? 'ddpm';
  if (method !== 'ddpm') {
    throw new UsageError(`config 'method': only 'ddpm' (THOR / AnoDDPM) is implemented so far, got '${method}'`);
  }
  if (!cfg.model) throw new UsageError(`config '${o.config}' needs a 'model' (with className DiffusionModelUNet)`);
  const data = pick(cfg.data, 'data', DATA_KEYS);
  const training = pick(cfg.training, 'training', TRAINING_KEYS);
  const size = (data.size as number | undefined) ?? 64;
  const steps = o.steps ?? (training.steps as number | undefined) ?? 1000;
  const batchSize = (training.batchSize as number | undefined) ?? 8;
  const seed = o.seed ?? (training.seed as number | undefined) ?? 2109;

  const model = createModelFromConfig(cfg.model, { seed });
  if (model.className !== 'DiffusionModelUNet' && model.className !== 'UNetModel') {
    model.dispose();
    throw new UsageError(`config 'model.className' must be a denoising UNet for method ddpm, got '${model.className}'`);
  }
  const unet = model as DiffusionModelUNet | UNetModel;
  const slices = await loadSlices(data, size);
  const images = new Float32Array(slices.length * size * size);
  slices.forEach((s, i) => images.set(s, i * size * size));
  const dataset = new InMemoryDataset(
    { data: images, shape: [slices.length, size, size, 1] },
    { batchSize: Math.min(batchSize, slices.length), seed },
  );
  const objective = DiffusionObjective.thor(unet, DDPMScheduler.fromPreset('thor'));
  const store = folderStoreFrom(join(o.out, 'trainer'), { writeFolderAtomic, readCheckpointFiles }, join);
  const trainer = new Trainer({
    objective,
    optimizer: { lr: (training.lr as number | undefined) ?? 1e-4 },
    ema: (training.ema as { decay: number } | null | undefined) ?? null,
    gradClipNorm: (training.gradClipNorm as number | null | undefined) ?? null,
    augment: training.augment === false ? null : thorAugmentation(),
    seed,
    store,
    checkpointEvery: (training.checkpointEvery as number | null | undefined) ?? null,
  });
  const progress = createProgress('train', steps, { quiet: o.quiet });
  let ips = 0;
  const t0 = Date.now();
  try {
    const result = await trainer.fit({
      data: dataset,
      steps,
      progressEvery: 1,
      onProgress: (e) => {
        ips = e.imagesPerSecond;
        progress.update(e.step, { loss: e.meanLoss.toFixed(4), 'img/s': e.imagesPerSecond.toFixed(2) });
      },
    });
    progress.stop();
    // The model folder `adx detect -m` loads (EMA weights when EMA is on).
    await trainer.withEmaWeights(() =>
      saveCheckpoint(join(o.out, 'model'), unet, {
        state: { trainedWith: 'adx train', config: cfg, steps: result.step, seed },
      }),
    );
    const summary: TrainSummary = {
      method,
      out: o.out,
      steps: result.step,
      finalLoss: result.loss,
      parameters: unet.numParameters(),
      imagesPerSecond: ips,
      seconds: (Date.now() - t0) / 1000,
    };
    await writeFileAtomic(join(o.out, 'train-summary.json'), JSON.stringify(summary, null, 2));
    return summary;
  } finally {
    trainer.dispose();
    unet.dispose();
  }
}
