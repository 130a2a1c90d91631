/**
 * Trains the THOR-style DDPM of the phantom benchmark with the project's `Trainer` and saves it
 * with `saveCheckpoint` (config.json + model.safetensors; EMA weights when EMA is on).
 *
 *   cd packages/guidance-thor && nice -n 5 npx tsx --conditions=@adx/source bench/train-phantom.ts \
 *     [--config=../../configs/thor-bench/phantom64.json] [--out=bench/weights/phantom64] [--backend=wasm]
 *     [--init=<checkpoint folder> --init-steps=<its step count>]   # continue from saved weights (fresh Adam)
 *
 * Stops at `training.steps`, after `bench.maxCpuMinutes` of process CPU time or after
 * `bench.maxMinutes` of wall time, whichever comes first, and
 * saves every `bench.saveEvery` steps (so an interrupted run leaves a usable checkpoint). `--init`
 * continues from such a checkpoint's weights (the Adam moments and EMA restart; the data order
 * restarts too), counting `--init-steps` towards `training.steps`.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  DDPMScheduler,
  DiffusionObjective,
  InMemoryDataset,
  Trainer,
  createModelFromConfig,
  exportStateDict,
  loadStateDict,
  thorAugmentation,
  useBackend,
  type DiffusionModelUNet,
} from '@adx/diffusion-core';
import { loadCheckpoint, saveCheckpoint } from '@adx/diffusion-core/node';
import { DEFAULT_CONFIG, DEFAULT_WEIGHTS, healthySlices, readBenchConfig } from './common.js';

const arg = (k: string) => process.argv.find((a) => a.startsWith(`--${k}=`))?.slice(k.length + 3);
const configPath = arg('config') ?? DEFAULT_CONFIG;
const out = arg('out') ?? DEFAULT_WEIGHTS;
const backend = (arg('backend') ?? 'wasm') as 'wasm' | 'cpu' | 'webgpu';
const stepsOverride = arg('steps');
const init = arg('init');
const initSteps = Number(arg('init-steps') ?? 0);

await useBackend(backend);
const cfg = await readBenchConfig(configPath);
const { data, training, bench } = cfg;
const steps = (stepsOverride ? Number(stepsOverride) : training.steps) - initSteps;
const size = data.size;

const unet = createModelFromConfig(cfg.model, { seed: training.seed }) as DiffusionModelUNet;
if (init) {
  const { model: saved } = await loadCheckpoint(init);
  loadStateDict(unet, await exportStateDict(saved));
  saved.dispose();
  console.log(`initialised from ${init} (${initSteps} steps)`);
}
const slices = healthySlices(data.count, size, data.seed, data.contrast);
const images = new Float32Array(slices.length * size * size);
slices.forEach((s, i) => images.set(s, i * size * size));
const dataset = new InMemoryDataset(
  { data: images, shape: [slices.length, size, size, 1] },
  { batchSize: training.batchSize, seed: training.seed },
);
const trainer = new Trainer({
  objective: DiffusionObjective.thor(unet, DDPMScheduler.fromPreset('thor')),
  optimizer: { lr: training.lr },
  ema: training.ema,
  gradClipNorm: training.gradClipNorm,
  augment: training.augment ? thorAugmentation() : null,
  seed: training.seed,
});
console.log(
  `backend ${tf.getBackend()}, ${unet.numParameters()} parameters, ${slices.length} healthy ${size}² slices, ` +
    `batch ${training.batchSize}, up to ${steps} steps / ${bench.maxCpuMinutes} CPU-min / ${bench.maxMinutes} min`,
);

const t0 = Date.now();
const cpu0 = process.cpuUsage();
const cpuMinutes = () => {
  const u = process.cpuUsage(cpu0);
  return (u.user + u.system) / 6e7;
};
let lossSum = 0;
let lossN = 0;
const save = async (note: string) => {
  await trainer.withEmaWeights(() =>
    saveCheckpoint(out, unet, {
      state: {
        trainedWith: 'packages/guidance-thor/bench/train-phantom.ts',
        config: cfg,
        steps: initSteps + trainer.step,
        ...(init ? { initialisedFrom: init, initSteps } : {}),
        backend: tf.getBackend(),
        wallSeconds: Math.round((Date.now() - t0) / 1000),
        cpuMinutes: Number(cpuMinutes().toFixed(1)),
        note,
      },
    }),
  );
};
while (trainer.step < steps) {
  const target = Math.min(steps, trainer.step + bench.saveEvery);
  await trainer.fit({
    data: dataset,
    steps: target,
    progressEvery: 10,
    onProgress: (e) => {
      lossSum += e.meanLoss;
      lossN++;
      console.log(
        `step ${e.step} loss ${e.meanLoss.toFixed(4)} ${e.imagesPerSecond.toFixed(2)} img/s ` +
          `${((Date.now() - t0) / 1000).toFixed(0)} s, ${cpuMinutes().toFixed(1)} CPU-min`,
      );
    },
  });
  const minutes = (Date.now() - t0) / 60000;
  const done = trainer.step >= steps || minutes >= bench.maxMinutes || cpuMinutes() >= bench.maxCpuMinutes;
  await save(done ? 'final' : 'partial');
  console.log(
    `saved ${out} at step ${trainer.step} (${minutes.toFixed(1)} min, ${cpuMinutes().toFixed(1)} CPU-min, mean loss ${(lossSum / lossN).toFixed(4)})`,
  );
  lossSum = 0;
  lossN = 0;
  if (done) break;
}
console.log(
  `done: ${trainer.step} steps in ${((Date.now() - t0) / 60000).toFixed(1)} min, ${cpuMinutes().toFixed(1)} CPU-min, ` +
    `${tf.memory().numTensors} live tensors`,
);
trainer.dispose();
unet.dispose();
