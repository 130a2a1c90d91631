/**
 * cDDPM and its DDPM baseline (Behrendt et al.) for the demo: phantom volumes, training from
 * `configs/demo/cddpm.yaml` with `createTrainer` of `@adx/guidance-conditioned`, and checkpoints
 * (`<out>/<model>/unet`, `<out>/cDDPM/encoder`, the CDDPM config in the UNet's state.json).
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { parseCheckpoint } from '@adx/diffusion-core';
import { readCheckpointFiles, saveCheckpoint } from '@adx/diffusion-core/node';
import { CDDPM, createTrainer, randomSliceBatches, type EvaluationVolume } from '@adx/guidance-conditioned';
import { extractSlices, generatePhantomVolume, type Contrast, type Volume } from '@adx/io-medical';
import { DemoConfigError } from './train-config.js';

export const CONDITIONED_MODELS = ['DDPM', 'cDDPM'] as const;
export type ConditionedModelName = (typeof CONDITIONED_MODELS)[number];

interface ConditionedConfig {
  method: 'conditioned';
  unet: Record<string, unknown>;
  encoder: Record<string, unknown>;
  data: { volumes: number; size: number; depth: number; contrast: Contrast; seed: string | number };
  training: { steps: number; batchSize: number; lr: number; seed: number };
}

const KEYS = ['method', 'unet', 'encoder', 'data', 'training'];

export async function readConditionedConfig(file: string): Promise<ConditionedConfig> {
  const cfg = parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  for (const k of Object.keys(cfg)) if (!KEYS.includes(k)) throw new DemoConfigError(file, `unknown key '${k}'`);
  if (cfg.method !== 'conditioned') throw new DemoConfigError(file, `'method' must be 'conditioned'`);
  for (const k of KEYS) if (cfg[k] === undefined) throw new DemoConfigError(file, `'${k}' is missing`);
  return cfg as unknown as ConditionedConfig;
}

/**
 * A skull-stripped phantom volume as `[D, H, W]` (axial slices first), intensities mapped to [0, 1]
 * by the 1st/99th percentile inside the brain (as `bench/phantom-compare.ts` of guidance-conditioned).
 */
export function phantomVolume(
  seed: string,
  lesions: 'none' | ['tumour'],
  size: number,
  depth: number,
  contrast: Contrast = 't2',
): EvaluationVolume {
  const p = generatePhantomVolume({ size: [size, size, depth], seed, contrast, lesions, skullStrip: true });
  const stack = (v: Volume) => {
    const sl = extractSlices(v, { axis: 2 });
    const out = new Float32Array(sl.length * size * size);
    sl.forEach((s, k) => out.set(s.data, k * size * size));
    return out;
  };
  const img = stack(p.image);
  const brain = stack(p.brainMask);
  const seg = stack(p.mask);
  const inside = [...img.filter((_, i) => brain[i]! > 0)].sort((a, b) => a - b);
  const lo = inside[Math.floor(0.01 * (inside.length - 1))] ?? 0;
  const hi = inside[Math.floor(0.99 * (inside.length - 1))] ?? 1;
  for (let i = 0; i < img.length; i++) img[i] = Math.min(1, Math.max(0, (img[i]! - lo) / (hi - lo || 1)));
  const shape = [depth, size, size];
  return {
    id: seed,
    image: { data: img, shape },
    brainMask: { data: Uint8Array.from(brain), shape },
    segmentation: { data: Uint8Array.from(seg, (v) => (v > 0 ? 1 : 0)), shape },
  };
}

function cddpmConfig(cfg: ConditionedConfig, name: ConditionedModelName): Record<string, unknown> {
  return name === 'DDPM'
    ? { variant: 'DDPM', unet: { ...cfg.unet, numClasses: null } }
    : { variant: 'cDDPM', encoder: cfg.encoder, unet: cfg.unet };
}

export interface ConditionedTrainSummary {
  out: string;
  steps: number;
  losses: Record<string, number>;
  imagesPerSecond: number;
  seconds: number;
}

export async function trainConditioned(file: string, out: string, steps: number): Promise<ConditionedTrainSummary> {
  const cfg = await readConditionedConfig(file);
  const { volumes, size, depth, contrast, seed } = cfg.data;
  const train = Array.from({ length: volumes }, (_, i) => phantomVolume(`${seed}-${i}`, 'none', size, depth, contrast));
  const losses: Record<string, number> = {};
  const t0 = performance.now();
  for (const name of CONDITIONED_MODELS) {
    const model = new CDDPM(cddpmConfig(cfg, name) as ConstructorParameters<typeof CDDPM>[0], {
      seed: cfg.training.seed,
    });
    const trainer = createTrainer(model, { optimizer: { lr: cfg.training.lr }, seed: cfg.training.seed });
    try {
      const data = randomSliceBatches(
        train.map((v) => v.image),
        { batchSize: cfg.training.batchSize },
      );
      const r = await trainer.fit({ data, steps });
      losses[name] = r.loss;
      const state = { trainedWith: 'examples/demo train-weights (conditioned)', cddpm: model.toConfig(), config: cfg };
      await saveCheckpoint(join(out, name, 'unet'), model.unet, { state });
      if (model.encoder) await saveCheckpoint(join(out, name, 'encoder'), model.encoder, { state });
    } finally {
      trainer.dispose();
      model.dispose();
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  return {
    out,
    steps,
    losses,
    imagesPerSecond: (CONDITIONED_MODELS.length * steps * cfg.training.batchSize) / seconds,
    seconds,
  };
}

export async function hasConditionedWeights(dir: string): Promise<boolean> {
  try {
    for (const name of CONDITIONED_MODELS) await stat(join(dir, name, 'unet', 'model.safetensors'));
    return true;
  } catch {
    return false;
  }
}

/** Rebuilds a CDDPM from its checkpoint folders (config from the UNet's state.json, strict weight load). */
export async function loadConditioned(dir: string, name: ConditionedModelName): Promise<CDDPM> {
  const unet = parseCheckpoint(await readCheckpointFiles(join(dir, name, 'unet')), join(dir, name, 'unet'));
  const state = unet.state as { cddpm?: unknown } | undefined;
  if (!state?.cddpm) throw new DemoConfigError(join(dir, name, 'unet', 'state.json'), "no 'cddpm' config");
  const model = CDDPM.fromConfig(state.cddpm);
  try {
    const encoder = model.encoder
      ? parseCheckpoint(await readCheckpointFiles(join(dir, name, 'encoder')), join(dir, name, 'encoder')).weights
      : undefined;
    model.loadWeights({ unet: unet.weights, ...(encoder ? { encoder } : {}) }, join(dir, name));
    return model;
  } catch (e) {
    model.dispose();
    throw e;
  }
}
