/** Pieces shared by the `adx train` methods: model construction with usage errors, fit with a progress bar. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  AdxError,
  ConfigError,
  InMemoryDataset,
  createModelFromConfig,
  folderStoreFrom,
  type CheckpointStore,
  type Trainer,
  type TrainingData,
} from '@adx/diffusion-core';
import { readCheckpointFiles, writeFolderAtomic } from '@adx/diffusion-core/node';
import { UsageError } from '../errors.js';
import { createProgress } from '../progress.js';
import type { SliceSet } from './data.js';
import type { Section } from './fields.js';

export type AnyModel = ReturnType<typeof createModelFromConfig>;

/** What the training data held: slices (with how many weakly labelled diseased) or volumes. */
export interface DataSummary {
  slices?: number;
  diseased?: number;
  volumes?: number;
  size: number;
}

/** What a training method returns. */
export interface MethodResult {
  networks: Record<string, NetworkSummary>;
  data: DataSummary;
}

/** What one trained network reports. */
export interface NetworkSummary {
  /** The checkpoint folder (`config.json` + `model.safetensors` + `state.json`). */
  checkpoint: string;
  steps: number;
  finalLoss: number;
  parameters: number;
  imagesPerSecond: number;
  seconds: number;
  /** Encoder pre-training before the main run (conditioned `spark`). */
  pretraining?: { method: 'spark'; steps: number; finalLoss: number; seconds: number };
}

/**
 * Builds the network described by the config section `key` (`className` defaults to
 * `defaultClass`); config problems become usage errors naming the section.
 */
export function buildModel(
  cfg: Section,
  key: string,
  defaultClass: string,
  allowed: readonly string[],
  seed: number,
): AnyModel {
  const section = cfg[key] as Section;
  let model: AnyModel;
  try {
    model = createModelFromConfig({ className: defaultClass, ...section }, { seed });
  } catch (e) {
    if (e instanceof ConfigError || e instanceof AdxError) throw new UsageError(`config '${key}': ${e.message}`);
    throw e;
  }
  if (!allowed.includes(model.className)) {
    model.dispose();
    throw new UsageError(`config '${key}.className' must be ${allowed.join(' or ')}, got '${model.className}'`);
  }
  return model;
}

/** A trainer checkpoint store `<dir>` (resumable optimiser state) on the file system. */
export function folderStore(dir: string): CheckpointStore {
  return folderStoreFrom(dir, { writeFolderAtomic, readCheckpointFiles }, join);
}

/** An in-memory labelled slice dataset (NHWC, C = 1). */
export function sliceDataset(set: SliceSet, batchSize: number, seed: number, labels: boolean): InMemoryDataset {
  return new InMemoryDataset(
    { data: set.images, shape: [set.count, set.size, set.size, 1] },
    { batchSize: Math.min(batchSize, set.count), seed, ...(labels ? { labels: set.labels } : {}) },
  );
}

/**
 * `--resume`: restores weights, optimiser moments, EMA, counters and RNG states from `<dir>/last`
 * (the trainer checkpoint store), so that the run continues where it stopped; without a saved
 * state it starts at step 0 (so a re-queued job can always pass --resume).
 */
export async function resumeFrom(
  trainer: Trainer,
  dir: string,
  label: string,
  log: (line: string) => void = (s) => process.stderr.write(s),
): Promise<void> {
  const last = join(dir, 'last');
  if (!existsSync(join(last, 'state.json'))) {
    log(`${label}: no trainer state in '${last}', starting at step 0\n`);
    return;
  }
  trainer.loadState(await readCheckpointFiles(last), last);
  log(`${label}: resumed at step ${trainer.step} from '${last}'\n`);
}

/** `trainer.fit` for `steps` with a progress bar labelled `label`. */
export async function fitWithProgress(
  trainer: Trainer,
  data: TrainingData,
  steps: number,
  label: string,
  quiet: boolean | undefined,
): Promise<{ steps: number; finalLoss: number; imagesPerSecond: number; seconds: number }> {
  const progress = createProgress(label, steps, { quiet });
  let ips = 0;
  const t0 = Date.now();
  try {
    const result = await trainer.fit({
      data,
      steps,
      progressEvery: 1,
      onProgress: (e) => {
        ips = e.imagesPerSecond;
        progress.update(e.step, { loss: e.meanLoss.toFixed(4), 'img/s': e.imagesPerSecond.toFixed(2) });
      },
    });
    return { steps: result.step, finalLoss: result.loss, imagesPerSecond: ips, seconds: (Date.now() - t0) / 1000 };
  } finally {
    progress.stop();
  }
}
