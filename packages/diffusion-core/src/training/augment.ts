/**
 * Seeded training augmentations of the papers, on NHWC image batches held on the host
 * (`{ data: Float32Array, shape: [N, H, W, C] }`): plain float64 JavaScript with every random
 * parameter drawn from a {@link SeededRNG}, so results are identical on every tfjs backend and
 * reproducible after a resume. Tensors go through {@link augmentTensor} (one async read).
 *
 * - THOR (`data/loaders/brain_loader.py` `get_image_transform`): torchvision
 *   `RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1))` (nearest, fill 0) and
 *   `RandomHorizontalFlip(0.5)`, per image. (THOR round-trips through 8-bit PIL images; ADX does
 *   not quantise.)
 * - Behrendt et al. (`create_dataset.py` L222-226, torchio defaults, see the spec): `RandomGamma`
 *   (log γ ∈ (−0.3, 0.3), p 0.5), `RandomBiasField` (coefficients 0.5, order 3, p 0.25),
 *   `RandomBlur` (std (0, 2) mm, p 0.25), `RandomGhosting` (4–10 ghosts, intensity (0.5, 1),
 *   restore 0.02, p 0.5), in this order, applied per image to 2D slices (upstream: per volume).
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError } from '../errors.js';
import type { SeededRNG } from '../random/rng.js';

/** An NHWC float32 image batch on the host. */
export interface ImageArray {
  data: Float32Array;
  shape: [number, number, number, number];
}

/** An augmentation: a new batch from `images` (inputs are not modified) and a generator. */
export type Augmentation = (images: ImageArray, rng: SeededRNG) => ImageArray;

function check(images: ImageArray): [number, number, number, number] {
  const s = images?.shape;
  if (!Array.isArray(s) || s.length !== 4 || s.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new ArgumentError('images.shape', `expected [N, H, W, C] of positive integers, got ${JSON.stringify(s)}`);
  }
  if (!(images.data instanceof Float32Array) || images.data.length !== s[0] * s[1] * s[2] * s[3]) {
    throw new ArgumentError('images.data', `expected a Float32Array of ${s[0] * s[1] * s[2] * s[3]} values`);
  }
  return s;
}

function checkProbability(name: string, p: number): void {
  if (!(p >= 0 && p <= 1)) throw new ArgumentError(name, `expected a probability in [0, 1], got ${p}`);
}

/** Applies `perImage(src, dst, offset)` to every image of the batch (a new buffer). */
function mapImages(
  images: ImageArray,
  perImage: (src: Float32Array, dst: Float32Array, offset: number, index: number) => void,
): ImageArray {
  const [N, H, W, C] = check(images);
  const out = new Float32Array(images.data);
  const size = H * W * C;
  for (let n = 0; n < N; n++) perImage(images.data, out, n * size, n);
  return { data: out, shape: [N, H, W, C] };
}

// ---------------------------------------------------------------------------------------------
// Geometry (THOR)

/** Parameters of one affine warp (torchvision `RandomAffine.get_params`, shear 0). */
export interface AffineParams {
  /** Rotation in degrees, counter-clockwise as displayed (rows top to bottom). */
  angle: number;
  /** Translation in pixels (x right, y down); torchvision rounds them to integers. */
  translate: [number, number];
  /** Isotropic scale. */
  scale: number;
}

/**
 * Warps every image by `params` about the image centre (W/2, H/2), nearest neighbour, fill
 * `fill` (torchvision `F.affine` on PIL images: inverse map of each output pixel centre
 * (x + ½, y + ½), `Image.NEAREST`). Output pixel p samples input c + R(−θ)(p − c − t)/s.
 */
export function affineTransform(images: ImageArray, params: AffineParams | AffineParams[], fill = 0): ImageArray {
  const [N, H, W, C] = check(images);
  const list = Array.isArray(params) ? params : new Array<AffineParams>(N).fill(params);
  if (list.length !== N) throw new ArgumentError('params', `expected ${N} parameter sets, got ${list.length}`);
  return mapImages(images, (src, dst, off, n) => {
    const { angle, translate, scale } = list[n]!;
    if (!(scale > 0)) throw new ArgumentError('params.scale', `expected > 0, got ${scale}`);
    const th = (angle * Math.PI) / 180;
    const cos = Math.cos(th);
    const sin = Math.sin(th);
    const cx = W / 2;
    const cy = H / 2;
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const px = x + 0.5 - cx - translate[0];
        const py = y + 0.5 - cy - translate[1];
        // inverse of the counter-clockwise rotation (y down) and the scale
        const u = Math.floor((cos * px - sin * py) / scale + cx);
        const v = Math.floor((sin * px + cos * py) / scale + cy);
        const o = off + (y * W + x) * C;
        if (u < 0 || u >= W || v < 0 || v >= H) {
          for (let c = 0; c < C; c++) dst[o + c] = fill;
        } else {
          const i = off + (v * W + u) * C;
          for (let c = 0; c < C; c++) dst[o + c] = src[i + c]!;
        }
      }
    }
  });
}

/** Mirrors images left–right: out[y][x] = in[y][W − 1 − x]. */
export function horizontalFlip(images: ImageArray, which?: readonly boolean[]): ImageArray {
  const [N, H, W, C] = check(images);
  if (which && which.length !== N) throw new ArgumentError('which', `expected ${N} flags, got ${which.length}`);
  return mapImages(images, (src, dst, off, n) => {
    if (which && !which[n]) return;
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++)
        for (let c = 0; c < C; c++) dst[off + (y * W + x) * C + c] = src[off + (y * W + (W - 1 - x)) * C + c]!;
  });
}

export interface RandomAffineOptions {
  /** Maximum |angle| in degrees (default 10). */
  degrees?: number;
  /** Maximum translation as a fraction of (W, H) (default [0.1, 0.1]). */
  translate?: [number, number];
  /** Scale range (default [0.9, 1.1]). */
  scale?: [number, number];
  /** Fill value outside the input (default 0). */
  fill?: number;
}

/**
 * torchvision `RandomAffine` per image: angle ~ U(−d, d), tx = round(U(−a·W, a·W)),
 * ty = round(U(−b·H, b·H)), scale ~ U(s₀, s₁) (drawn in this order). Zero ranges give the identity.
 */
export function randomAffine(options: RandomAffineOptions = {}): Augmentation {
  const { degrees = 10, translate = [0.1, 0.1], scale = [0.9, 1.1], fill = 0 } = options;
  if (!(degrees >= 0)) throw new ArgumentError('options.degrees', `expected ≥ 0, got ${degrees}`);
  if (!(scale[0] > 0 && scale[1] >= scale[0])) throw new ArgumentError('options.scale', 'expected 0 < min ≤ max');
  return (images, rng) => {
    const [N, H, W] = check(images);
    const u = (lo: number, hi: number) => lo + (hi - lo) * rng.uniform();
    const params: AffineParams[] = [];
    for (let n = 0; n < N; n++) {
      const angle = u(-degrees, degrees);
      const mx = translate[0] * W;
      const my = translate[1] * H;
      const tx = Math.round(u(-mx, mx));
      const ty = Math.round(u(-my, my));
      params.push({ angle, translate: [tx, ty], scale: u(scale[0], scale[1]) });
    }
    return affineTransform(images, params, fill);
  };
}

/** torchvision `RandomHorizontalFlip(p)` per image. */
export function randomHorizontalFlip(p = 0.5): Augmentation {
  checkProbability('p', p);
  return (images, rng) => {
    const [N] = check(images);
    const which = Array.from({ length: N }, () => rng.uniform() < p);
    return horizontalFlip(images, which);
  };
}

// ---------------------------------------------------------------------------------------------
// Intensity (Behrendt, torchio)

/** x → sign(x)·|x|^γ (torchio `Gamma`). */
export function gammaTransform(images: ImageArray, gamma: number | number[]): ImageArray {
  const [N, H, W, C] = check(images);
  const g = typeof gamma === 'number' ? new Array<number>(N).fill(gamma) : gamma;
  if (g.length !== N) throw new ArgumentError('gamma', `expected ${N} values, got ${g.length}`);
  const size = H * W * C;
  return mapImages(images, (src, dst, off, n) => {
    for (let i = off; i < off + size; i++) dst[i] = Math.sign(src[i]!) * Math.pow(Math.abs(src[i]!), g[n]!);
  });
}

/** torchio `RandomGamma(log_gamma=(−r, r), p)`: γ = exp(U(−r, r)) with probability p. */
export function randomGamma(options: { logGamma?: number; p?: number } = {}): Augmentation {
  const { logGamma = 0.3, p = 0.5 } = options;
  checkProbability('options.p', p);
  return (images, rng) => {
    const [N] = check(images);
    const g = Array.from({ length: N }, () => {
      const apply = rng.uniform() < p;
      const lg = -logGamma + 2 * logGamma * rng.uniform();
      return apply ? Math.exp(lg) : 1;
    });
    return gammaTransform(images, g);
  };
}

/** Number of polynomial terms x^i y^j with i + j ≤ order. */
export function biasFieldTerms(order: number): number {
  return ((order + 1) * (order + 2)) / 2;
}

/**
 * Multiplies by a smooth bias field exp(Σ_{i+j≤order} c_ij·x^i·y^j) (torchio `BiasField`, 2D):
 * coordinates are torchio's `arange(−n/2, n/2)` grids divided by their maximum, coefficients in
 * the order i = 0…order, j = 0…order − i.
 */
export function biasField(images: ImageArray, coefficients: number[] | number[][], order = 3): ImageArray {
  const [N, H, W, C] = check(images);
  const k = biasFieldTerms(order);
  const list = Array.isArray(coefficients[0]) ? (coefficients as number[][]) : new Array(N).fill(coefficients);
  if (list.length !== N || list.some((c) => c.length !== k)) {
    throw new ArgumentError('coefficients', `expected ${N} sets of ${k} coefficients (order ${order})`);
  }
  const grid = (n: number): Float64Array => {
    const g = Float64Array.from({ length: n }, (_, i) => -n / 2 + i);
    const max = g[n - 1]!;
    if (max > 0) for (let i = 0; i < n; i++) g[i] = g[i]! / max;
    return g;
  };
  const gy = grid(H);
  const gx = grid(W);
  return mapImages(images, (src, dst, off, n) => {
    const c = list[n]!;
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        let f = 0;
        let t = 0;
        for (let i = 0; i <= order; i++)
          for (let j = 0; j <= order - i; j++) f += c[t++]! * Math.pow(gx[x]!, i) * Math.pow(gy[y]!, j);
        const e = Math.exp(f);
        const o = off + (y * W + x) * C;
        for (let ch = 0; ch < C; ch++) dst[o + ch] = src[o + ch]! * e;
      }
    }
  });
}

/** torchio `RandomBiasField(coefficients=r, order, p)`: each coefficient ~ U(−r, r). */
export function randomBiasField(options: { coefficients?: number; order?: number; p?: number } = {}): Augmentation {
  const { coefficients = 0.5, order = 3, p = 0.25 } = options;
  checkProbability('options.p', p);
  return (images, rng) => {
    const [N] = check(images);
    const k = biasFieldTerms(order);
    const coefs = Array.from({ length: N }, () => {
      const apply = rng.uniform() < p;
      const c = Array.from({ length: k }, () => -coefficients + 2 * coefficients * rng.uniform());
      return apply ? c : new Array<number>(k).fill(0);
    });
    return biasField(images, coefs, order);
  };
}

/** 1D Gaussian kernel of scipy `gaussian_filter1d` (truncate 4). */
function gaussianKernel(sigma: number): Float64Array {
  const r = Math.floor(4 * sigma + 0.5);
  const k = new Float64Array(2 * r + 1);
  let s = 0;
  for (let i = -r; i <= r; i++) s += k[i + r] = Math.exp((-0.5 * i * i) / (sigma * sigma));
  for (let i = 0; i < k.length; i++) k[i] = k[i]! / s;
  return k;
}

/** scipy `mode='reflect'` index (d c b a | a b c d | d c b a). */
function reflect(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * n;
  let j = ((i % period) + period) % period;
  if (j >= n) j = period - 1 - j;
  return j;
}

/**
 * Separable Gaussian blur with standard deviations (σ_y, σ_x) in pixels (torchio `Blur`: scipy
 * `gaussian_filter`, reflect borders, truncate 4). σ = 0 leaves that axis unchanged.
 */
export function gaussianBlur(images: ImageArray, sigma: [number, number] | [number, number][]): ImageArray {
  const [N, H, W, C] = check(images);
  const list = Array.isArray(sigma[0]) ? (sigma as [number, number][]) : new Array(N).fill(sigma);
  if (list.length !== N) throw new ArgumentError('sigma', `expected ${N} pairs, got ${list.length}`);
  return mapImages(images, (_src, dst, off, n) => {
    const [sy, sx] = list[n]!;
    const tmp = new Float64Array(H * W * C);
    for (const [axis, s] of [
      [0, sy],
      [1, sx],
    ] as const) {
      if (!(s > 0)) continue;
      const k = gaussianKernel(s);
      const r = (k.length - 1) / 2;
      for (let y = 0; y < H; y++)
        for (let x = 0; x < W; x++)
          for (let c = 0; c < C; c++) {
            let acc = 0;
            for (let i = -r; i <= r; i++) {
              const yy = axis === 0 ? reflect(y + i, H) : y;
              const xx = axis === 1 ? reflect(x + i, W) : x;
              acc += k[i + r]! * dst[off + (yy * W + xx) * C + c]!;
            }
            tmp[(y * W + x) * C + c] = acc;
          }
      for (let i = 0; i < tmp.length; i++) dst[off + i] = tmp[i]!;
    }
  });
}

/** torchio `RandomBlur(std=(0, s), p)`: per-axis std ~ U(0, s) in mm, divided by the pixel spacing. */
export function randomBlur(options: { std?: number; spacing?: [number, number]; p?: number } = {}): Augmentation {
  const { std = 2, spacing = [1, 1], p = 0.25 } = options;
  checkProbability('options.p', p);
  return (images, rng) => {
    const [N] = check(images);
    const sig = Array.from({ length: N }, () => {
      const apply = rng.uniform() < p;
      const s: [number, number] = [(std * rng.uniform()) / spacing[0], (std * rng.uniform()) / spacing[1]];
      return apply ? s : ([0, 0] as [number, number]);
    });
    return gaussianBlur(images, sig);
  };
}

/**
 * MRI ghosting along `axis` (0: rows/H, 1: columns/W) (torchio `Ghosting.add_artifact`): in the
 * centred (fftshift-ed) k-space along that axis, every `numGhosts`-th line is scaled by
 * 1 − intensity, then the central band `[mid − ⌊r/2⌋, mid + ⌊r/2⌋)` (r = round(restore·n), mid = ⌊n/2⌋;
 * only the centre line for `restore: null`) is restored and the real part of the inverse kept. The mask depends on one axis only, so a 1D DFT along it is exact.
 */
export function ghosting(
  images: ImageArray,
  params: { numGhosts: number; axis: 0 | 1; intensity: number; restore?: number | null },
): ImageArray {
  const [, H, W, C] = check(images);
  const { numGhosts, axis, intensity, restore = 0.02 } = params;
  if (!Number.isInteger(numGhosts) || numGhosts < 0)
    throw new ArgumentError('params.numGhosts', `expected an integer ≥ 0, got ${numGhosts}`);
  if (numGhosts === 0 || intensity === 0) return { data: new Float32Array(images.data), shape: [...images.shape] };
  const n = axis === 0 ? H : W;
  const mid = Math.floor(n / 2); // fftshift puts k = 0 at index ⌊n/2⌋
  // `_get_slices_to_restore`: slice(mid − ⌊r/2⌋, mid + ⌊r/2⌋) with r = round(restore·n); null: the centre line
  const [lo, hi] =
    restore === null
      ? [mid, mid + 1]
      : [mid - Math.floor(Math.round(restore * n) / 2), mid + Math.floor(Math.round(restore * n) / 2)];
  const gain = new Float64Array(n); // per unshifted frequency k
  for (let s = 0; s < n; s++) {
    const k = (s - mid + n) % n;
    const ghostLine = s % numGhosts === 0;
    const restored = s >= lo && s < hi;
    gain[k] = ghostLine && !restored ? 1 - intensity : 1;
  }
  const cosT = Float64Array.from({ length: n * n }, (_, i) => Math.cos((-2 * Math.PI * ((i / n) | 0) * (i % n)) / n));
  const sinT = Float64Array.from({ length: n * n }, (_, i) => Math.sin((-2 * Math.PI * ((i / n) | 0) * (i % n)) / n));
  const other = axis === 0 ? W : H;
  const line = new Float64Array(n);
  const re = new Float64Array(n);
  const im = new Float64Array(n);
  return mapImages(images, (src, dst, off) => {
    for (let o = 0; o < other; o++)
      for (let c = 0; c < C; c++) {
        const at = (i: number) => off + (axis === 0 ? i * W + o : o * W + i) * C + c;
        for (let i = 0; i < n; i++) line[i] = src[at(i)]!;
        for (let k = 0; k < n; k++) {
          let a = 0;
          let b = 0;
          for (let i = 0; i < n; i++) {
            a += line[i]! * cosT[k * n + i]!;
            b += line[i]! * sinT[k * n + i]!;
          }
          re[k] = a * gain[k]!;
          im[k] = b * gain[k]!;
        }
        // real part of the inverse DFT: (1/n) Σ_k (re cos(2πki/n) − im sin(2πki/n))
        for (let i = 0; i < n; i++) {
          let a = 0;
          for (let k = 0; k < n; k++) a += re[k]! * cosT[k * n + i]! + im[k]! * sinT[k * n + i]!;
          dst[at(i)] = a / n;
        }
      }
  });
}

/** torchio `RandomGhosting(num_ghosts=(4, 10), axes, intensity=(0.5, 1), restore=0.02, p)`. */
export function randomGhosting(
  options: {
    numGhosts?: [number, number];
    axes?: (0 | 1)[];
    intensity?: [number, number];
    restore?: number;
    p?: number;
  } = {},
): Augmentation {
  const { numGhosts = [4, 10], axes = [0, 1], intensity = [0.5, 1], restore = 0.02, p = 0.5 } = options;
  checkProbability('options.p', p);
  return (images, rng) => {
    const [N, H, W, C] = check(images);
    const size = H * W * C;
    const out = new Float32Array(images.data);
    for (let i = 0; i < N; i++) {
      const apply = rng.uniform() < p;
      const g = rng.randint(numGhosts[0], numGhosts[1] + 1);
      const axis = axes[rng.randint(0, axes.length)]!;
      const inten = intensity[0] + (intensity[1] - intensity[0]) * rng.uniform();
      if (!apply) continue;
      const one: ImageArray = { data: images.data.slice(i * size, (i + 1) * size), shape: [1, H, W, C] };
      out.set(ghosting(one, { numGhosts: g, axis, intensity: inten, restore }).data, i * size);
    }
    return { data: out, shape: [N, H, W, C] };
  };
}

/** Applies augmentations in order. */
export function composeAugmentations(...augmentations: Augmentation[]): Augmentation {
  return (images, rng) => augmentations.reduce((acc, a) => a(acc, rng), images);
}

/** THOR's brain-MRI training augmentation: random affine, then random horizontal flip. */
export function thorAugmentation(): Augmentation {
  return composeAugmentations(randomAffine(), randomHorizontalFlip(0.5));
}

/** Behrendt et al.'s intensity augmentation (gamma, bias field, blur, ghosting); `spacing` in mm (2 in the paper). */
export function behrendtAugmentation(options: { spacing?: [number, number] } = {}): Augmentation {
  return composeAugmentations(
    randomGamma(),
    randomBiasField(),
    randomBlur({ spacing: options.spacing ?? [2, 2] }),
    randomGhosting(),
  );
}

/** Runs a host augmentation on an NHWC tensor (one async read); returns a new tensor. */
export async function augmentTensor(
  images: tf.Tensor4D,
  augmentation: Augmentation,
  rng: SeededRNG,
): Promise<tf.Tensor4D> {
  const data = (await images.data()) as Float32Array;
  const out = augmentation({ data: Float32Array.from(data), shape: [...images.shape] as ImageArray['shape'] }, rng);
  return tf.tensor4d(out.data, out.shape);
}
