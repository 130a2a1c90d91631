import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { SeededRNG } from '@adx/diffusion-core';
import { CDDPM, detectConditioned, evaluateBehrendt } from '@adx/guidance-conditioned';

await tf.setBackend('wasm');
const unet = { imageSize: 32, modelChannels: 32, numResBlocks: 1, numHeadChannels: 32 }; // rest: paper values
const encoder = { stemWidth: 8, stagePlanes: [8, 16, 32, 64], outFeatures: 64 }; // a width-reduced ResNet-50
const model = new CDDPM({ variant: 'cDDPM', encoder, unet }); // trained weights: model.loadWeights({ unet, encoder })
const x = { data: (await new SeededRNG(1).rand([4, 32, 32]).data()) as Float32Array, shape: [4, 32, 32] }; // [D,H,W] in [0,1]
const brainMask = { data: new Uint8Array(4 * 32 * 32).fill(1), shape: [4, 32, 32] };
const det = await detectConditioned(model, x, { brainMask, rng: 3141, postprocess: { erosionIterations: 1 } });
const seg = { data: new Uint8Array(4 * 32 * 32).map((_, i) => (i % 97 < 9 ? 1 : 0)), shape: [4, 32, 32] };
const { summary } = evaluateBehrendt([{ detection: det, segmentation: seg, input: x }], { threshold: 0.1 });
console.log(det.score, summary);
