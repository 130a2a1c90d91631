/**
 * Classifier-guided DDIM on io-medical phantom slices with weak labels, trained and evaluated
 * through this package's API: tiny networks at 32×32, a short training budget on wasm — the numbers
 * exercise the pipeline, they do not reproduce the paper.
 *
 *   npm run bench:phantom -w @adx/guidance-classifier -- [--train 48] [--test 12] [--steps 150] [--L 30] [--s 10]
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { EncoderUNetModel, InMemoryDataset, UNetModel } from '@adx/diffusion-core';
import { generatePhantomSlices } from '@adx/io-medical';
import { reportToMarkdown } from '@adx/metrics';
import {
  evaluateClassifierGuidance,
  noisyClassifierTrainer,
  wollebDiffusionTrainer,
  type EvaluationSlice,
} from '../src/index.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
const nTrain = arg('train', 48);
const nTest = arg('test', 12);
const steps = arg('steps', 150);
const L = arg('L', 30);
const s = arg('s', 10);
const size = 32;
tf.env().set('IS_TEST', true);
await tf.setBackend(process.argv.includes('--cpu') ? 'cpu' : 'wasm');
await tf.ready();

/** Phantom FLAIR slices, each min-max normalised to [0, 1] (the CheXpert loader's `visualize`). */
function slices(count: number, seed: number): EvaluationSlice[] {
  return generatePhantomSlices({ count, size, seed, contrast: 'flair', diseasedFraction: 0.5 }).map((p, i) => {
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of p.image.data) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    const image = p.image.data.map((v) => (v - lo) / (hi - lo || 1));
    return {
      image,
      height: size,
      width: size,
      channels: 1,
      label: p.label,
      gt: { data: p.mask.data, height: size, width: size },
      id: `${seed}-${i}`,
    };
  });
}
const train = slices(nTrain, 1);
const test = slices(nTest, 2);
const labels = train.map((t) => t.label);
const images = new Float32Array(nTrain * size * size);
train.forEach((t, i) => images.set(t.image, i * size * size));
const data = () =>
  new InMemoryDataset({ data: images, shape: [nTrain, size, size, 1] }, { batchSize: 8, labels, seed: 3 });

const body = {
  imageSize: size,
  inChannels: 1,
  modelChannels: 32,
  numResBlocks: 1,
  attentionResolutions: [4],
  channelMult: [1, 2, 2],
};
const unet = UNetModel.fromConfig({ ...body, outChannels: 2, numClasses: 2 }, { seed: 1 });
const classifier = EncoderUNetModel.fromConfig(
  { ...body, outChannels: 2, numHeadChannels: 32, useScaleShiftNorm: true, resblockUpdown: true, pool: 'attention' },
  { seed: 2 },
);
const t0 = performance.now();
// Short runs: higher learning rate than the official 1e-4, no EMA (0.9999 would not move in 150 steps).
const ut = wollebDiffusionTrainer(unet, { lr: 1e-3, ema: null, seed: 1 });
const ru = await ut.fit({ data: data(), steps });
const ct = noisyClassifierTrainer(classifier, { lr: 1e-3, seed: 2 });
const rc = await ct.fit({ data: data(), steps });
const trainSeconds = (performance.now() - t0) / 1000;
console.log(
  `trained ${steps} steps each in ${trainSeconds.toFixed(0)} s: UNet loss ${ru.loss.toFixed(4)}, classifier CE ${rc.loss.toFixed(4)}`,
);

const res = await evaluateClassifierGuidance(unet, classifier, test, {
  detection: { noiseLevel: L, classifierScale: s, timestepRespacing: 'ddim100' },
  onSlice: ({ index, total, seconds }) => console.log(`slice ${index + 1}/${total}: ${seconds.toFixed(2)} s`),
});
console.log(reportToMarkdown(res.reports));
console.log(
  `backend ${tf.getBackend()}, ${nTrain} train / ${nTest} test slices (${test.filter((t) => t.label === 1).length} diseased), L = ${L} on ddim100, s = ${s}: ${res.secondsPerSlice.toFixed(2)} s per slice`,
);
ut.dispose();
ct.dispose();
