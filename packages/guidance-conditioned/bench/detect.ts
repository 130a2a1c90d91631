/**
 * Seconds per volume of cDDPM / DDPM / pDDPM detection at the paper size (96×96 slices, UNet 128
 * channels [1,2,2] × 3 ResBlocks, ResNet-50 encoder), random weights (timing only).
 *
 *   npm run bench -w @adx/guidance-conditioned -- [--backend wasm|cpu] [--slices 4] [--variants cDDPM,DDPM,pDDPM]
 *
 * A volume has 50 slices (96×96×50); by default only `--slices` slices are run and the time is
 * scaled linearly to 50 (the slices are independent batch items). Prints one line per variant.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { SeededRNG, useBackend } from '@adx/diffusion-core';
import { CDDPM, detectConditioned, paperConfig, type CDDPMVariant } from '../src/index.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

const backend = arg('backend', 'wasm');
const slices = Number(arg('slices', '4'));
const variants = arg('variants', 'cDDPM,DDPM,pDDPM').split(',') as CDDPMVariant[];
tf.env().set('IS_TEST', true);
if (backend === 'cpu' || backend === 'wasm') {
  await tf.setBackend(backend);
  await tf.ready();
} else {
  await useBackend(backend as 'webgpu');
}

const rng = new SeededRNG(1);
const x = rng.rand([slices, 96, 96, 1]);
const data = (await x.data()) as Float32Array;
x.dispose();
const volume = { data, shape: [slices, 96, 96] };

for (const variant of variants) {
  const model = new CDDPM(paperConfig(variant), { seed: 1 });
  // warm-up: one slice, one level (kernel compilation / weight upload)
  await detectConditioned(model, { data: data.subarray(0, 96 * 96), shape: [1, 96, 96] }, { levels: [500] });
  const t0 = performance.now();
  await detectConditioned(model, volume, { chunkSize: slices });
  const s = (performance.now() - t0) / 1000;
  const perVolume = (s / slices) * 50;
  console.log(
    `${variant}: ${model.numParameters()} parameters, ${slices} slices in ${s.toFixed(2)} s → ${perVolume.toFixed(1)} s per 96×96×50 volume [${tf.getBackend()}]`,
  );
  model.dispose();
}
