/**
 * DDPM vs pDDPM vs cDDPM on io-medical phantom volumes, trained and evaluated through this package's
 * API in the same framework: the same UNet, data, steps, batch size, learning rate and seed for the
 * three variants (`createTrainer` picks each variant's objective). Healthy T2 phantoms for training
 * (one random slice per volume per epoch), tumour phantoms for validation (τ) and test (Behrendt
 * per-volume protocol). Tiny networks at 32×32: the numbers exercise the pipeline, they do not
 * reproduce the paper. Settings: `configs/conditioned-bench/phantom32.json`.
 *
 *   # train (one variant per process, weights to bench/weights/<variant>/), then evaluate
 *   npm run bench:phantom -w @adx/guidance-conditioned -- --phase train --only DDPM
 *   npm run bench:phantom -w @adx/guidance-conditioned -- --phase eval --backend wasm
 *   # or everything in one go (train all, evaluate on wasm)
 *   npm run bench:phantom -w @adx/guidance-conditioned
 *
 *   # seconds per volume of each detector on another backend (after a warm-up volume)
 *   npm run bench:phantom -w @adx/guidance-conditioned -- --phase timing --backend cpu --volumes 1
 *
 * Flags: --config <json> (default configs/conditioned-bench/phantom32.json), --steps <n> (override),
 * --only DDPM,pDDPM,cDDPM, --backend cpu|wasm|webgpu, --weights <dir> (default bench/weights),
 * --out <json> (eval results; default bench/results/phantom32-<backend>.json).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { exportStateDict, useBackend, writeSafetensors } from '@adx/diffusion-core';
import { readSafetensorsPath } from '@adx/diffusion-core/node';
import { extractSlices, generatePhantomVolume } from '@adx/io-medical';
import {
  CDDPM,
  compareModels,
  comparisonTable,
  createTrainer,
  detectConditioned,
  randomSliceBatches,
  type CDDPMConfigInput,
  type CDDPMVariant,
  type EvaluationVolume,
} from '../src/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const configPath = path.resolve(flag('config') ?? path.join(here, '../../../configs/conditioned-bench/phantom32.json'));
interface BenchConfig {
  data: { size: number; depth: number; train: number; validation: number; test: number; contrast: 't1' | 't2' };
  training: { steps: number; batchSize: number; lr: number; seed: number };
  unet: Record<string, unknown>;
  encoder: Record<string, unknown>;
  pddpm: { patchSize: number };
  evaluation: { erosionIterations: number; rng: number };
}
const cfg = JSON.parse(fs.readFileSync(configPath, 'utf8')) as BenchConfig;
const steps = Number(flag('steps') ?? cfg.training.steps);
const phase = flag('phase') ?? 'all';
const backend = flag('backend') ?? 'wasm';
const only = (flag('only') ?? 'DDPM,pDDPM,cDDPM').split(',') as CDDPMVariant[];
const weightsDir = path.resolve(flag('weights') ?? path.join(here, 'weights'));
const { size, depth } = cfg.data;

tf.env().set('IS_TEST', true);
if (backend === 'webgpu') await useBackend('webgpu');
else await tf.setBackend(backend);
await tf.ready();

/** Axial slices first ([D, H, W]); intensities rescaled to [0, 1] by the 1st/99th percentile inside the brain. */
function phantom(seed: string, lesions: 'none' | ['tumour']): EvaluationVolume {
  const p = generatePhantomVolume({
    size: [size, size, depth],
    seed,
    contrast: cfg.data.contrast,
    lesions,
    skullStrip: true,
  });
  const stack = (v: typeof p.image | typeof p.mask) => {
    const sl = extractSlices(v as typeof p.image, { axis: 2 });
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
    segmentation: { data: Uint8Array.from(seg), shape },
  };
}

/** The three variants: the same UNet; cDDPM adds the encoder, pDDPM the grid boxes (48/96 of the slice). */
function modelConfig(variant: CDDPMVariant): CDDPMConfigInput {
  if (variant === 'cDDPM') return { variant, encoder: cfg.encoder, unet: cfg.unet };
  if (variant === 'pDDPM') return { variant, unet: { ...cfg.unet, numClasses: null }, patchSize: cfg.pddpm.patchSize };
  return { variant, unet: { ...cfg.unet, numClasses: null } };
}

async function train(variant: CDDPMVariant): Promise<void> {
  const volumes = Array.from({ length: cfg.data.train }, (_, i) => phantom(`train-${i}`, 'none'));
  const data = randomSliceBatches(
    volumes.map((v) => v.image),
    { batchSize: cfg.training.batchSize, seed: cfg.training.seed },
  );
  const model = new CDDPM(modelConfig(variant), { seed: 1 });
  const trainer = createTrainer(model, { optimizer: { lr: cfg.training.lr }, seed: cfg.training.seed });
  const t0 = performance.now();
  const losses: number[] = [];
  const r = await trainer.fit({
    data,
    steps,
    progressEvery: 10,
    onProgress: (e) => {
      losses.push(e.meanLoss);
      console.log(`${variant} step ${e.step}/${steps} loss ${e.meanLoss.toFixed(4)} ${e.elapsedSeconds.toFixed(0)} s`);
    },
  });
  const seconds = (performance.now() - t0) / 1000;
  trainer.dispose();
  const dir = path.join(weightsDir, variant);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'unet.safetensors'), writeSafetensors(await exportStateDict(model.unet)));
  if (model.encoder)
    fs.writeFileSync(path.join(dir, 'encoder.safetensors'), writeSafetensors(await exportStateDict(model.encoder)));
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(model.toConfig(), null, 2) + '\n');
  const info = {
    variant,
    steps: r.step,
    batchSize: cfg.training.batchSize,
    lr: cfg.training.lr,
    seconds,
    backend: tf.getBackend(),
    meanLossPer10Steps: losses.map((l) => Number(l.toFixed(5))),
    parameters: model.numParameters(),
    command: `npm run bench:phantom -w @adx/guidance-conditioned -- --phase train --only ${variant}${flag('steps') ? ` --steps ${steps}` : ''}`,
    loadAverage: (await import('node:os')).loadavg(),
  };
  fs.writeFileSync(path.join(dir, 'train.json'), JSON.stringify(info, null, 2) + '\n');
  console.log(`${variant}: ${r.step} steps, last loss ${r.loss.toFixed(4)}, ${seconds.toFixed(1)} s`);
  model.dispose();
}

async function load(variant: CDDPMVariant): Promise<CDDPM> {
  const dir = path.join(weightsDir, variant);
  const model = CDDPM.fromConfig(JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')));
  const unet = (await readSafetensorsPath(path.join(dir, 'unet.safetensors'))).tensors;
  const encoder = model.encoder
    ? (await readSafetensorsPath(path.join(dir, 'encoder.safetensors'))).tensors
    : undefined;
  model.loadWeights(encoder ? { unet, encoder } : { unet }, dir);
  return model;
}

async function evaluate(): Promise<void> {
  const validation = Array.from({ length: cfg.data.validation }, (_, i) => phantom(`val-${i}`, ['tumour']));
  const test = Array.from({ length: cfg.data.test }, (_, i) => phantom(`test-${i}`, ['tumour']));
  const models: Record<string, CDDPM> = {};
  for (const v of only) models[v] = await load(v);
  const rows = await compareModels(
    models,
    { validation, test },
    { postprocess: { erosionIterations: cfg.evaluation.erosionIterations }, rng: cfg.evaluation.rng },
  );
  console.log(comparisonTable(rows));
  const training = Object.fromEntries(
    only.map((v) => [v, JSON.parse(fs.readFileSync(path.join(weightsDir, v, 'train.json'), 'utf8')) as unknown]),
  );
  const out = path.resolve(flag('out') ?? path.join(here, 'results', `phantom${size}-${tf.getBackend()}.json`));
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const result = {
    backend: tf.getBackend(),
    config: path.relative(path.join(here, '../../..'), configPath),
    loadAverage: (await import('node:os')).loadavg(),
    rows: rows.map(({ report: _r, ...row }) => row),
    training,
  };
  fs.writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
  console.log(`wrote ${out}`);
  Object.values(models).forEach((m) => m.dispose());
}

/** `--phase timing`: seconds per test volume of each detector on this backend (one warm-up volume first). */
async function timing(): Promise<void> {
  const n = Number(flag('volumes') ?? 1);
  const test = Array.from({ length: n + 1 }, (_, i) => phantom(`test-${i}`, ['tumour']));
  const secondsPerVolume: Record<string, number> = {};
  for (const v of only) {
    const model = await load(v);
    const run = (e: EvaluationVolume) =>
      detectConditioned(model, e.image, {
        brainMask: e.brainMask!,
        rng: cfg.evaluation.rng,
        postprocess: { erosionIterations: cfg.evaluation.erosionIterations },
      });
    await run(test[0]!); // warm-up (kernel / shader compilation)
    const t0 = performance.now();
    for (const e of test.slice(1)) await run(e);
    secondsPerVolume[v] = (performance.now() - t0) / 1000 / n;
    console.log(
      `${v} on ${tf.getBackend()}: ${secondsPerVolume[v]!.toFixed(2)} s / volume (${n} volumes after a warm-up)`,
    );
    model.dispose();
  }
  const out = path.resolve(flag('out') ?? path.join(here, 'results', `phantom${size}-timing-${tf.getBackend()}.json`));
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const result = {
    backend: tf.getBackend(),
    volumes: n,
    secondsPerVolume,
    loadAverage: (await import('node:os')).loadavg(),
  };
  fs.writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
  console.log(`wrote ${out}`);
}

if (phase === 'train' || phase === 'all') for (const v of only) await train(v);
if (phase === 'eval' || phase === 'all') await evaluate();
if (phase === 'timing') await timing();
