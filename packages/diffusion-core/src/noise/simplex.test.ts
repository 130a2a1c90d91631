import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { describeBackends, expectNoLeaks, maxAbsDiff, readJson, readSafetensorsFile } from '@adx/test-utils';
import { ArgumentError } from '../errors.js';
import { halfToFloat } from '../weights/safetensors.js';
import { SeededRNG } from '../random/rng.js';
import {
  OpenSimplex2D,
  drawSimplexSeed,
  roundToFloat16,
  simplexNoise2D,
  simplexNoise2DTensor,
  simplexNoiseBatch,
  simplexPermutation,
} from './simplex.js';

const dir = '../../test-fixtures/parity/simplex/';
const io = readSafetensorsFile(new URL(`${dir}io.safetensors`, import.meta.url));
const config = readJson<{ seeds: Record<string, number>; sizes: number[] }>(
  new URL(`${dir}config.json`, import.meta.url),
);
const data = (name: string) => io.tensors.get(name)!.data;

describe('simplex noise vs cDDPM generate_noise.py', () => {
  for (const [key, seed] of Object.entries(config.seeds)) {
    it(`${key} = ${seed}: permutation, float64 maps bit for bit, float16-cast maps exactly`, () => {
      expect(Array.from(simplexPermutation(seed))).toEqual(Array.from(data(`${key}_perm`) as BigInt64Array, Number));
      for (const n of config.sizes) {
        const map = simplexNoise2D({ height: n, width: n, seed });
        // README: float64 ≤ 1e-12, bit-exact achievable.
        expect(maxAbsDiff(map, data(`${key}_${n}_f64`) as Float64Array), `${key} ${n} f64`).toBe(0);
        const half = simplexNoise2D({ height: n, width: n, seed, float16: true });
        expect(maxAbsDiff(half, data(`${key}_${n}_half_as_f32`) as Float32Array), `${key} ${n} half`).toBe(0);
      }
    });
  }

  it('bigint seeds equal number seeds; non-square maps are rows = y', () => {
    const a = simplexNoise2D({ height: 5, width: 7, seed: 42 });
    const b = simplexNoise2D({ height: 5, width: 7, seed: 42n });
    expect(Array.from(a)).toEqual(Array.from(b));
    const square = simplexNoise2D({ height: 32, width: 32, seed: 42 });
    for (let y = 0; y < 5; y++) for (let x = 0; x < 7; x++) expect(a[y * 7 + x]).toBe(square[y * 32 + x]);
    // One octave at frequency 1 is noise2 at the integer lattice points.
    const gen = new OpenSimplex2D(42);
    const one = simplexNoise2D({ height: 2, width: 3, seed: 42, octaves: 1, frequency: 1 });
    expect(one[1 * 3 + 2]).toBe(gen.noise2(2, 1));
  });

  it('roundToFloat16 rounds to nearest even, with subnormals and overflow (hand-computed)', () => {
    expect(roundToFloat16(1 + 2 ** -11)).toBe(1); // tie → even
    expect(roundToFloat16(1 + 3 * 2 ** -11)).toBe(1 + 2 ** -9); // tie → even (up)
    expect(roundToFloat16(1 + 2 ** -11 + 2 ** -20)).toBe(1 + 2 ** -10);
    expect(roundToFloat16(-0.1)).toBe(-0.0999755859375);
    expect(roundToFloat16(2 ** -24)).toBe(2 ** -24);
    expect(roundToFloat16(2 ** -26)).toBe(0);
    expect(roundToFloat16(65504)).toBe(65504);
    expect(roundToFloat16(65520)).toBe(Infinity);
    // Agrees with the half decoder on every representable half in [1, 2).
    for (let m = 0; m < 1024; m += 37) expect(roundToFloat16(halfToFloat(0x3c00 | m))).toBe(1 + m / 1024);
  });

  it('errors name the argument', () => {
    expect(() => simplexNoise2D({ height: 0, width: 4, seed: 1 })).toThrow(/options.height/);
    expect(() => simplexNoise2D({ height: 4, width: 4, seed: 0 })).toThrow(ArgumentError);
    expect(() => simplexNoise2D({ height: 4, width: 4, seed: 0.5 })).toThrow(/'seed'/);
  });

  it('drawSimplexSeed is reproducible and in upstream range', () => {
    const s1 = drawSimplexSeed(new SeededRNG(7));
    expect(drawSimplexSeed(new SeededRNG(7))).toBe(s1);
    expect(Number.isInteger(s1) && s1 !== 0 && Math.abs(s1) < 1e10).toBe(true);
  });
});

describeBackends('simplex noise tensors', () => {
  it('simplexNoise2DTensor holds the float32 cast of the map', async () => {
    await expectNoLeaks(async () => {
      const t = simplexNoise2DTensor({ height: 32, width: 32, seed: 42, float16: true });
      expect(t.shape).toEqual([32, 32]);
      expect(maxAbsDiff(await t.data(), data('seed0_32_half_as_f32') as Float32Array)).toBe(0);
      t.dispose();
    });
  });

  it('simplexNoiseBatch: one float16 map shared over batch and channels (cDDPM gen_noise), NHWC', async () => {
    await expectNoLeaks(async () => {
      const t = simplexNoiseBatch([3, 32, 32, 2], new SeededRNG(0), { seed: -1234567890 });
      expect(t.shape).toEqual([3, 32, 32, 2]);
      const ref = data('seed1_32_half_as_f32') as Float32Array;
      const all = await t.data();
      for (let b = 0; b < 3; b++)
        for (let c = 0; c < 2; c++) {
          const plane = new Float32Array(32 * 32);
          for (let i = 0; i < 32 * 32; i++) plane[i] = all[(b * 32 * 32 + i) * 2 + c];
          expect(maxAbsDiff(plane, ref)).toBe(0);
        }
      t.dispose();
      // Seeds from the RNG: same RNG state → same noise; the RNG advances between calls.
      const rng = new SeededRNG(5);
      const a = simplexNoiseBatch([1, 8, 8, 1], rng);
      const b = simplexNoiseBatch([1, 8, 8, 1], rng);
      const a2 = simplexNoiseBatch([1, 8, 8, 1], new SeededRNG(5));
      expect(Array.from(await a.data())).toEqual(Array.from(await a2.data()));
      expect(maxAbsDiff(await a.data(), await b.data())).toBeGreaterThan(0);
      tf.dispose([a, b, a2]);
    });
  });
});

describeBackends('cDDPM pipeline noise', () => {
  it('simplexNoiseBatch reproduces pipeline_noise_t250/500/750 (seeds 42, −1234567890, 9876543210, float16, repeated)', async () => {
    const io2 = readSafetensorsFile(new URL('../../test-fixtures/parity/cddpm_unet/io.safetensors', import.meta.url));
    await expectNoLeaks(async () => {
      for (const [T, seed] of [
        [250, 42],
        [500, -1234567890],
        [750, 9876543210],
      ] as const) {
        const n = simplexNoiseBatch([2, 32, 32, 1], new SeededRNG(0), { seed });
        // One channel: NCHW and NHWC data orders coincide.
        expect(maxAbsDiff(await n.data(), io2.tensors.get(`pipeline_noise_t${T}`)!.data as Float32Array)).toBe(0);
        n.dispose();
      }
    });
  });
});
