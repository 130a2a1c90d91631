/**
 * Classifier-guided DDIM on io-medical phantom slices with weak labels, trained and evaluated
 * through this package's API from `configs/classifier-bench/phantom.yaml` (tiny networks at
 * 32×32; the numbers exercise the method at toy scale, they do not reproduce the paper).
 *
 *   npm run bench:phantom -w @adx/guidance-classifier -- <stage> [--config FILE] [--weights DIR] [--backend wasm|cpu|webgpu]
 *
 * Stages (run in this order; each writes/reads checkpoints under --weights, default bench/weights):
 *   unet        trains the class-conditional learned-sigma UNet (wollebDiffusionTrainer) → <weights>/unet
 *   classifier  trains the noisy classifier (noisyClassifierTrainer) → <weights>/classifier
 *   accuracy    held-out classifier accuracy per timestep bucket (markdown table)
 *   eval        detection on the held-out slices for every guidance scale s of the config:
 *               Otsu Dice, per-slice pixel AUROC, image AUROC (map mean, classifier); --limit N slices
 *   backends    seconds per slice of one detection on --count N slices on the chosen --backend
 *
 * Options: --steps N overrides the stage's training steps (checkpoints are written every --save-every
 * steps, default 50); --json FILE writes the stage's results.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { parse } from 'yaml';
import {
  EncoderUNetModel,
  InMemoryDataset,
  UNetModel,
  randomHorizontalFlip,
  useBackend,
  type ProgressEvent,
} from '@adx/diffusion-core';
import { loadCheckpoint, saveCheckpoint } from '@adx/diffusion-core/node';
import { generatePhantomSlices, type Contrast, type LesionType } from '@adx/io-medical';
import { reportToMarkdown } from '@adx/metrics';
import {
  classifierAccuracyByTimestep,
  detectWithClassifierGuidance,
  evaluateClassifierGuidance,
  noisyClassifierTrainer,
  wollebDiffusionTrainer,
  type EvaluationSlice,
} from '../src/index.js';

interface BenchConfig {
  data: {
    size: number;
    contrast: Contrast;
    diseasedFraction: number;
    lesionTypes?: LesionType[];
    train: { count: number; seed: number };
    test: { count: number; seed: number };
  };
  unet: Record<string, unknown>;
  classifier: Record<string, unknown>;
  training: {
    unet: { steps: number; batchSize: number; lr: number; ema: number | null; seed: number };
    classifier: {
      steps: number;
      batchSize: number;
      lr: number;
      maxTimestep?: number;
      weightDecay?: number;
      classWeights?: number[] | null;
      flip?: boolean;
      seed: number;
    };
  };
  evaluation: { noiseLevel: number; timestepRespacing: string; scales: number[]; accuracyBuckets: number[] };
}

function opt(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const stage = process.argv[2] ?? '';
const STAGES = ['unet', 'classifier', 'accuracy', 'eval', 'backends'];
if (!STAGES.includes(stage)) {
  console.error(`usage: bench/phantom.ts <${STAGES.join('|')}> [--config FILE] [--weights DIR] [--backend NAME]`);
  process.exit(2);
}
const configFile =
  opt('config') ?? fileURLToPath(new URL('../../../configs/classifier-bench/phantom.yaml', import.meta.url));
const weights = opt('weights') ?? fileURLToPath(new URL('./weights', import.meta.url));
const backend = opt('backend') ?? 'wasm';
const cfg = parse(await readFile(configFile, 'utf8')) as BenchConfig;

// webgpu in Node needs `. ../../tools/webgpu-env.sh` first (SwiftShader without a GPU)
await useBackend(backend as 'cpu' | 'wasm' | 'webgpu');
tf.env().set('IS_TEST', true);

const { size } = cfg.data;

/** Phantom slices, each min-max normalised to [0, 1] (the CheXpert loader's `visualize`). */
function slices(count: number, seed: number): EvaluationSlice[] {
  return generatePhantomSlices({
    count,
    size,
    seed,
    contrast: cfg.data.contrast,
    diseasedFraction: cfg.data.diseasedFraction,
    ...(cfg.data.lesionTypes ? { lesionTypes: cfg.data.lesionTypes } : {}),
  }).map((p, i) => {
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of p.image.data) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    return {
      image: p.image.data.map((v) => (v - lo) / (hi - lo || 1)),
      height: size,
      width: size,
      channels: 1,
      label: p.label,
      gt: { data: p.mask.data, height: size, width: size },
      id: `${seed}-${i}`,
    };
  });
}

function stack(s: EvaluationSlice[]): Float32Array {
  const out = new Float32Array(s.length * size * size);
  s.forEach((t, i) => out.set(t.image, i * size * size));
  return out;
}

const strip = (c: Record<string, unknown>) => {
  const { className: _, ...rest } = c;
  void _;
  return rest;
};

const progress =
  (name: string, every: number) =>
  (e: ProgressEvent): void => {
    if (e.step % every === 0)
      console.log(
        `${name} step ${e.step}/${e.totalSteps ?? '?'}: mean loss ${e.meanLoss.toFixed(4)}, ${e.imagesPerSecond.toFixed(2)} img/s, ${e.elapsedSeconds.toFixed(0)} s`,
      );
  };

async function writeJson(value: unknown): Promise<void> {
  const file = opt('json');
  if (file) await writeFile(file, JSON.stringify(value, null, 2));
}

const test = slices(cfg.data.test.count, cfg.data.test.seed);
const stepsOverride = opt('steps') === undefined ? undefined : Number(opt('steps'));

if (stage === 'unet' || stage === 'classifier') {
  const train = slices(cfg.data.train.count, cfg.data.train.seed);
  const tc = stage === 'unet' ? cfg.training.unet : cfg.training.classifier;
  const data = new InMemoryDataset(
    { data: stack(train), shape: [train.length, size, size, 1] },
    { batchSize: tc.batchSize, labels: train.map((t) => t.label), seed: tc.seed },
  );
  const steps = stepsOverride ?? tc.steps;
  const saveEvery = Number(opt('save-every') ?? 50);
  const t0 = performance.now();
  if (stage === 'unet') {
    const u = cfg.training.unet;
    const unet = UNetModel.fromConfig(strip(cfg.unet), { seed: u.seed });
    const trainer = wollebDiffusionTrainer(unet, { lr: u.lr, ema: u.ema, seed: u.seed });
    // fit in chunks and save after each, so a long run can be stopped and still leave weights
    let loss = NaN;
    while (trainer.step < steps) {
      const r = await trainer.fit({
        data,
        steps: Math.min(steps, trainer.step + saveEvery),
        onProgress: progress('unet', 25),
      });
      loss = r.loss;
      await saveCheckpoint(`${weights}/unet`, unet, { state: { config: configFile, steps: trainer.step, loss } });
    }
    console.log(`unet: ${steps} steps in ${((performance.now() - t0) / 1000).toFixed(0)} s, last loss ${loss}`);
    trainer.dispose();
  } else {
    const c = cfg.training.classifier;
    const classifier = EncoderUNetModel.fromConfig(strip(cfg.classifier), { seed: c.seed });
    const trainer = noisyClassifierTrainer(classifier, {
      lr: c.lr,
      seed: c.seed,
      ...(c.maxTimestep !== undefined ? { maxTimestep: c.maxTimestep } : {}),
      weightDecay: c.weightDecay ?? 0,
      classWeights: c.classWeights ?? null,
      augment: c.flip ? randomHorizontalFlip() : null,
    });
    let loss = NaN;
    while (trainer.step < steps) {
      const r = await trainer.fit({
        data,
        steps: Math.min(steps, trainer.step + saveEvery),
        onProgress: progress('classifier', 25),
      });
      loss = r.loss;
      await saveCheckpoint(`${weights}/classifier`, classifier, {
        state: { config: configFile, steps: trainer.step, loss },
      });
    }
    console.log(`classifier: ${steps} steps in ${((performance.now() - t0) / 1000).toFixed(0)} s, last CE ${loss}`);
    trainer.dispose();
  }
} else {
  const classifier = (await loadCheckpoint(`${weights}/classifier`)).model as EncoderUNetModel;
  if (stage === 'accuracy') {
    const x = tf.tensor4d(stack(test), [test.length, size, size, 1]);
    const acc = await classifierAccuracyByTimestep(
      classifier,
      x,
      test.map((t) => t.label),
      { buckets: cfg.evaluation.accuracyBuckets, perBucket: 4, seed: 0 },
    );
    x.dispose();
    const d = test.filter((t) => t.label === 1).length;
    console.log(`held-out: ${test.length} slices (${d} diseased), 4 noise draws per slice and bucket\n`);
    console.log('| t | accuracy | balanced accuracy | cross-entropy (nats) |\n| --- | --- | --- | --- |');
    for (const a of acc)
      console.log(
        `| [${a.from}, ${a.to}) | ${a.accuracy.toFixed(3)} | ${a.balancedAccuracy.toFixed(3)} | ${a.crossEntropy.toFixed(3)} |`,
      );
    await writeJson(acc);
  } else {
    const unet = (await loadCheckpoint(`${weights}/unet`)).model as UNetModel;
    const { noiseLevel, timestepRespacing } = cfg.evaluation;
    if (stage === 'eval') {
      const limit = Number(opt('limit') ?? test.length);
      const subset = test.slice(0, limit);
      const scales = opt('scales') ? opt('scales')!.split(',').map(Number) : cfg.evaluation.scales;
      const results: unknown[] = [];
      for (const s of scales) {
        const res = await evaluateClassifierGuidance(unet, classifier, subset, {
          detection: { noiseLevel, classifierScale: s, timestepRespacing },
        });
        console.log(`\n### s = ${s} (L = ${noiseLevel} on ${timestepRespacing}, backend ${tf.getBackend()})\n`);
        console.log(reportToMarkdown(res.reports));
        console.log(`${res.secondsPerSlice.toFixed(2)} s per slice`);
        results.push({ s, reports: res.reports, secondsPerSlice: res.secondsPerSlice, slices: res.slices });
      }
      await writeJson(results);
    } else {
      const count = Number(opt('count') ?? 2);
      const s = Number(opt('s') ?? cfg.evaluation.scales.at(-1));
      const times: number[] = [];
      for (const sl of test.slice(0, count)) {
        const x = tf.tensor4d(sl.image, [1, size, size, 1]);
        const t0 = performance.now();
        const r = await detectWithClassifierGuidance(unet, classifier, x, {
          noiseLevel,
          classifierScale: s,
          timestepRespacing,
        });
        await r.anomalyMap.data();
        times.push((performance.now() - t0) / 1000);
        tf.dispose([x, r.anomalyMap, r.healthy]);
      }
      const mean = times.reduce((a, b) => a + b, 0) / times.length;
      console.log(
        `backend ${tf.getBackend()}: ${times.map((t) => t.toFixed(2)).join(', ')} s; mean ${mean.toFixed(2)} s per slice (L = ${noiseLevel} on ${timestepRespacing}, s = ${s})`,
      );
      await writeJson({ backend: tf.getBackend(), times, mean });
    }
  }
}
