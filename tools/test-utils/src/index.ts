/**
 * Shared test helpers: run a suite on several tfjs backends, assert tensor-leak freedom, and read
 * fixture files (safetensors, .npy, JSON) copied into each package's `test-fixtures/` folder.
 */
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { readSafetensors, useBackend, type SafetensorsFile } from '@adx/diffusion-core';

// Silence tfjs' "install tfjs-node" banner in tests.
tf.env().set('IS_TEST', true);
// Tests outside describeBackends() run on cpu (initialises synchronously); wasm would need an await.
void tf.setBackend('cpu');

export type TestBackend = 'cpu' | 'wasm' | 'webgpu';

/** Backends the unit suites run on. `ADX_TEST_BACKENDS=cpu` narrows it (comma separated). */
export function testBackends(defaults: TestBackend[] = ['cpu', 'wasm']): TestBackend[] {
  const env = process.env.ADX_TEST_BACKENDS;
  if (!env) return defaults;
  return env.split(',').map((s) => s.trim()) as TestBackend[];
}

/**
 * Sets the backend (awaiting initialisation). `webgpu` goes through `useBackend('webgpu')`, which
 * in Node loads the `webgpu` package (Dawn); without a GPU, `. tools/webgpu-env.sh` first (SwiftShader).
 */
export async function setTestBackend(name: TestBackend): Promise<void> {
  if (name === 'webgpu') {
    await useBackend('webgpu');
    return;
  }
  const ok = await tf.setBackend(name);
  if (!ok) throw new Error(`tfjs backend '${name}' failed to initialise`);
  await tf.ready();
}

/**
 * Declares `describe(`${title} [${backend}]`)` once per backend; `beforeAll` switches backend.
 */
export function describeBackends(title: string, fn: (backend: TestBackend) => void, backends = testBackends()): void {
  for (const backend of backends) {
    describe(`${title} [${backend}]`, () => {
      beforeAll(async () => {
        await setTestBackend(backend);
      });
      fn(backend);
    });
  }
}

/** Runs `fn` and asserts that the number of live tensors is unchanged afterwards. */
export async function expectNoLeaks<T>(fn: () => T | Promise<T>): Promise<T> {
  const before = tf.memory().numTensors;
  const result = await fn();
  const after = tf.memory().numTensors;
  expect(after, `tensor leak: ${after - before} tensors left behind`).toBe(before);
  return result;
}

/** Registers an afterAll that fails if the suite as a whole left tensors behind. */
export function trackSuiteLeaks(): void {
  let before = 0;
  beforeAll(() => {
    before = tf.memory().numTensors;
  });
  afterAll(() => {
    expect(tf.memory().numTensors).toBe(before);
  });
}

export function readSafetensorsFile(path: string | URL): SafetensorsFile {
  const buf = readFileSync(path);
  return readSafetensors(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), String(path));
}

export function readJson<T = unknown>(path: string | URL): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

export interface NpyArray {
  dtype: string;
  shape: number[];
  data: Float64Array | Float32Array | Uint8Array | Int32Array | BigInt64Array | Int16Array | Uint16Array | Int8Array;
}

/** Minimal NumPy `.npy` v1/v2 reader (little-endian, C order). */
export function readNpy(path: string | URL): NpyArray {
  const buf = readFileSync(path);
  const u8 = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  if (u8[0] !== 0x93 || String.fromCharCode(...u8.subarray(1, 6)) !== 'NUMPY')
    throw new Error(`${String(path)}: not a .npy file`);
  const major = u8[6]!;
  const dv = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
  const hlen = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  const hstart = major === 1 ? 10 : 12;
  const header = new TextDecoder().decode(u8.subarray(hstart, hstart + hlen));
  const descr = /'descr':\s*'([^']+)'/.exec(header)![1]!;
  if (/'fortran_order':\s*True/.test(header)) throw new Error(`${String(path)}: Fortran order not supported`);
  const shapeStr = /'shape':\s*\(([^)]*)\)/.exec(header)![1]!;
  const shape = shapeStr
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map(Number);
  const body = u8.slice(hstart + hlen).buffer;
  const map: Record<string, (b: ArrayBuffer) => NpyArray['data']> = {
    '<f8': (b) => new Float64Array(b),
    '<f4': (b) => new Float32Array(b),
    '|u1': (b) => new Uint8Array(b),
    '|b1': (b) => new Uint8Array(b),
    '<i4': (b) => new Int32Array(b),
    '<i8': (b) => new BigInt64Array(b),
    '<i2': (b) => new Int16Array(b),
    '<u2': (b) => new Uint16Array(b),
    '|i1': (b) => new Int8Array(b),
  };
  const ctor = map[descr];
  if (!ctor) throw new Error(`${String(path)}: unsupported dtype ${descr}`);
  return { dtype: descr, shape, data: ctor(body) };
}

/** Max |a − b| over two equally long arrays. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (d > m || Number.isNaN(d)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

/** Asserts max |a − b| ≤ atol and reports the worst index on failure. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number, label = ''): void {
  expect(actual.length, `${label} length`).toBe(expected.length);
  let worst = 0;
  let wi = -1;
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i]! - expected[i]!);
    if (!(d <= worst)) {
      worst = Number.isNaN(d) ? Infinity : d;
      wi = i;
    }
  }
  expect(
    worst,
    `${label} max abs diff ${worst} at index ${wi} (actual ${actual[wi]}, expected ${expected[wi]})`,
  ).toBeLessThanOrEqual(atol);
}
