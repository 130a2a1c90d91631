/**
 * AnoDDPM-style 2D OpenSimplex fractal noise, bit-compatible with the cDDPM code
 * (FinnBehrendt/Conditioned-Diffusion-Models-UAD `src/utils/generate_noise.py`: `Simplex_CLASS.newSeed`,
 * `rand_2d_octaves`, `gen_noise`), which uses Kurt Spencer's 2D OpenSimplex (`opensimplex` package)
 * in float64.
 *
 * Everything here is scalar float64 JavaScript arithmetic in upstream's order, so the maps are
 * identical on every platform and tfjs backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError } from '../errors.js';
import type { SeededRNG } from '../random/rng.js';

const STRETCH_CONSTANT_2D = -0.211324865405187; // (1/√(2+1) − 1)/2
const SQUISH_CONSTANT_2D = 0.366025403784439; // (√(2+1) − 1)/2
const NORM_CONSTANT_2D = 47;
/** Gradients approximating the directions to the vertices of an octagon from the centre. */
const GRADIENTS_2D = [5, 2, 2, 5, -5, 2, -2, 5, 5, -2, 2, -5, -5, -2, -2, -5];

const LCG_MUL = 6364136223846793005n;
const LCG_INC = 1442695040888963407n;

function toBigIntSeed(seed: number | bigint): bigint {
  if (typeof seed === 'bigint') return seed;
  if (!Number.isSafeInteger(seed)) throw new ArgumentError('seed', `expected a safe integer or a bigint, got ${seed}`);
  return BigInt(seed);
}

/**
 * The 256-entry permutation of `opensimplex` `_init(seed)`: three 64-bit LCG steps, then for
 * i = 255…0 one more step and r = (s + 31) mod (i + 1) (floor modulo, s + 31 not wrapped),
 * perm[i] = source[r], source[r] = source[i].
 */
export function simplexPermutation(seed: number | bigint): Uint8Array {
  let s = toBigIntSeed(seed);
  const lcg = () => {
    s = BigInt.asIntN(64, s * LCG_MUL + LCG_INC);
  };
  lcg();
  lcg();
  lcg();
  const source = Array.from({ length: 256 }, (_, i) => i);
  const perm = new Uint8Array(256);
  for (let i = 255; i >= 0; i--) {
    lcg();
    const m = BigInt(i + 1);
    const r = Number((((s + 31n) % m) + m) % m);
    perm[i] = source[r];
    source[r] = source[i];
  }
  return perm;
}

/** Kurt Spencer's 2D OpenSimplex noise with a seeded permutation (`OpenSimplex.noise2`). */
export class OpenSimplex2D {
  readonly perm: Uint8Array;

  constructor(seed: number | bigint) {
    this.perm = simplexPermutation(seed);
  }

  private extrapolate(xsb: number, ysb: number, dx: number, dy: number): number {
    const perm = this.perm;
    const index = perm[(perm[xsb & 0xff] + ysb) & 0xff] & 0x0e;
    return GRADIENTS_2D[index] * dx + GRADIENTS_2D[index + 1] * dy;
  }

  /** Noise at (x, y), in float64, in upstream's operation order. */
  noise2(x: number, y: number): number {
    // Place input coordinates onto grid.
    const stretchOffset = (x + y) * STRETCH_CONSTANT_2D;
    const xs = x + stretchOffset;
    const ys = y + stretchOffset;
    // Floor to get grid coordinates of rhombus (stretched square) super-cell origin.
    let xsb = Math.floor(xs);
    let ysb = Math.floor(ys);
    // Skew out to get actual coordinates of rhombus origin.
    const squishOffset = (xsb + ysb) * SQUISH_CONSTANT_2D;
    const xb = xsb + squishOffset;
    const yb = ysb + squishOffset;
    // Grid coordinates relative to rhombus origin; their sum picks the region.
    const xins = xs - xsb;
    const yins = ys - ysb;
    const inSum = xins + yins;
    // Positions relative to origin point.
    let dx0 = x - xb;
    let dy0 = y - yb;
    let value = 0;

    // Contribution (1, 0)
    const dx1 = dx0 - 1 - SQUISH_CONSTANT_2D;
    const dy1 = dy0 - 0 - SQUISH_CONSTANT_2D;
    let attn1 = 2 - dx1 * dx1 - dy1 * dy1;
    if (attn1 > 0) {
      attn1 *= attn1;
      value += attn1 * attn1 * this.extrapolate(xsb + 1, ysb + 0, dx1, dy1);
    }
    // Contribution (0, 1)
    const dx2 = dx0 - 0 - SQUISH_CONSTANT_2D;
    const dy2 = dy0 - 1 - SQUISH_CONSTANT_2D;
    let attn2 = 2 - dx2 * dx2 - dy2 * dy2;
    if (attn2 > 0) {
      attn2 *= attn2;
      value += attn2 * attn2 * this.extrapolate(xsb + 0, ysb + 1, dx2, dy2);
    }

    let xsvExt: number;
    let ysvExt: number;
    let dxExt: number;
    let dyExt: number;
    if (inSum <= 1) {
      // Inside the triangle (2-simplex) at (0, 0).
      const zins = 1 - inSum;
      if (zins > xins || zins > yins) {
        // (0, 0) is one of the closest two triangular vertices.
        if (xins > yins) {
          xsvExt = xsb + 1;
          ysvExt = ysb - 1;
          dxExt = dx0 - 1;
          dyExt = dy0 + 1;
        } else {
          xsvExt = xsb - 1;
          ysvExt = ysb + 1;
          dxExt = dx0 + 1;
          dyExt = dy0 - 1;
        }
      } else {
        // (1, 0) and (0, 1) are the closest two vertices.
        xsvExt = xsb + 1;
        ysvExt = ysb + 1;
        dxExt = dx0 - 1 - 2 * SQUISH_CONSTANT_2D;
        dyExt = dy0 - 1 - 2 * SQUISH_CONSTANT_2D;
      }
    } else {
      // Inside the triangle (2-simplex) at (1, 1).
      const zins = 2 - inSum;
      if (zins < xins || zins < yins) {
        // (0, 0) is one of the closest two triangular vertices.
        if (xins > yins) {
          xsvExt = xsb + 2;
          ysvExt = ysb + 0;
          dxExt = dx0 - 2 - 2 * SQUISH_CONSTANT_2D;
          dyExt = dy0 + 0 - 2 * SQUISH_CONSTANT_2D;
        } else {
          xsvExt = xsb + 0;
          ysvExt = ysb + 2;
          dxExt = dx0 + 0 - 2 * SQUISH_CONSTANT_2D;
          dyExt = dy0 - 2 - 2 * SQUISH_CONSTANT_2D;
        }
      } else {
        // (1, 0) and (0, 1) are the closest two vertices.
        dxExt = dx0;
        dyExt = dy0;
        xsvExt = xsb;
        ysvExt = ysb;
      }
      xsb += 1;
      ysb += 1;
      dx0 = dx0 - 1 - 2 * SQUISH_CONSTANT_2D;
      dy0 = dy0 - 1 - 2 * SQUISH_CONSTANT_2D;
    }

    // Contribution (0, 0) or (1, 1)
    let attn0 = 2 - dx0 * dx0 - dy0 * dy0;
    if (attn0 > 0) {
      attn0 *= attn0;
      value += attn0 * attn0 * this.extrapolate(xsb, ysb, dx0, dy0);
    }
    // Extra vertex
    let attnExt = 2 - dxExt * dxExt - dyExt * dyExt;
    if (attnExt > 0) {
      attnExt *= attnExt;
      value += attnExt * attnExt * this.extrapolate(xsvExt, ysvExt, dxExt, dyExt);
    }
    return value / NORM_CONSTANT_2D;
  }
}

/** float64 → float16 (via float32, as `torch.Tensor.half()` on a double tensor), round to nearest even. */
export function roundToFloat16(x: number): number {
  const v = Math.fround(x);
  if (!Number.isFinite(v) || v === 0) return v;
  const a = Math.abs(v);
  const sign = v < 0 ? -1 : 1;
  if (a >= 65520) return sign * Infinity; // ≥ max half (65504) + half an ulp
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e -= 1;
  if (2 ** (e + 1) <= a) e += 1;
  const ulp = 2 ** (Math.max(e, -14) - 10); // 10 fraction bits; subnormals below 2^-14
  const q = a / ulp;
  const fl = Math.floor(q);
  const d = q - fl;
  const r = d > 0.5 ? fl + 1 : d < 0.5 ? fl : fl % 2 === 0 ? fl : fl + 1;
  return sign * r * ulp;
}

export interface SimplexNoiseOptions {
  height: number;
  width: number;
  /** Non-zero integer seed (upstream treats 0 as "no seed"); number or bigint. */
  seed: number | bigint;
  /** Number of octaves (default 6). */
  octaves?: number;
  /** Amplitude factor per octave (default 0.8). */
  persistence?: number;
  /** Starting frequency divisor (default 64), halved per octave. */
  frequency?: number;
  /** Round every value to float16 as `gen_noise`'s `.half()` does (default false). */
  float16?: boolean;
}

function checkSize(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new ArgumentError(name, `expected a positive integer, got ${v}`);
}

/**
 * AnoDDPM `rand_2d_octaves((height, width), octaves, persistence, frequency)`: for each octave,
 * map[y][x] += amplitude·noise2(x/f, y/f); then f ← f/2, amplitude ← amplitude·persistence.
 * Returns the row-major `[height, width]` map (row = y), unnormalised. (Upstream's `_noise2a`
 * writes element (y, x) at `y·len(y) + x`, which is the same layout for the square maps cDDPM
 * uses and overlapping rows for non-square ones; ADX always uses the intended row-major layout.)
 */
export function simplexNoise2D(options: SimplexNoiseOptions): Float64Array {
  const { height, width, seed, octaves = 6, persistence = 0.8, frequency = 64, float16 = false } = options;
  checkSize('options.height', height);
  checkSize('options.width', width);
  if (!Number.isInteger(octaves) || octaves < 0) {
    throw new ArgumentError('options.octaves', `expected a non-negative integer, got ${octaves}`);
  }
  if (!(frequency > 0)) throw new ArgumentError('options.frequency', `expected a positive number, got ${frequency}`);
  if (seed === 0 || seed === 0n) {
    throw new ArgumentError('options.seed', 'seed 0 means "random seed" upstream; pass a non-zero seed');
  }
  const gen = new OpenSimplex2D(seed);
  const map = new Float64Array(height * width);
  let amplitude = 1;
  let f = frequency;
  for (let o = 0; o < octaves; o++) {
    for (let y = 0; y < height; y++) {
      const fy = y / f;
      for (let x = 0; x < width; x++) {
        map[y * width + x] += amplitude * gen.noise2(x / f, fy);
      }
    }
    f /= 2;
    amplitude *= persistence;
  }
  if (float16) for (let i = 0; i < map.length; i++) map[i] = roundToFloat16(map[i]);
  return map;
}

/** {@link simplexNoise2D} as a float32 `[height, width]` tensor. */
export function simplexNoise2DTensor(options: SimplexNoiseOptions): tf.Tensor2D {
  return tf.tensor2d(Float32Array.from(simplexNoise2D(options)), [options.height, options.width]);
}

/** A seed as upstream draws it, `np.random.randint(−10¹⁰, 10¹⁰)`, from `rng`; 0 is redrawn. */
export function drawSimplexSeed(rng: SeededRNG): number {
  let seed = 0;
  while (seed === 0) seed = rng.randint(-10_000_000_000, 10_000_000_000);
  return seed;
}

export type BatchSimplexOptions = Omit<SimplexNoiseOptions, 'height' | 'width' | 'seed'> & {
  /** Explicit seed instead of one drawn from the RNG. */
  seed?: number | bigint;
};

/**
 * The cDDPM training / inference noise (`gen_noise`): one simplex map with a fresh seed drawn
 * from `rng`, shared by every image (and channel) of the batch, rounded to float16 by default,
 * as an NHWC float32 tensor of `shape` = [B, H, W, C]. Not normalised (std ≈ 0.55–0.6).
 */
export function simplexNoiseBatch(
  shape: readonly [number, number, number, number],
  rng: SeededRNG,
  options: BatchSimplexOptions = {},
): tf.Tensor4D {
  if (!Array.isArray(shape) || shape.length !== 4) {
    throw new ArgumentError('shape', `expected [batch, height, width, channels], got ${JSON.stringify(shape)}`);
  }
  const [b, h, w, c] = shape;
  checkSize('shape[0]', b);
  checkSize('shape[3]', c);
  const seed = options.seed ?? drawSimplexSeed(rng);
  const map = simplexNoise2D({ ...options, height: h, width: w, seed, float16: options.float16 ?? true });
  return tf.tidy(() => {
    const one = tf.tensor4d(Float32Array.from(map), [1, h, w, 1]);
    return tf.tile(one, [b, 1, 1, c]) as tf.Tensor4D;
  });
}
