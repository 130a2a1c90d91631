/**
 * Import/export of PyTorch `state_dict`s into ADX modules.
 *
 * Because ADX modules register parameters under the official PyTorch keys (see nn/module.ts),
 * importing is a key-for-key copy with the layout conversion each parameter declares
 * (NCHW/OIHW → NHWC/HWIO, `[out,in]` → `[in,out]`). Every key must be used exactly once unless
 * listed in `ignore` (e.g. THOR's never-applied `proj_attn`, BatchNorm `num_batches_tracked`).
 */
import * as tf from '@tensorflow/tfjs-core';
import { WeightsError } from '../errors.js';
import { fromTorchLayout, toTorchLayout, torchShape, type Module } from '../nn/module.js';
import type { SafetensorsEntry } from './safetensors.js';

/** A tensor as read from safetensors or a `.pt` file: PyTorch layout, any numeric dtype. */
export type TorchTensor = Pick<SafetensorsEntry, 'shape' | 'data'>;

export interface LoadStateDictOptions {
  /** Throw on missing or unexpected keys (default true). */
  strict?: boolean;
  /** Keys (or predicate) that may be present in the state dict without a matching parameter. */
  ignore?: readonly (string | RegExp)[] | ((key: string) => boolean);
  /** Name of the source for error messages (e.g. a file name). */
  source?: string;
}

export interface LoadStateDictResult {
  loaded: string[];
  missing: string[];
  unexpected: string[];
  ignored: string[];
}

function toFloat32(data: TorchTensor['data']): Float32Array {
  if (data instanceof Float32Array) return data;
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = Number(data[i]);
  return out;
}

function isIgnored(key: string, ignore: LoadStateDictOptions['ignore']): boolean {
  if (!ignore) return false;
  if (typeof ignore === 'function') return ignore(key);
  return ignore.some((p) => (typeof p === 'string' ? p === key : p.test(key)));
}

/**
 * Copies a PyTorch state dict into `module`. Shapes are checked against the PyTorch shape each
 * parameter implies; a mismatch throws a {@link WeightsError} naming the key and both shapes.
 */
export function loadStateDict(
  module: Module,
  stateDict: Map<string, TorchTensor> | Record<string, TorchTensor>,
  options: LoadStateDictOptions = {},
): LoadStateDictResult {
  const { strict = true, ignore, source = 'state_dict' } = options;
  const entries = stateDict instanceof Map ? stateDict : new Map(Object.entries(stateDict));
  const params = module.namedParameters();
  const result: LoadStateDictResult = { loaded: [], missing: [], unexpected: [], ignored: [] };
  for (const key of entries.keys()) {
    if (params.has(key)) continue;
    if (isIgnored(key, ignore)) result.ignored.push(key);
    else result.unexpected.push(key);
  }
  for (const key of params.keys()) if (!entries.has(key)) result.missing.push(key);
  if (strict && (result.missing.length > 0 || result.unexpected.length > 0)) {
    const parts: string[] = [];
    if (result.missing.length)
      parts.push(`missing keys: ${result.missing.slice(0, 10).join(', ')}${result.missing.length > 10 ? ', …' : ''}`);
    if (result.unexpected.length)
      parts.push(
        `unexpected keys: ${result.unexpected.slice(0, 10).join(', ')}${result.unexpected.length > 10 ? ', …' : ''}`,
      );
    throw new WeightsError(source, `state dict does not match the model (${parts.join('; ')})`);
  }
  // Validate all shapes before touching any variable, so a failed load leaves the model unchanged.
  for (const [key, p] of params) {
    const t = entries.get(key);
    if (!t) continue;
    const want = torchShape(p.variable.shape, p.torchLayout);
    const got = t.shape.length === 0 && want.length === 1 && want[0] === 1 ? [1] : t.shape;
    if (got.length !== want.length || got.some((d, i) => d !== want[i])) {
      throw new WeightsError(
        source,
        `'${key}' has shape [${t.shape.join(', ')}], the model expects [${want.join(', ')}]`,
      );
    }
  }
  for (const [key, p] of params) {
    const t = entries.get(key);
    if (!t) continue;
    tf.tidy(() => {
      const want = torchShape(p.variable.shape, p.torchLayout);
      const torch = tf.tensor(toFloat32(t.data), want, 'float32');
      p.variable.assign(fromTorchLayout(torch, p.torchLayout));
    });
    result.loaded.push(key);
  }
  return result;
}

/** Exports `module` as a PyTorch-layout state dict (float32), e.g. to write safetensors. */
export async function exportStateDict(module: Module): Promise<Map<string, { shape: number[]; data: Float32Array }>> {
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [key, p] of module.namedParameters()) {
    const t = toTorchLayout(p.variable, p.torchLayout);
    try {
      out.set(key, { shape: t.shape, data: (await t.data()) as Float32Array });
    } finally {
      t.dispose();
    }
  }
  return out;
}
