/**
 * Seeded, serialisable random number generation.
 *
 * All randomness in ADX flows through a {@link SeededRNG}. Values are generated on the CPU in
 * float64 with a fixed algorithm and then uploaded, so the same seed gives the same numbers on
 * every tfjs backend (cpu, wasm, webgpu, tensorflow), and the generator state can be saved in a
 * checkpoint and restored for bit-identical resumption.
 *
 * Algorithm: xoshiro128** (Blackman & Vigna) on four 32-bit words, seeded through splitmix32.
 * Uniforms in [0, 1) use 53 bits (two draws); normals use the Box–Muller transform, both outputs.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError } from '../errors.js';

/** Serialisable generator state (JSON-safe). */
export interface RNGState {
  algorithm: 'xoshiro128**';
  s: [number, number, number, number];
  /** Cached second Box–Muller output, or null. */
  spare: number | null;
}

function splitmix32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x9e3779b9) >>> 0;
    let z = a;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

export class SeededRNG {
  private s: Uint32Array;
  private spare: number | null = null;

  /**
   * @param seed any safe integer (negative allowed); the high and low 32 bits both feed the state.
   */
  constructor(seed: number = 0) {
    if (!Number.isSafeInteger(seed)) throw new ArgumentError('seed', `expected a safe integer, got ${seed}`);
    const lo = seed >>> 0;
    const hi = Math.floor(seed / 2 ** 32) >>> 0;
    const sm = splitmix32(lo ^ Math.imul(hi, 0x27d4eb2d));
    this.s = new Uint32Array([sm(), sm(), sm(), sm()]);
    if (this.s.every((v) => v === 0)) this.s[0] = 1;
  }

  /** Next raw 32-bit unsigned integer. */
  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform float64 in [0, 1) with 53 random bits. */
  uniform(): number {
    const a = this.nextUint32() >>> 5; // 27 bits
    const b = this.nextUint32() >>> 6; // 26 bits
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** Uniform integer in [low, high) (high exclusive), unbiased. */
  randint(low: number, high: number): number {
    if (!Number.isInteger(low) || !Number.isInteger(high) || high <= low) {
      throw new ArgumentError('high', `randint needs integers low < high, got [${low}, ${high})`);
    }
    return low + Math.floor(this.uniform() * (high - low));
  }

  /** Standard normal float64 (Box–Muller; the second output is cached). */
  normal(): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return v;
    }
    let u1 = this.uniform();
    while (u1 <= 0) u1 = this.uniform();
    const u2 = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u1));
    const theta = 2 * Math.PI * u2;
    this.spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  }

  /** Fills a new Float32Array of `size` standard normals. */
  normalArray(size: number): Float32Array {
    const out = new Float32Array(size);
    for (let i = 0; i < size; i++) out[i] = this.normal();
    return out;
  }

  /** Fills a new Float32Array of `size` uniforms in [0, 1). */
  uniformArray(size: number): Float32Array {
    const out = new Float32Array(size);
    for (let i = 0; i < size; i++) out[i] = this.uniform();
    return out;
  }

  /** A float32 tensor of standard normal samples; identical values on every backend. */
  randn(shape: number[]): tf.Tensor {
    const size = shape.reduce((a, b) => a * b, 1);
    return tf.tensor(this.normalArray(size), shape, 'float32');
  }

  /** A float32 tensor of uniform samples in [low, high). */
  rand(shape: number[], low = 0, high = 1): tf.Tensor {
    const size = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    for (let i = 0; i < size; i++) data[i] = low + (high - low) * this.uniform();
    return tf.tensor(data, shape, 'float32');
  }

  /** In-place Fisher–Yates shuffle; returns the array. */
  shuffle<T>(array: T[]): T[] {
    for (let i = array.length - 1; i > 0; i--) {
      const j = this.randint(0, i + 1);
      const tmp = array[i];
      array[i] = array[j];
      array[j] = tmp;
    }
    return array;
  }

  /** A new independent generator derived from this one (advances this generator). */
  fork(): SeededRNG {
    const child = new SeededRNG(0);
    child.s = new Uint32Array([this.nextUint32(), this.nextUint32(), this.nextUint32(), this.nextUint32()]);
    if (child.s.every((v) => v === 0)) child.s[0] = 1;
    return child;
  }

  getState(): RNGState {
    return { algorithm: 'xoshiro128**', s: [this.s[0], this.s[1], this.s[2], this.s[3]], spare: this.spare };
  }

  setState(state: RNGState): void {
    if (state?.algorithm !== 'xoshiro128**' || !Array.isArray(state.s) || state.s.length !== 4) {
      throw new ArgumentError('state', 'not an xoshiro128** RNG state');
    }
    this.s = new Uint32Array(state.s);
    this.spare = state.spare;
  }

  static fromState(state: RNGState): SeededRNG {
    const rng = new SeededRNG(0);
    rng.setState(state);
    return rng;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
