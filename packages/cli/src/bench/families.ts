/**
 * The network families `adx bench` times, built through the public exports of the packages at a
 * chosen image size and base width — the same small configurations as
 * `packages/diffusion-core/bench/{forward,train}.ts` (width 32, channel mult [1, 2, 2]):
 * - `thor`: THOR's MONAI `DiffusionModelUNet` [C, 2C, 2C], attention [F, T, T], ε-MSE;
 * - `guided-unet`: guided-diffusion `UNetModel` (Wolleb), learned Σ, 2 classes, hybrid loss;
 * - `guided-classifier`: guided-diffusion `EncoderUNetModel` (attention pool), noisy cross-entropy;
 * - `cddpm`: Behrendt's conditioned UNet + ResNet-18-style encoder (`CDDPM` of guidance-conditioned), x̂₀-L1.
 * Weights are random: the timings do not depend on them.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  ClassifierObjective,
  DDPMScheduler,
  DiffusionModelUNet,
  DiffusionObjective,
  EncoderUNetModel,
  UNetModel,
  type TrainingObjective,
} from '@adx/diffusion-core';
import { CDDPM } from '@adx/guidance-conditioned';

export const BENCH_FAMILIES = ['thor', 'guided-unet', 'guided-classifier', 'cddpm'] as const;
export type BenchFamily = (typeof BENCH_FAMILIES)[number];

export interface FamilyInstance {
  description: string;
  params: number;
  /** Whether training batches carry class labels. */
  labels: boolean;
  /** One forward pass at t = 500 (condition encoder included for cddpm). */
  forward: (x: tf.Tensor4D) => tf.Tensor;
  objective: () => TrainingObjective;
  dispose: () => void;
}

/** `width` = base channels C (a multiple of 32: guided-diffusion's GroupNorm has 32 groups). */
export function thorUNet(width: number, seed = 1): DiffusionModelUNet {
  return DiffusionModelUNet.fromConfig(
    {
      spatialDims: 2,
      inChannels: 1,
      outChannels: 1,
      numChannels: [width, 2 * width, 2 * width],
      attentionLevels: [false, true, true],
      numResBlocks: 1,
      numHeadChannels: 2 * width,
      normNumGroups: 32,
    },
    { seed },
  );
}

export function guidedUNet(size: number, width: number, seed = 1): UNetModel {
  return UNetModel.fromConfig(
    {
      imageSize: size,
      inChannels: 1,
      modelChannels: width,
      outChannels: 2,
      numResBlocks: 2,
      attentionResolutions: [4],
      channelMult: [1, 2, 2],
      numClasses: 2,
      numHeads: 1,
    },
    { seed },
  );
}

export function guidedClassifier(size: number, width: number, seed = 1): EncoderUNetModel {
  return EncoderUNetModel.fromConfig(
    {
      imageSize: size,
      inChannels: 1,
      modelChannels: width,
      outChannels: 2,
      numResBlocks: 2,
      attentionResolutions: [4],
      channelMult: [1, 2, 2],
      numHeadChannels: 32,
      useScaleShiftNorm: true,
      resblockUpdown: true,
      pool: 'attention',
    },
    { seed },
  );
}

/** cDDPM at toy width: the demo's encoder (BasicBlock 1-1-1-1, 64-d) and a 1-res-block UNet. */
export function cddpmModel(size: number, width: number, seed = 1): CDDPM {
  return new CDDPM(
    {
      variant: 'cDDPM',
      unet: { imageSize: size, modelChannels: width, numResBlocks: 1, channelMult: [1, 2, 2], numHeadChannels: 32 },
      encoder: {
        block: 'BasicBlock',
        layers: [1, 1, 1, 1],
        stemWidth: 16,
        stagePlanes: [16, 32, 64, 128],
        outFeatures: 64,
      },
    },
    { seed },
  );
}

const count = (m: { numParameters(): number }) => m.numParameters();

export function buildFamily(family: BenchFamily, size: number, width: number): FamilyInstance {
  switch (family) {
    case 'thor': {
      const m = thorUNet(width);
      return {
        description: `THOR DiffusionModelUNet [${width},${2 * width},${2 * width}], attention [F,T,T], 1 res block; ε-MSE, Adam`,
        params: count(m),
        labels: false,
        forward: (x) => m.apply(x, 500),
        objective: () => DiffusionObjective.thor(m, DDPMScheduler.fromPreset('thor')),
        dispose: () => m.dispose(),
      };
    }
    case 'guided-unet': {
      const m = guidedUNet(size, width);
      return {
        description: `guided-diffusion UNetModel ${width} ch × [1,2,2], 2 res blocks, attention at ds 4, learned Σ, 2 classes; hybrid loss`,
        params: count(m),
        labels: true,
        forward: (x) => m.apply(x, 500, { classLabels: new Array<number>(x.shape[0]).fill(0) }),
        objective: () => DiffusionObjective.wolleb(m, DDPMScheduler.fromPreset('wolleb')),
        dispose: () => m.dispose(),
      };
    }
    case 'guided-classifier': {
      const m = guidedClassifier(size, width);
      return {
        description: `guided-diffusion EncoderUNetModel ${width} ch × [1,2,2], attention pool; noisy cross-entropy`,
        params: count(m),
        labels: true,
        forward: (x) => m.apply(x, 500),
        objective: () => new ClassifierObjective(m, DDPMScheduler.fromPreset('wolleb')),
        dispose: () => m.dispose(),
      };
    }
    case 'cddpm': {
      const m = cddpmModel(size, width);
      const encoder = m.encoder!;
      return {
        description: `cDDPM ConditionedUNet ${width} ch × [1,2,2], 1 res block + ResNet encoder (BasicBlock 1-1-1-1, 64-d); x̂₀-L1`,
        params: count(m.unet) + count(encoder),
        labels: false,
        forward: (x) => tf.tidy(() => m.unet.apply(x, 500, { condition: encoder.apply(x, { training: false }) })),
        objective: () => DiffusionObjective.behrendt(m.unet, DDPMScheduler.fromPreset('behrendt'), encoder),
        dispose: () => m.dispose(),
      };
    }
  }
}
