import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { describeBackends, expectNoLeaks } from '@adx/test-utils';
import { SeededRNG } from '../random/rng.js';
import { OpenSimplex3D, simplexNoise3DBatch, simplexNoise3DFixedT } from './simplex3d.js';

/*
 * Reference values from the upstream algorithm: AnoDDPM `simplex.py` (`_init`, `_noise3`,
 * `rand_3d_fixed_T_octaves`, the code THOR's `net_utils/simplex_noise.py` uses), run in float64
 * CPython/numpy. There is no parity fixture for the 3D noise; these few values (covering the three
 * regions of the honeycomb: lower tetrahedron, octahedron, upper tetrahedron) stand in for one.
 * (A 2000-point random comparison and 4 full maps also matched bit for bit when this was written.)
 */
const NOISE3_SEED42: [number, number, number, number][] = [
  [0.3, -1.7, 2.2, 0.08365184494018976],
  [1.25, 0.5, -0.75, 0.006372073726508462],
  [-2.1, 3.3, 0.9, 0.5696209510097093],
  [0.05, 0.1, 0.02, -0.01149813009846457],
  [4.4, -3.9, 1.1, 0.22341990059147437],
  [0.9, 0.95, 0.99, -0.2644919782383611],
  [-0.5, -0.5, -0.5, -0.3002376618122977],
  [2.0, 1.0, 3.90625, -0.1393855517926893],
  [10.5, -7.25, 3.125, 0.2696431016121492],
];
/** rand_3d_fixed_T_octaves((12, 12), [250], 6, 0.8, 64)[0][y, x] for seed 42. */
const MAP_SEED42_T250: [number, number, number][] = [
  [0, 0, -0.5371135947928314],
  [0, 11, -0.061427178295254736],
  [5, 7, -0.5779165310677434],
  [11, 3, -0.5638743106330338],
];
/** rand_3d_fixed_T_octaves((9, 9), [37], 6, 0.8, 64)[0][y, x] for seed −1234567890. */
const MAP_SEED1_T37: [number, number, number][] = [
  [0, 0, 0.16025073309994553],
  [8, 8, 1.0657604361705304],
  [4, 2, 0.09799639410777135],
];

describe('3D OpenSimplex (THOR / AnoDDPM simplex noise)', () => {
  it('noise3 equals the upstream values bit for bit in every honeycomb region', () => {
    const g = new OpenSimplex3D(42);
    for (const [x, y, z, v] of NOISE3_SEED42) expect(g.noise3(x, y, z), `(${x}, ${y}, ${z})`).toBe(v);
  });

  it('rand_3d_fixed_T_octaves maps (row = y) equal upstream bit for bit', () => {
    const m = simplexNoise3DFixedT({ height: 12, width: 12, t: 250, seed: 42 });
    for (const [y, x, v] of MAP_SEED42_T250) expect(m[y * 12 + x]).toBe(v);
    const m1 = simplexNoise3DFixedT({ height: 9, width: 9, t: 37, seed: -1234567890n });
    for (const [y, x, v] of MAP_SEED1_T37) expect(m1[y * 9 + x]).toBe(v);
  });

  it('the third coordinate matters and errors name the argument', () => {
    const a = simplexNoise3DFixedT({ height: 4, width: 4, t: 10, seed: 3 });
    const b = simplexNoise3DFixedT({ height: 4, width: 4, t: 11, seed: 3 });
    expect(Array.from(a)).not.toEqual(Array.from(b));
    expect(() => simplexNoise3DFixedT({ height: 4, width: 4, t: NaN, seed: 3 })).toThrow(/'options.t'/);
    expect(() => simplexNoise3DFixedT({ height: 4, width: 4, t: 1, seed: 0 })).toThrow(/'options.seed'/);
  });
});

describeBackends('3D simplex noise batch', () => {
  it('one map shared by batch and channels, seed from the RNG, leak-free', async () => {
    await expectNoLeaks(async () => {
      const n = simplexNoise3DBatch([2, 12, 12, 1], 250, new SeededRNG(0), { seed: 42 });
      const d = await n.data();
      for (const [y, x, v] of MAP_SEED42_T250) {
        expect(d[y * 12 + x]).toBe(Math.fround(v));
        expect(d[144 + y * 12 + x]).toBe(Math.fround(v));
      }
      const r1 = simplexNoise3DBatch([1, 6, 6, 2], 5, new SeededRNG(11));
      const r2 = simplexNoise3DBatch([1, 6, 6, 2], 5, new SeededRNG(11));
      expect(Array.from(await r1.data())).toEqual(Array.from(await r2.data()));
      tf.dispose([n, r1, r2]);
    });
  });
});
