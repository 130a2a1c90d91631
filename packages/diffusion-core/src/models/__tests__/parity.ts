/** Helpers for the network parity tests; not shipped (the package `files` exclude `__tests__` folders). */
import * as tf from '@tensorflow/tfjs-core';
import { readJson, readSafetensorsFile } from '@adx/test-utils';
import type { SafetensorsEntry } from '../../weights/safetensors.js';

export interface ParityFixture {
  weights: Map<string, SafetensorsEntry>;
  io: Map<string, SafetensorsEntry>;
  config: Record<string, unknown> & { constructor_kwargs: Record<string, unknown>; param_count: number };
}

const cache = new Map<string, ParityFixture>();

/** Reads `test-fixtures/parity/<name>/{weights,io}.safetensors` and `config.json` (cached). */
export function loadFixture(name: string): ParityFixture {
  const hit = cache.get(name);
  if (hit) return hit;
  const dir = (f: string) => new URL(`../../../test-fixtures/parity/${name}/${f}`, import.meta.url);
  const fx: ParityFixture = {
    weights: readSafetensorsFile(dir('weights.safetensors')).tensors,
    io: readSafetensorsFile(dir('io.safetensors')).tensors,
    config: readJson(dir('config.json')),
  };
  cache.set(name, fx);
  return fx;
}

/** Reads an extra safetensors file of a fixture folder. */
export function loadFixtureFile(name: string, file: string): Map<string, SafetensorsEntry> {
  return readSafetensorsFile(new URL(`../../../test-fixtures/parity/${name}/${file}`, import.meta.url)).tensors;
}

export function entry(map: Map<string, SafetensorsEntry>, key: string): SafetensorsEntry {
  const e = map.get(key);
  if (!e) throw new Error(`fixture tensor '${key}' missing`);
  return e;
}

/** A fixture NCHW activation as an NHWC tensor. */
export function nhwc(e: SafetensorsEntry): tf.Tensor4D {
  return tf.tidy(() =>
    tf.transpose(
      tf.tensor4d(Float32Array.from(e.data as Float32Array), e.shape as [number, number, number, number]),
      [0, 2, 3, 1],
    ),
  );
}

/** An I64/F32 fixture vector as plain numbers. */
export function numbers(e: SafetensorsEntry): number[] {
  return Array.from(e.data as ArrayLike<number | bigint>, (v) => Number(v));
}

/** Reads an NHWC tensor back in NCHW order (to compare with fixture outputs). */
export async function nchwData(t: tf.Tensor4D): Promise<Float32Array> {
  const p = tf.transpose(t, [0, 3, 1, 2]);
  try {
    return (await p.data()) as Float32Array;
  } finally {
    p.dispose();
  }
}
