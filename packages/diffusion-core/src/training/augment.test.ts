import * as tf from '@tensorflow/tfjs-core';
import '@adx/test-utils';
import { describe, expect, it } from 'vitest';
import { SeededRNG } from '../random/rng.js';
import {
  affineTransform,
  augmentTensor,
  behrendtAugmentation,
  biasField,
  biasFieldTerms,
  gammaTransform,
  gaussianBlur,
  ghosting,
  horizontalFlip,
  randomAffine,
  randomBiasField,
  randomBlur,
  randomGamma,
  randomGhosting,
  randomHorizontalFlip,
  thorAugmentation,
  type ImageArray,
} from './augment.js';
import { InMemoryDataset } from './data.js';

/** [N, H, W, 1] with value 100·n + 10·y + x (every pixel distinct and traceable). */
function ramp(n: number, h: number, w: number, c = 1): ImageArray {
  const data = new Float32Array(n * h * w * c);
  for (let i = 0; i < n; i++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let k = 0; k < c; k++) data[((i * h + y) * w + x) * c + k] = 100 * i + 10 * y + x + k / 2;
  return { data, shape: [n, h, w, c] };
}

const at = (im: ImageArray, n: number, y: number, x: number, c = 0) =>
  im.data[((n * im.shape[1] + y) * im.shape[2] + x) * im.shape[3] + c]!;

describe('geometric augmentations (THOR)', () => {
  it('horizontal flip: out[y][x] = in[y][W−1−x], only for the selected images', () => {
    const im = ramp(2, 3, 4, 2);
    const out = horizontalFlip(im, [true, false]);
    for (let y = 0; y < 3; y++)
      for (let x = 0; x < 4; x++)
        for (let c = 0; c < 2; c++) {
          expect(at(out, 0, y, x, c)).toBe(at(im, 0, y, 3 - x, c));
          expect(at(out, 1, y, x, c)).toBe(at(im, 1, y, x, c));
        }
    expect(im.data[0]).toBe(0); // input untouched
  });

  it('affine: identity, integer translation with fill, 90° rotation = np.rot90, 2× zoom', () => {
    const im = ramp(1, 4, 4);
    expect(Array.from(affineTransform(im, { angle: 0, translate: [0, 0], scale: 1 }).data)).toEqual(
      Array.from(im.data),
    );
    // shift right by 1, down by 2: out[y][x] = in[y−2][x−1], zero fill
    const sh = affineTransform(im, { angle: 0, translate: [1, 2], scale: 1 }, 0);
    for (let y = 0; y < 4; y++)
      for (let x = 0; x < 4; x++) expect(at(sh, 0, y, x)).toBe(y >= 2 && x >= 1 ? at(im, 0, y - 2, x - 1) : 0);
    // counter-clockwise quarter turn (np.rot90): out[y][x] = in[x][W−1−y]
    const rot = affineTransform(im, { angle: 90, translate: [0, 0], scale: 1 });
    for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) expect(at(rot, 0, y, x)).toBe(at(im, 0, x, 3 - y));
    // scale 2 about the centre (2, 2): output pixel centre p samples floor((p − 2)/2 + 2)
    const z = affineTransform(im, { angle: 0, translate: [0, 0], scale: 2 });
    const src = [1, 1, 2, 2]; // floor(((x + .5) − 2)/2 + 2) for x = 0..3
    for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) expect(at(z, 0, y, x)).toBe(at(im, 0, src[y]!, src[x]!));
  });

  it('random affine and flip are seeded, per image, and the identity at zero strength', () => {
    const im = ramp(3, 8, 8);
    const a1 = thorAugmentation()(im, new SeededRNG(5));
    const a2 = thorAugmentation()(im, new SeededRNG(5));
    expect(Array.from(a1.data)).toEqual(Array.from(a2.data));
    expect(Array.from(thorAugmentation()(im, new SeededRNG(6)).data)).not.toEqual(Array.from(a1.data));
    const id = randomAffine({ degrees: 0, translate: [0, 0], scale: [1, 1] })(im, new SeededRNG(1));
    expect(Array.from(id.data)).toEqual(Array.from(im.data));
    expect(Array.from(randomHorizontalFlip(0)(im, new SeededRNG(1)).data)).toEqual(Array.from(im.data));
    const all = randomHorizontalFlip(1)(im, new SeededRNG(1));
    expect(Array.from(all.data)).toEqual(Array.from(horizontalFlip(im).data));
  });
});

describe('intensity augmentations (Behrendt, torchio)', () => {
  it('gamma: sign(x)|x|^γ, identity for γ = 1 and p = 0', () => {
    const im: ImageArray = { data: Float32Array.from([0.25, -0.25, 1, 0]), shape: [1, 2, 2, 1] };
    expect(Array.from(gammaTransform(im, 2).data)).toEqual([0.0625, -0.0625, 1, 0]);
    expect(Array.from(randomGamma({ p: 0 })(im, new SeededRNG(1)).data)).toEqual(Array.from(im.data));
  });

  it('bias field: exp of the polynomial on the normalised grid; zero coefficients are the identity', () => {
    expect(biasFieldTerms(3)).toBe(10);
    const im: ImageArray = { data: new Float32Array(4 * 4).fill(1), shape: [1, 4, 4, 1] };
    // only the constant term c_00 = ln 2 → every pixel doubles
    const c = new Array<number>(10).fill(0);
    c[0] = Math.LN2;
    for (const v of biasField(im, c).data) expect(v).toBeCloseTo(2, 6);
    // c_10 = 1 (the x term): grid x = (−2, −1, 0, 1)/1 → factor e^x
    const cx = new Array<number>(10).fill(0);
    cx[4] = 1; // order i=1, j=0 is term index 4 (i = 0 → j = 0..3 first)
    const out = biasField(im, cx);
    for (let x = 0; x < 4; x++) expect(at(out, 0, 1, x)).toBeCloseTo(Math.exp(x - 2), 5);
    expect(Array.from(randomBiasField({ p: 0 })(im, new SeededRNG(1)).data)).toEqual(Array.from(im.data));
  });

  it('blur: normalised kernel (impulse sums to 1), constant images unchanged, σ = 0 identity', () => {
    const imp: ImageArray = { data: new Float32Array(9 * 9), shape: [1, 9, 9, 1] };
    imp.data[4 * 9 + 4] = 1;
    const b = gaussianBlur(imp, [1, 1]);
    expect(b.data.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 5);
    const g1 = Math.exp(-0.5);
    const norm = [-4, -3, -2, -1, 0, 1, 2, 3, 4].reduce((s, i) => s + Math.exp(-0.5 * i * i), 0);
    expect(at(b, 0, 4, 5)).toBeCloseTo((1 / norm) * (g1 / norm), 6);
    const flat: ImageArray = { data: new Float32Array(5 * 7).fill(3), shape: [1, 5, 7, 1] };
    for (const v of gaussianBlur(flat, [1.5, 0.7]).data) expect(v).toBeCloseTo(3, 5);
    expect(Array.from(gaussianBlur(imp, [0, 0]).data)).toEqual(Array.from(imp.data));
    expect(Array.from(randomBlur({ p: 0 })(imp, new SeededRNG(1)).data)).toEqual(Array.from(imp.data));
  });

  it('ghosting: all lines at intensity 1 keep only the restored DC line (mean along the axis); intensity 0 is the identity', () => {
    const im = ramp(1, 4, 6);
    const zero = ghosting(im, { numGhosts: 1, axis: 1, intensity: 1, restore: 0 }); // empty restore band
    for (const v of zero.data) expect(v).toBeCloseTo(0, 4);
    const out = ghosting(im, { numGhosts: 1, axis: 1, intensity: 1, restore: null });
    for (let y = 0; y < 4; y++) {
      let mean = 0;
      for (let x = 0; x < 6; x++) mean += at(im, 0, y, x) / 6;
      for (let x = 0; x < 6; x++) expect(at(out, 0, y, x)).toBeCloseTo(mean, 4);
    }
    const id = ghosting(im, { numGhosts: 4, axis: 0, intensity: 0 });
    expect(Array.from(id.data)).toEqual(Array.from(im.data));
    // with a mask of ones (ghost lines restored) the DFT round trip is exact up to float error
    const round = ghosting(im, { numGhosts: 100, axis: 0, intensity: 0.5, restore: 1 });
    for (let i = 0; i < im.data.length; i++) expect(round.data[i]).toBeCloseTo(im.data[i]!, 3);
    expect(Array.from(randomGhosting({ p: 0 })(im, new SeededRNG(1)).data)).toEqual(Array.from(im.data));
  });

  it('the Behrendt pipeline is seeded and changes images when applied', () => {
    const im = ramp(4, 8, 8);
    const a = behrendtAugmentation()(im, new SeededRNG(3));
    const b = behrendtAugmentation()(im, new SeededRNG(3));
    expect(Array.from(a.data)).toEqual(Array.from(b.data));
    expect(Array.from(a.data)).not.toEqual(Array.from(im.data));
  });

  it('augmentTensor works on tensors without leaks and rejects bad shapes', async () => {
    const x = tf.tensor4d(ramp(1, 2, 3).data, [1, 2, 3, 1]);
    const before = tf.memory().numTensors;
    const out = await augmentTensor(x, (im) => horizontalFlip(im), new SeededRNG(0));
    expect(tf.memory().numTensors).toBe(before + 1); // only the returned tensor
    expect(Array.from(await out.data())).toEqual([2, 1, 0, 12, 11, 10]);
    tf.dispose([x, out]);
    expect(() => horizontalFlip({ data: new Float32Array(3), shape: [1, 2, 2, 1] })).toThrow(/Float32Array of 4/);
  });
});

describe('InMemoryDataset', () => {
  it('serves seeded per-epoch shuffles, drops the last incomplete batch, and carries labels', () => {
    const im = ramp(5, 1, 1);
    const ds = new InMemoryDataset(im, { batchSize: 2, seed: 3, labels: [0, 1, 0, 1, 1] });
    expect(ds.batchesPerEpoch).toBe(2);
    const e0 = [...ds.batches(0)];
    expect(e0).toHaveLength(2);
    const order = ds.order(0);
    expect([...order].sort()).toEqual([0, 1, 2, 3, 4]);
    const first = e0[0]!.image as ImageArray;
    expect(Array.from(first.data)).toEqual([100 * order[0]!, 100 * order[1]!]);
    expect(e0[0]!.label).toEqual([[0, 1, 0, 1, 1][order[0]!], [0, 1, 0, 1, 1][order[1]!]]);
    expect(ds.order(0)).toEqual(order);
    expect(new InMemoryDataset(im, { batchSize: 2, shuffle: false, dropLast: false }).batchesPerEpoch).toBe(3);
  });
});
