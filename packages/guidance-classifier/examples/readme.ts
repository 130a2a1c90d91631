// The README example, runnable: `npx tsx --conditions=@adx/source examples/readme.ts [cpu|wasm]`.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { EncoderUNetModel, SeededRNG, UNetModel } from '@adx/diffusion-core';
import { detectWithClassifierGuidance } from '@adx/guidance-classifier';

await tf.setBackend(process.argv[2] ?? 'wasm');
const body = {
  imageSize: 32,
  inChannels: 1,
  modelChannels: 32,
  numResBlocks: 1,
  attentionResolutions: [4],
  channelMult: [1, 2, 2],
};
const unet = UNetModel.fromConfig({ ...body, outChannels: 2, numClasses: 2 }); // load trained weights with loadStateDict
const classifier = EncoderUNetModel.fromConfig({
  ...body,
  outChannels: 2,
  numHeadChannels: 32,
  useScaleShiftNorm: true,
  resblockUpdown: true,
  pool: 'attention',
});
const image = new SeededRNG(0).rand([1, 32, 32, 1]) as tf.Tensor4D; // NHWC in [0, 1]; 4 channels for BRATS
const t0 = performance.now();
const { anomalyMap, healthy, score } = await detectWithClassifierGuidance(unet, classifier, image, {
  noiseLevel: 50,
  classifierScale: 10,
  timestepRespacing: 'ddim100',
});
console.log(
  anomalyMap.shape,
  healthy.shape,
  score,
  `${((performance.now() - t0) / 1000).toFixed(2)} s on ${tf.getBackend()}`,
);
