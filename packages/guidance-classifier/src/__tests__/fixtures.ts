/**
 * Test helpers: the tiny guided-diffusion networks of the parity fixtures with their official
 * weights, and fixture-tensor conversions. The fixtures are read from the copies in the
 * diffusion-core package of this repository (`packages/diffusion-core/test-fixtures/parity/`),
 * not duplicated here. Not shipped (the package `files` exclude `__tests__`).
 */
import * as tf from '@tensorflow/tfjs-core';
import { readJson, readSafetensorsFile } from '@adx/test-utils';
import { EncoderUNetModel, UNetModel, loadStateDict, type SafetensorsEntry } from '@adx/diffusion-core';

const parity = (path: string) => new URL(`../../../diffusion-core/test-fixtures/parity/${path}`, import.meta.url);

/** `guided_unet/config.json` constructor kwargs, camelCased. */
export const UNET_CONFIG = {
  imageSize: 32,
  inChannels: 1,
  modelChannels: 32,
  outChannels: 2,
  numResBlocks: 2,
  attentionResolutions: [4],
  dropout: 0,
  channelMult: [1, 2, 2],
  numClasses: 2,
  useCheckpoint: false,
  useFp16: false,
  numHeads: 1,
  numHeadChannels: -1,
  numHeadsUpsample: -1,
  useScaleShiftNorm: false,
  resblockUpdown: false,
  useNewAttentionOrder: false,
};

/** `guided_classifier/config.json` constructor kwargs, camelCased. */
export const CLASSIFIER_CONFIG = {
  imageSize: 32,
  inChannels: 1,
  modelChannels: 32,
  outChannels: 2,
  numResBlocks: 2,
  attentionResolutions: [4],
  channelMult: [1, 2, 2],
  useFp16: false,
  numHeadChannels: 32,
  useScaleShiftNorm: true,
  resblockUpdown: true,
  pool: 'attention' as const,
};

let cache: {
  loop: Map<string, SafetensorsEntry>;
  loopConfig: Record<string, unknown>;
  classifierIo: Map<string, SafetensorsEntry>;
  unetWeights: Map<string, SafetensorsEntry>;
  unetIn4Delta: Map<string, SafetensorsEntry>;
  classifierWeights: Map<string, SafetensorsEntry>;
} | null = null;

export function fixtures() {
  cache ??= {
    loop: readSafetensorsFile(parity('wolleb_loop/io.safetensors')).tensors,
    loopConfig: readJson(parity('wolleb_loop/config.json')),
    classifierIo: readSafetensorsFile(parity('guided_classifier/io.safetensors')).tensors,
    unetWeights: readSafetensorsFile(parity('guided_unet/weights.safetensors')).tensors,
    unetIn4Delta: readSafetensorsFile(parity('guided_unet/weights_in4_delta.safetensors')).tensors,
    classifierWeights: readSafetensorsFile(parity('guided_classifier/weights.safetensors')).tensors,
  };
  return cache;
}

/** The official tiny UNet (1 channel, or the 4-channel BRATS variant) with the fixture weights. */
export function officialUNet(channels: 1 | 4 = 1): UNetModel {
  const fx = fixtures();
  const m = UNetModel.fromConfig({ ...UNET_CONFIG, inChannels: channels, outChannels: 2 * channels });
  const w = new Map(fx.unetWeights);
  if (channels === 4) for (const [k, v] of fx.unetIn4Delta) w.set(k, v);
  loadStateDict(m, w);
  return m;
}

export function officialClassifier(): EncoderUNetModel {
  const m = EncoderUNetModel.fromConfig(CLASSIFIER_CONFIG);
  loadStateDict(m, fixtures().classifierWeights);
  return m;
}

export function entry(map: Map<string, SafetensorsEntry>, key: string): SafetensorsEntry {
  const e = map.get(key);
  if (!e) throw new Error(`fixture tensor '${key}' missing`);
  return e;
}

/** An NCHW fixture tensor (optionally one slice `i` of a stacked trajectory) as NHWC. */
export function nhwc(e: SafetensorsEntry, i?: number): tf.Tensor4D {
  const shape = e.shape.slice(i === undefined ? 0 : 1) as [number, number, number, number];
  const size = shape.reduce((a, b) => a * b, 1);
  const data = (e.data as Float32Array).subarray(i === undefined ? 0 : i * size, (i ?? 0) * size + size);
  return tf.tidy(() => tf.transpose(tf.tensor4d(Float32Array.from(data), shape), [0, 2, 3, 1]));
}

/** NCHW data of one (trajectory slice of a) fixture tensor. */
export function nchwSlice(e: SafetensorsEntry, i?: number): Float32Array {
  const per = e.shape.slice(i === undefined ? 0 : 1).reduce((a, b) => a * b, 1);
  return (e.data as Float32Array).subarray((i ?? 0) * per, (i ?? 0) * per + per);
}

/** Reads an NHWC tensor back in NCHW order. */
export async function nchwData(t: tf.Tensor4D): Promise<Float32Array> {
  const p = tf.transpose(t, [0, 3, 1, 2]);
  try {
    return (await p.data()) as Float32Array;
  } finally {
    p.dispose();
  }
}
