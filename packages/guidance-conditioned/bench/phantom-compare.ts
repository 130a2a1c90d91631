/**
 * DDPM vs cDDPM on io-medical phantom volumes, trained and evaluated through this package's API:
 * healthy T2 phantoms for training (one random slice per volume per epoch), tumour phantoms for
 * validation (τ) and test (Behrendt per-volume protocol). Tiny networks at 32×32 and a short
 * training budget: the numbers exercise the pipeline, they do not reproduce the paper.
 *
 *   npm run bench:phantom -w @adx/guidance-conditioned -- [--steps 150] [--size 32] [--depth 16]
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { extractSlices, generatePhantomVolume } from '@adx/io-medical';
import {
  CDDPM,
  compareModels,
  comparisonTable,
  createTrainer,
  randomSliceBatches,
  type EvaluationVolume,
} from '../src/index.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
const steps = arg('steps', 150);
const size = arg('size', 32);
const depth = arg('depth', 16);
tf.env().set('IS_TEST', true);
await tf.setBackend('wasm');
await tf.ready();

/** Axial slices first ([D, H, W]); intensities rescaled to [0, 1] by the 1st/99th percentile inside the brain. */
function phantom(seed: string, lesions: 'none' | ['tumour']): EvaluationVolume {
  const p = generatePhantomVolume({ size: [size, size, depth], seed, contrast: 't2', lesions, skullStrip: true });
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

const train = Array.from({ length: 16 }, (_, i) => phantom(`train-${i}`, 'none'));
const validation = Array.from({ length: 4 }, (_, i) => phantom(`val-${i}`, ['tumour']));
const test = Array.from({ length: 6 }, (_, i) => phantom(`test-${i}`, ['tumour']));

const unet = { imageSize: size, modelChannels: 32, numResBlocks: 1, channelMult: [1, 2, 2], numHeadChannels: 32 };
const models = {
  DDPM: new CDDPM({ variant: 'DDPM', unet: { ...unet, numClasses: null } }, { seed: 1 }),
  cDDPM: new CDDPM(
    {
      variant: 'cDDPM',
      encoder: {
        block: 'BasicBlock',
        layers: [2, 2, 2, 2],
        stemWidth: 16,
        stagePlanes: [16, 32, 64, 128],
        outFeatures: 64,
      },
      unet,
    },
    { seed: 1 },
  ),
};
const data = randomSliceBatches(
  train.map((v) => v.image),
  { batchSize: 8 },
);
const trainSeconds: Record<string, number> = {};
for (const [name, model] of Object.entries(models)) {
  const trainer = createTrainer(model, { optimizer: { lr: 1e-3 } });
  const t0 = performance.now();
  const r = await trainer.fit({ data, steps });
  trainSeconds[name] = (performance.now() - t0) / 1000;
  console.log(`${name}: ${r.step} steps, last loss ${r.loss.toFixed(4)}, ${trainSeconds[name].toFixed(1)} s`);
  trainer.dispose();
}
const rows = await compareModels(models, { validation, test }, { postprocess: { erosionIterations: 1 }, rng: 3141 });
console.log(comparisonTable(rows));
console.log(JSON.stringify({ steps, size, depth, trainSeconds, backend: tf.getBackend() }));
