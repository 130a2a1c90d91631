/** Test helpers: the cDDPM parity fixtures of @adx/diffusion-core (read from inside the repo). Not shipped. */
import { readJson, readSafetensorsFile } from '@adx/test-utils';
import type { SafetensorsEntry } from '@adx/diffusion-core';
import { CDDPM, type CDDPMConfigInput } from '../model.js';

const dir = (name: string, file: string) =>
  new URL(`../../../diffusion-core/test-fixtures/parity/${name}/${file}`, import.meta.url);

export interface Fixture {
  weights: Map<string, SafetensorsEntry>;
  io: Map<string, SafetensorsEntry>;
  config: Record<string, unknown> & { param_count: number };
}

const cache = new Map<string, Fixture>();
export function fixture(name: 'cddpm_unet' | 'cddpm_encoder_resnet50'): Fixture {
  let fx = cache.get(name);
  if (!fx) {
    fx = {
      weights: readSafetensorsFile(dir(name, 'weights.safetensors')).tensors,
      io: readSafetensorsFile(dir(name, 'io.safetensors')).tensors,
      config: readJson(dir(name, 'config.json')),
    };
    cache.set(name, fx);
  }
  return fx;
}

export function entry(fx: Fixture, key: string): SafetensorsEntry {
  const e = fx.io.get(key);
  if (!e) throw new Error(`fixture tensor '${key}' missing`);
  return e;
}

export function f32(e: SafetensorsEntry): Float32Array {
  return Float32Array.from(e.data as ArrayLike<number>);
}

/** `cddpm_unet/config.json` constructor kwargs, camelCased (`dims` → `spatialDims`). */
export const tinyUNet = {
  imageSize: [32, 32] as [number, number],
  inChannels: 1,
  modelChannels: 32,
  outChannels: 1,
  numResBlocks: 1,
  attentionResolutions: [3, 6, 12],
  dropout: 0,
  channelMult: [1, 2, 2],
  convResample: true,
  spatialDims: 2 as const,
  numClasses: 64 as number | null,
  useCheckpoint: false,
  useFp16: true,
  numHeads: 1,
  numHeadChannels: 32,
  numHeadsUpsample: -1,
  useScaleShiftNorm: true,
  resblockUpdown: true,
  useNewAttentionOrder: true,
  useSpatialTransformer: false as const,
  transformerDepth: 1,
};

/** `cddpm_encoder_resnet50/config.json` construction: ResNet-50 with every width divided by 8, fc → 64. */
export const tinyEncoder = {
  block: 'Bottleneck' as const,
  layers: [3, 4, 6, 3],
  inChannels: 1,
  stemWidth: 8,
  stagePlanes: [8, 16, 32, 64],
  outFeatures: 64,
};

export const tinyConfig: CDDPMConfigInput = { variant: 'cDDPM', encoder: tinyEncoder, unet: tinyUNet };

/** The fixture cDDPM: tiny conditioned UNet + width-reduced ResNet-50 with the stored weights. */
export function fixtureModel(): CDDPM {
  const model = new CDDPM(tinyConfig);
  model.loadWeights(
    { unet: fixture('cddpm_unet').weights, encoder: fixture('cddpm_encoder_resnet50').weights },
    'parity fixtures',
  );
  return model;
}
