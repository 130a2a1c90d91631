/**
 * Training benchmark: images/s of full {@link Trainer} steps (augmentation off, loss read back,
 * Adam update) for each paper's small config at 64×64, per backend; peak memory; live tensors.
 *
 *   npx tsx bench/train.ts                                   # wasm and cpu, every family
 *   npx tsx bench/train.ts --backends=wasm --steps=1000 --models=thor-small   # tensors after 1,000 steps
 *   npx tsx bench/train.ts --batch=8 --cpu-steps=2 --out=bench-results/train.json
 *   . tools/webgpu-env.sh && npx tsx bench/train.ts --backends=webgpu
 *   npx tsx bench/train.ts --quick --only=thor-small            # wasm only, 2 timed steps, one family
 *   npx tsx bench/train.ts --backends=wasm --steps=1000 --only=thor-small --size=16 --batch=2  # 1,000-step soak
 *
 * Each measurement: 1 warm-up step (kernel setup, first allocations), then `--steps` timed steps
 * (cpu: `--cpu-steps`, its filter-gradient kernel is very slow). Reported: images/s, ms/step,
 * forward ms (one `apply` read back) and the step/forward ratio, peak RSS and peak tfjs bytes, and
 * `tf.memory().numTensors` before the warm-up and after the last step (equal = no leak).
 * Writes JSON to `<repo>/bench-results/train.json` (`--out=`).
 */
import * as tf from '@tensorflow/tfjs-core';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, platform } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ClassifierObjective,
  ConditionedUNetModel,
  DDPMScheduler,
  DiffusionModelUNet,
  DiffusionObjective,
  EncoderUNetModel,
  InMemoryDataset,
  ResNetEncoder,
  SeededRNG,
  Trainer,
  UNetModel,
  useBackend,
  type BackendName,
  type TrainingObjective,
} from '../src/index.js';

interface Args {
  backends: BackendName[];
  batch: number;
  steps: number;
  cpuSteps: number;
  out: string;
  models: string[] | null;
}

/**
 * Flags: `--backends=`, `--batch=`, `--steps=`, `--cpu-steps=`, `--out=`, `--models=` (alias
 * `--only=`: comma-separated case names), `--quick` (defaults to `--backends=wasm --steps=2`;
 * explicit flags still win).
 */
function parseArgs(argv: string[]): Args {
  const get = (k: string) => argv.find((a) => a.startsWith(`--${k}=`))?.slice(k.length + 3);
  const here = dirname(fileURLToPath(import.meta.url));
  const quick = argv.includes('--quick');
  return {
    backends: (get('backends') ?? (quick ? 'wasm' : 'wasm,cpu')).split(',') as BackendName[],
    batch: Number(get('batch') ?? 4),
    steps: Number(get('steps') ?? (quick ? 2 : 10)),
    cpuSteps: Number(get('cpu-steps') ?? 2),
    out: resolve(get('out') ?? resolve(here, '../../../bench-results/train.json')),
    models: (get('models') ?? get('only'))?.split(',') ?? null,
  };
}

/** Image size (`--size=`, default 64). */
const S = Number(process.argv.find((a) => a.startsWith('--size='))?.slice(7) ?? 64);

interface Case {
  name: string;
  description: string;
  labels: boolean;
  build: () => { objective: TrainingObjective; forward: (x: tf.Tensor4D) => tf.Tensor; dispose: () => void };
}

const CASES: Case[] = [
  {
    name: 'thor-small',
    description: 'THOR: DiffusionModelUNet [32,64,64], attention [F,T,T], ε-MSE, Gaussian noise, Adam',
    labels: false,
    build: () => {
      const model = DiffusionModelUNet.fromConfig({
        spatialDims: 2,
        inChannels: 1,
        outChannels: 1,
        numChannels: [32, 64, 64],
        attentionLevels: [false, true, true],
        numResBlocks: 1,
        numHeadChannels: 64,
        normNumGroups: 32,
      });
      return {
        objective: DiffusionObjective.thor(model, DDPMScheduler.fromPreset('thor')),
        forward: (x) => model.apply(x, 500),
        dispose: () => model.dispose(),
      };
    },
  },
  {
    name: 'wolleb-unet-small',
    description: 'Wolleb: UNetModel 32 ch × [1,2,2], 2 res blocks, attn ds 4, learned Σ, 2 classes, hybrid loss',
    labels: true,
    build: () => {
      const model = UNetModel.fromConfig({
        imageSize: S,
        inChannels: 1,
        modelChannels: 32,
        outChannels: 2,
        numResBlocks: 2,
        attentionResolutions: [4],
        channelMult: [1, 2, 2],
        numClasses: 2,
        numHeads: 1,
      });
      return {
        objective: DiffusionObjective.wolleb(model, DDPMScheduler.fromPreset('wolleb')),
        forward: (x) => model.apply(x, 500, { classLabels: new Array<number>(x.shape[0]).fill(0) }),
        dispose: () => model.dispose(),
      };
    },
  },
  {
    name: 'wolleb-classifier-small',
    description: 'Wolleb: EncoderUNetModel 32 ch × [1,2,2], attention pool, noisy cross-entropy',
    labels: true,
    build: () => {
      const model = EncoderUNetModel.fromConfig({
        imageSize: S,
        inChannels: 1,
        modelChannels: 32,
        outChannels: 2,
        numResBlocks: 2,
        attentionResolutions: [4],
        channelMult: [1, 2, 2],
        numHeadChannels: 32,
        useScaleShiftNorm: true,
        resblockUpdown: true,
        pool: 'attention',
      });
      return {
        objective: new ClassifierObjective(model, DDPMScheduler.fromPreset('wolleb')),
        forward: (x) => model.apply(x, 500),
        dispose: () => model.dispose(),
      };
    },
  },
  {
    name: 'cddpm-small',
    description: 'Behrendt: conditioned UNet 32 ch × [1,2,2] + ResNet-18/8 encoder (128-d), x0-L1, simplex noise',
    labels: false,
    build: () => {
      const encoder = ResNetEncoder.preset('resnet18', { outFeatures: 128, widthDivisor: 8 }, new SeededRNG(1));
      const model = ConditionedUNetModel.fromConfig({
        imageSize: [S, S],
        inChannels: 1,
        modelChannels: 32,
        outChannels: 1,
        numResBlocks: 1,
        attentionResolutions: [3, 6, 12],
        channelMult: [1, 2, 2],
        numClasses: 128,
        numHeadChannels: 32,
        useScaleShiftNorm: true,
        resblockUpdown: true,
        useNewAttentionOrder: true,
      });
      return {
        objective: DiffusionObjective.behrendt(model, DDPMScheduler.fromPreset('behrendt'), encoder),
        forward: (x) => tf.tidy(() => model.apply(x, 500, { condition: encoder.apply(x) })),
        dispose: () => {
          model.dispose();
          encoder.dispose();
        },
      };
    },
  },
];

interface Row {
  backend: string;
  model: string;
  batch: number;
  steps: number;
  imagesPerSecond: number;
  msPerStep: number;
  forwardMs: number;
  stepForwardRatio: number;
  peakRssMiB: number;
  peakTfMiB: number;
  tensorsBefore: number;
  tensorsAfter: number;
  finalLoss: number;
}

async function run(c: Case, backend: string, batch: number, steps: number): Promise<Row> {
  const tensorsBefore = tf.memory().numTensors;
  const { objective, forward, dispose } = c.build();
  const n = batch * 4;
  const data = new InMemoryDataset(
    { data: new SeededRNG(1).uniformArray(n * S * S), shape: [n, S, S, 1] },
    { batchSize: batch, seed: 1, ...(c.labels ? { labels: Array.from({ length: n }, (_, i) => i % 2) } : {}) },
  );
  const trainer = new Trainer({ objective, seed: 1 });
  let peakRss = process.memoryUsage().rss;
  let peakTf = tf.memory().numBytes;
  const sample = () => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    peakTf = Math.max(peakTf, tf.memory().numBytes);
  };
  // forward time (after one warm-up forward)
  const x = tf.tensor4d(new SeededRNG(2).uniformArray(batch * S * S), [batch, S, S, 1]);
  for (let i = 0; i < 2; i++) {
    const y = forward(x);
    await y.data();
    y.dispose();
  }
  let t = performance.now();
  const y = forward(x);
  await y.data();
  const forwardMs = performance.now() - t;
  tf.dispose([x, y]);
  await trainer.fit({ data, steps: 1, onProgress: sample }); // warm-up
  t = performance.now();
  const r = await trainer.fit({ data, steps: 1 + steps, onProgress: sample });
  const ms = (performance.now() - t) / steps;
  trainer.dispose();
  dispose();
  sample();
  return {
    backend,
    model: c.name,
    batch,
    steps,
    imagesPerSecond: (1000 * batch) / ms,
    msPerStep: ms,
    forwardMs,
    stepForwardRatio: ms / forwardMs,
    peakRssMiB: peakRss / 2 ** 20,
    peakTfMiB: peakTf / 2 ** 20,
    tensorsBefore,
    tensorsAfter: tf.memory().numTensors,
    finalLoss: r.loss,
  };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  tf.env().set('IS_TEST', true); // no tfjs-node banner
  const rows: Row[] = [];
  for (const backend of args.backends) {
    try {
      await useBackend(backend);
    } catch (e) {
      console.error(`skipping ${backend}: ${(e as Error).message}`);
      continue;
    }
    for (const c of CASES) {
      if (args.models && !args.models.includes(c.name)) continue;
      const steps = backend === 'cpu' ? args.cpuSteps : args.steps;
      const row = await run(c, backend, args.batch, steps);
      rows.push(row);
      console.error(
        `${backend} ${c.name}: ${row.imagesPerSecond.toFixed(2)} img/s, ${row.msPerStep.toFixed(0)} ms/step, ` +
          `step/forward ${row.stepForwardRatio.toFixed(1)}, tensors ${row.tensorsBefore}→${row.tensorsAfter}`,
      );
    }
  }
  const md = [
    `| backend | model | batch | steps | images/s | ms/step | forward ms | step/forward | peak RSS MiB | peak tfjs MiB | tensors before → after |`,
    `| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |`,
    ...rows.map(
      (r) =>
        `| ${r.backend} | ${r.model} | ${r.batch} | ${r.steps} | ${r.imagesPerSecond.toFixed(2)} | ${r.msPerStep.toFixed(0)} | ` +
        `${r.forwardMs.toFixed(0)} | ${r.stepForwardRatio.toFixed(1)} | ${r.peakRssMiB.toFixed(0)} | ${r.peakTfMiB.toFixed(0)} | ` +
        `${r.tensorsBefore} → ${r.tensorsAfter} |`,
    ),
  ].join('\n');
  console.log(md);
  for (const c of CASES) console.log(`- ${c.name}: ${c.description}`);
  mkdirSync(dirname(args.out), { recursive: true });
  writeFileSync(
    args.out,
    JSON.stringify({ date: new Date().toISOString(), platform: platform(), cpus: cpus().length, args, rows }, null, 2),
  );
}

void main();
