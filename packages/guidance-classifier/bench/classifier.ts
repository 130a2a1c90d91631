/**
 * Noisy-classifier probe on io-medical phantom slices (weak labels): trains only the classifier
 * with the given recipe and prints held-out accuracy per timestep bucket.
 *
 *   npx tsx --conditions=@adx/source bench/classifier.ts [--steps 300] [--lr 1e-3] [--maxT 1000] [--batch 8]
 *     [--train 128] [--test 64] [--contrast flair] [--flip] [--wd 0] [--clip 0] [--eval-every 100] [--cpu]
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-backend-cpu';
import { EncoderUNetModel, InMemoryDataset, randomHorizontalFlip } from '@adx/diffusion-core';
import { generatePhantomSlices, type Contrast, type LesionType } from '@adx/io-medical';
import { classifierAccuracyByTimestep, noisyClassifierTrainer } from '../src/index.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
function sarg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
}
const size = 32;
const nTrain = arg('train', 128);
const nTest = arg('test', 64);
const steps = arg('steps', 300);
const lr = arg('lr', 1e-3);
const maxT = arg('maxT', 1000);
const batch = arg('batch', 8);
const wd = arg('wd', 0);
const clip = arg('clip', 0);
const evalEvery = arg('eval-every', 100);
const contrast = sarg('contrast', 'flair') as Contrast;
const width = arg('width', 32);
tf.env().set('IS_TEST', true);
await tf.setBackend(process.argv.includes('--cpu') ? 'cpu' : 'wasm');
await tf.ready();

function load(count: number, seed: number) {
  const sl = generatePhantomSlices({
    count,
    size,
    seed,
    contrast,
    diseasedFraction: 0.5,
    lesionTypes: sarg('types', 'tumour,stroke,ms').split(',') as LesionType[],
  });
  const images = new Float32Array(count * size * size);
  sl.forEach((p, i) => {
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of p.image.data) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    images.set(
      p.image.data.map((v) => (v - lo) / (hi - lo || 1)),
      i * size * size,
    );
  });
  return { images, labels: sl.map((p) => p.label) };
}
const train = load(nTrain, 1);
const test = load(nTest, 2);
console.log(
  `train ${nTrain} (${train.labels.filter((l) => l).length} diseased), test ${nTest} (${test.labels.filter((l) => l).length} diseased)`,
);
const classifier = EncoderUNetModel.fromConfig(
  {
    imageSize: size,
    inChannels: 1,
    modelChannels: width,
    numResBlocks: 1,
    attentionResolutions: [4],
    channelMult: [1, 2, 2],
    outChannels: 2,
    numHeadChannels: 32,
    useScaleShiftNorm: true,
    resblockUpdown: true,
    pool: 'attention',
  },
  { seed: 2 },
);
const ct = noisyClassifierTrainer(classifier, {
  lr,
  seed: 2,
  maxTimestep: maxT,
  weightDecay: wd,
  gradClipNorm: clip > 0 ? clip : null,
  augment: process.argv.includes('--flip') ? randomHorizontalFlip() : null,
});
const data = new InMemoryDataset(
  { data: train.images, shape: [nTrain, size, size, 1] },
  { batchSize: batch, labels: train.labels, seed: 3 },
);
const xTest = tf.tensor4d(test.images, [nTest, size, size, 1]);
const t0 = performance.now();
const evaluate = async () => {
  const acc = await classifierAccuracyByTimestep(classifier, xTest, test.labels, {
    perBucket: 1,
    buckets: [0, 100, 300, 1000],
  });
  console.log(
    `step ${ct.step} (${((performance.now() - t0) / 1000).toFixed(0)} s): ` +
      acc
        .map(
          (a) =>
            `[${a.from},${a.to}) ${a.accuracy.toFixed(2)}/${a.balancedAccuracy.toFixed(2)}/${a.crossEntropy.toFixed(2)}`,
        )
        .join('  '),
  );
};
let sum = 0;
let n = 0;
while (ct.step < steps) {
  const target = Math.min(steps, ct.step + evalEvery);
  await ct.fit({
    data: data,
    steps: target,
    onProgress: (e) => {
      sum += e.loss;
      n++;
    },
  });
  console.log(`mean train CE over last ${n} steps ${(sum / n).toFixed(3)}`);
  sum = 0;
  n = 0;
  await evaluate();
}
