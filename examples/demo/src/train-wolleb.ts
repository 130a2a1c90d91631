/**
 * Trains the Wolleb et al. pair from `configs/demo/classifier.yaml` with the trainers of
 * `@adx/guidance-classifier` (`wollebDiffusionTrainer`: hybrid loss; `noisyClassifierTrainer`: CE on
 * noised images) and writes `<out>/unet` and `<out>/classifier` ADX checkpoints.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { EncoderUNetModel, InMemoryDataset, UNetModel } from '@adx/diffusion-core';
import { saveCheckpoint } from '@adx/diffusion-core/node';
import { noisyClassifierTrainer, wollebDiffusionTrainer } from '@adx/guidance-classifier';
import { generatePhantomSlices, type Contrast } from '@adx/io-medical';
import { DemoConfigError } from './train-config.js';
import { normalize01 } from './normalize.js';

export interface WollebTrainSummary {
  out: string;
  steps: number;
  unetLoss: number;
  classifierLoss: number;
  imagesPerSecond: number;
  seconds: number;
}

interface WollebConfig {
  method: 'classifier';
  unet: Record<string, unknown>;
  classifier: Record<string, unknown>;
  data: { count: number; size: number; contrast: Contrast; diseasedFraction: number; seed: number };
  training: { steps: number; batchSize: number; lr: number; seed: number };
}

const KEYS = ['method', 'unet', 'classifier', 'data', 'training'];

export async function readWollebConfig(file: string): Promise<WollebConfig> {
  const cfg = parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  for (const k of Object.keys(cfg)) if (!KEYS.includes(k)) throw new DemoConfigError(file, `unknown key '${k}'`);
  if (cfg.method !== 'classifier') throw new DemoConfigError(file, `'method' must be 'classifier'`);
  for (const k of KEYS) if (cfg[k] === undefined) throw new DemoConfigError(file, `'${k}' is missing`);
  return cfg as unknown as WollebConfig;
}

export async function trainWolleb(file: string, out: string, steps: number): Promise<WollebTrainSummary> {
  const cfg = await readWollebConfig(file);
  const { size, count } = cfg.data;
  const slices = generatePhantomSlices({
    count,
    size,
    seed: cfg.data.seed,
    contrast: cfg.data.contrast,
    diseasedFraction: cfg.data.diseasedFraction,
  });
  const images = new Float32Array(count * size * size);
  slices.forEach((s, i) => images.set(normalize01(s.image).data, i * size * size));
  const labels = slices.map((s) => s.label);
  const data = () =>
    new InMemoryDataset(
      { data: images, shape: [count, size, size, 1] },
      { batchSize: cfg.training.batchSize, labels, seed: cfg.training.seed },
    );
  const { className: _u, ...unetConfig } = cfg.unet;
  const { className: _c, ...classifierConfig } = cfg.classifier;
  void _u;
  void _c;
  const unet = UNetModel.fromConfig(unetConfig, { seed: cfg.training.seed });
  const classifier = EncoderUNetModel.fromConfig(classifierConfig, { seed: cfg.training.seed + 1 });
  const t0 = performance.now();
  const ut = wollebDiffusionTrainer(unet, { lr: cfg.training.lr, ema: null, seed: cfg.training.seed });
  const ct = noisyClassifierTrainer(classifier, { lr: cfg.training.lr, seed: cfg.training.seed + 1 });
  try {
    const ru = await ut.fit({ data: data(), steps });
    const rc = await ct.fit({ data: data(), steps });
    const seconds = (performance.now() - t0) / 1000;
    const state = { trainedWith: 'examples/demo train-weights (wolleb)', config: cfg, steps };
    await saveCheckpoint(join(out, 'unet'), unet, { state });
    await saveCheckpoint(join(out, 'classifier'), classifier, { state });
    return {
      out,
      steps,
      unetLoss: ru.loss,
      classifierLoss: rc.loss,
      imagesPerSecond: (2 * steps * cfg.training.batchSize) / seconds,
      seconds,
    };
  } finally {
    ut.dispose();
    ct.dispose();
    unet.dispose();
    classifier.dispose();
  }
}
