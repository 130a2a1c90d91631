/**
 * AnoDDPM-style 3D OpenSimplex noise with a fixed third coordinate, as THOR's simplex variant uses
 * it (`net_utils/simplex_noise.py`, the AnoDDPM `simplex.py` fork of lmas/opensimplex:
 * `_noise3`, `rand_3d_fixed_T_octaves`, `generate_simplex_noise`).
 *
 * Kurt Spencer's 3D OpenSimplex in float64, ported in upstream's operation order; the permutation
 * is the same seeded LCG permutation as the 2D noise ({@link simplexPermutation}), and the 3D
 * gradient index is `(perm % 24)·3`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError } from '../errors.js';
import type { SeededRNG } from '../random/rng.js';
import { drawSimplexSeed, simplexPermutation } from './simplex.js';

const STRETCH_CONSTANT_3D = -1.0 / 6; // (1/√(3+1) − 1)/3
const SQUISH_CONSTANT_3D = 1.0 / 3; // (√(3+1) − 1)/3
const NORM_CONSTANT_3D = 103;
/**
 * Gradients approximating the directions to the vertices of a rhombicuboctahedron from the
 * centre, skewed so that the triangular and square facets can be inscribed in circles of equal radius.
 */
// prettier-ignore
const GRADIENTS_3D = [
  -11, 4, 4, -4, 11, 4, -4, 4, 11,
  11, 4, 4, 4, 11, 4, 4, 4, 11,
  -11, -4, 4, -4, -11, 4, -4, -4, 11,
  11, -4, 4, 4, -11, 4, 4, -4, 11,
  -11, 4, -4, -4, 11, -4, -4, 4, -11,
  11, 4, -4, 4, 11, -4, 4, 4, -11,
  -11, -4, -4, -4, -11, -4, -4, -4, -11,
  11, -4, -4, 4, -11, -4, 4, -4, -11,
];

/** Kurt Spencer's 3D OpenSimplex noise with a seeded permutation (`OpenSimplex.noise3`). */
export class OpenSimplex3D {
  readonly perm: Uint8Array;
  private readonly gradIndex: Uint8Array;

  constructor(seed: number | bigint) {
    this.perm = simplexPermutation(seed);
    // perm_grad_index3[i] = int((perm[i] % (72 / 3)) * 3)
    this.gradIndex = this.perm.map((p) => (p % 24) * 3);
  }

  private extrapolate(xsb: number, ysb: number, zsb: number, dx: number, dy: number, dz: number): number {
    const perm = this.perm;
    const index = this.gradIndex[(perm[(perm[xsb & 0xff] + ysb) & 0xff] + zsb) & 0xff];
    return GRADIENTS_3D[index] * dx + GRADIENTS_3D[index + 1] * dy + GRADIENTS_3D[index + 2] * dz;
  }

  /** Contribution of lattice point (xsv, ysv, zsv) at offset (dx, dy, dz): (2 − |d|²)⁴ · ⟨g, d⟩. */
  private contribution(xsv: number, ysv: number, zsv: number, dx: number, dy: number, dz: number): number {
    let attn = 2 - dx * dx - dy * dy - dz * dz;
    if (attn > 0) {
      attn *= attn;
      return attn * attn * this.extrapolate(xsv, ysv, zsv, dx, dy, dz);
    }
    return 0;
  }

  /** Noise at (x, y, z), in float64, in upstream's operation order. */
  noise3(x: number, y: number, z: number): number {
    const SQ = SQUISH_CONSTANT_3D;
    // Place input coordinates on the simplectic honeycomb.
    const stretchOffset = (x + y + z) * STRETCH_CONSTANT_3D;
    const xs = x + stretchOffset;
    const ys = y + stretchOffset;
    const zs = z + stretchOffset;
    // Floor to get the honeycomb coordinates of the rhombohedron (stretched cube) super-cell origin.
    const xsb = Math.floor(xs);
    const ysb = Math.floor(ys);
    const zsb = Math.floor(zs);
    // Skew out to get the actual coordinates of the rhombohedron origin.
    const squishOffset = (xsb + ysb + zsb) * SQ;
    const xb = xsb + squishOffset;
    const yb = ysb + squishOffset;
    const zb = zsb + squishOffset;
    // Honeycomb coordinates relative to the rhombohedral origin; their sum picks the region.
    const xins = xs - xsb;
    const yins = ys - ysb;
    const zins = zs - zsb;
    const inSum = xins + yins + zins;
    // Positions relative to the origin point.
    let dx0 = x - xb;
    let dy0 = y - yb;
    let dz0 = z - zb;

    let value = 0;
    let dxExt0: number, dyExt0: number, dzExt0: number;
    let dxExt1: number, dyExt1: number, dzExt1: number;
    let xsvExt0: number, ysvExt0: number, zsvExt0: number;
    let xsvExt1: number, ysvExt1: number, zsvExt1: number;

    if (inSum <= 1) {
      // Inside the tetrahedron (3-simplex) at (0,0,0).
      // Determine which two of (0,0,1), (0,1,0), (1,0,0) are closest.
      let aPoint = 0x01;
      let aScore = xins;
      let bPoint = 0x02;
      let bScore = yins;
      if (aScore >= bScore && zins > bScore) {
        bScore = zins;
        bPoint = 0x04;
      } else if (aScore < bScore && zins > aScore) {
        aScore = zins;
        aPoint = 0x04;
      }
      // The two lattice points outside the tetrahedron that may contribute depend on the
      // closest two tetrahedral vertices, including (0,0,0).
      const wins = 1 - inSum;
      if (wins > aScore || wins > bScore) {
        // (0,0,0) is one of the closest two tetrahedral vertices.
        const c = bScore > aScore ? bPoint : aPoint; // the other closest vertex
        if ((c & 0x01) === 0) {
          xsvExt0 = xsb - 1;
          xsvExt1 = xsb;
          dxExt0 = dx0 + 1;
          dxExt1 = dx0;
        } else {
          xsvExt0 = xsvExt1 = xsb + 1;
          dxExt0 = dxExt1 = dx0 - 1;
        }
        if ((c & 0x02) === 0) {
          ysvExt0 = ysvExt1 = ysb;
          dyExt0 = dyExt1 = dy0;
          if ((c & 0x01) === 0) {
            ysvExt1 -= 1;
            dyExt1 += 1;
          } else {
            ysvExt0 -= 1;
            dyExt0 += 1;
          }
        } else {
          ysvExt0 = ysvExt1 = ysb + 1;
          dyExt0 = dyExt1 = dy0 - 1;
        }
        if ((c & 0x04) === 0) {
          zsvExt0 = zsb;
          zsvExt1 = zsb - 1;
          dzExt0 = dz0;
          dzExt1 = dz0 + 1;
        } else {
          zsvExt0 = zsvExt1 = zsb + 1;
          dzExt0 = dzExt1 = dz0 - 1;
        }
      } else {
        // (0,0,0) is not one of the closest two: the extra vertices follow from the closest two.
        const c = aPoint | bPoint;
        if ((c & 0x01) === 0) {
          xsvExt0 = xsb;
          xsvExt1 = xsb - 1;
          dxExt0 = dx0 - 2 * SQ;
          dxExt1 = dx0 + 1 - SQ;
        } else {
          xsvExt0 = xsvExt1 = xsb + 1;
          dxExt0 = dx0 - 1 - 2 * SQ;
          dxExt1 = dx0 - 1 - SQ;
        }
        if ((c & 0x02) === 0) {
          ysvExt0 = ysb;
          ysvExt1 = ysb - 1;
          dyExt0 = dy0 - 2 * SQ;
          dyExt1 = dy0 + 1 - SQ;
        } else {
          ysvExt0 = ysvExt1 = ysb + 1;
          dyExt0 = dy0 - 1 - 2 * SQ;
          dyExt1 = dy0 - 1 - SQ;
        }
        if ((c & 0x04) === 0) {
          zsvExt0 = zsb;
          zsvExt1 = zsb - 1;
          dzExt0 = dz0 - 2 * SQ;
          dzExt1 = dz0 + 1 - SQ;
        } else {
          zsvExt0 = zsvExt1 = zsb + 1;
          dzExt0 = dz0 - 1 - 2 * SQ;
          dzExt1 = dz0 - 1 - SQ;
        }
      }
      // Contribution (0,0,0)
      value += this.contribution(xsb + 0, ysb + 0, zsb + 0, dx0, dy0, dz0);
      // Contribution (1,0,0)
      const dx1 = dx0 - 1 - SQ;
      const dy1 = dy0 - 0 - SQ;
      const dz1 = dz0 - 0 - SQ;
      value += this.contribution(xsb + 1, ysb + 0, zsb + 0, dx1, dy1, dz1);
      // Contribution (0,1,0)
      const dx2 = dx0 - 0 - SQ;
      const dy2 = dy0 - 1 - SQ;
      const dz2 = dz1;
      value += this.contribution(xsb + 0, ysb + 1, zsb + 0, dx2, dy2, dz2);
      // Contribution (0,0,1)
      const dx3 = dx2;
      const dy3 = dy1;
      const dz3 = dz0 - 1 - SQ;
      value += this.contribution(xsb + 0, ysb + 0, zsb + 1, dx3, dy3, dz3);
    } else if (inSum >= 2) {
      // Inside the tetrahedron (3-simplex) at (1,1,1).
      // Determine which two of (1,1,0), (1,0,1), (0,1,1) (not (1,1,1)) are closest.
      let aPoint = 0x06;
      let aScore = xins;
      let bPoint = 0x05;
      let bScore = yins;
      if (aScore <= bScore && zins < bScore) {
        bScore = zins;
        bPoint = 0x03;
      } else if (aScore > bScore && zins < aScore) {
        aScore = zins;
        aPoint = 0x03;
      }
      const wins = 3 - inSum;
      if (wins < aScore || wins < bScore) {
        // (1,1,1) is one of the closest two tetrahedral vertices.
        const c = bScore < aScore ? bPoint : aPoint;
        if ((c & 0x01) !== 0) {
          xsvExt0 = xsb + 2;
          xsvExt1 = xsb + 1;
          dxExt0 = dx0 - 2 - 3 * SQ;
          dxExt1 = dx0 - 1 - 3 * SQ;
        } else {
          xsvExt0 = xsvExt1 = xsb;
          dxExt0 = dxExt1 = dx0 - 3 * SQ;
        }
        if ((c & 0x02) !== 0) {
          ysvExt0 = ysvExt1 = ysb + 1;
          dyExt0 = dyExt1 = dy0 - 1 - 3 * SQ;
          if ((c & 0x01) !== 0) {
            ysvExt1 += 1;
            dyExt1 -= 1;
          } else {
            ysvExt0 += 1;
            dyExt0 -= 1;
          }
        } else {
          ysvExt0 = ysvExt1 = ysb;
          dyExt0 = dyExt1 = dy0 - 3 * SQ;
        }
        if ((c & 0x04) !== 0) {
          zsvExt0 = zsb + 1;
          zsvExt1 = zsb + 2;
          dzExt0 = dz0 - 1 - 3 * SQ;
          dzExt1 = dz0 - 2 - 3 * SQ;
        } else {
          zsvExt0 = zsvExt1 = zsb;
          dzExt0 = dzExt1 = dz0 - 3 * SQ;
        }
      } else {
        // (1,1,1) is not one of the closest two.
        const c = aPoint & bPoint;
        if ((c & 0x01) !== 0) {
          xsvExt0 = xsb + 1;
          xsvExt1 = xsb + 2;
          dxExt0 = dx0 - 1 - SQ;
          dxExt1 = dx0 - 2 - 2 * SQ;
        } else {
          xsvExt0 = xsvExt1 = xsb;
          dxExt0 = dx0 - SQ;
          dxExt1 = dx0 - 2 * SQ;
        }
        if ((c & 0x02) !== 0) {
          ysvExt0 = ysb + 1;
          ysvExt1 = ysb + 2;
          dyExt0 = dy0 - 1 - SQ;
          dyExt1 = dy0 - 2 - 2 * SQ;
        } else {
          ysvExt0 = ysvExt1 = ysb;
          dyExt0 = dy0 - SQ;
          dyExt1 = dy0 - 2 * SQ;
        }
        if ((c & 0x04) !== 0) {
          zsvExt0 = zsb + 1;
          zsvExt1 = zsb + 2;
          dzExt0 = dz0 - 1 - SQ;
          dzExt1 = dz0 - 2 - 2 * SQ;
        } else {
          zsvExt0 = zsvExt1 = zsb;
          dzExt0 = dz0 - SQ;
          dzExt1 = dz0 - 2 * SQ;
        }
      }
      // Contribution (1,1,0)
      const dx3 = dx0 - 1 - 2 * SQ;
      const dy3 = dy0 - 1 - 2 * SQ;
      const dz3 = dz0 - 0 - 2 * SQ;
      value += this.contribution(xsb + 1, ysb + 1, zsb + 0, dx3, dy3, dz3);
      // Contribution (1,0,1)
      const dx2 = dx3;
      const dy2 = dy0 - 0 - 2 * SQ;
      const dz2 = dz0 - 1 - 2 * SQ;
      value += this.contribution(xsb + 1, ysb + 0, zsb + 1, dx2, dy2, dz2);
      // Contribution (0,1,1)
      const dx1 = dx0 - 0 - 2 * SQ;
      const dy1 = dy3;
      const dz1 = dz2;
      value += this.contribution(xsb + 0, ysb + 1, zsb + 1, dx1, dy1, dz1);
      // Contribution (1,1,1)
      dx0 = dx0 - 1 - 3 * SQ;
      dy0 = dy0 - 1 - 3 * SQ;
      dz0 = dz0 - 1 - 3 * SQ;
      value += this.contribution(xsb + 1, ysb + 1, zsb + 1, dx0, dy0, dz0);
    } else {
      // Inside the octahedron (rectified 3-simplex) in between.
      let aScore: number;
      let aPoint: number;
      let aIsFurtherSide: boolean;
      let bScore: number;
      let bPoint: number;
      let bIsFurtherSide: boolean;
      // Decide between (0,0,1) and (1,1,0) as closest.
      const p1 = xins + yins;
      if (p1 > 1) {
        aScore = p1 - 1;
        aPoint = 0x03;
        aIsFurtherSide = true;
      } else {
        aScore = 1 - p1;
        aPoint = 0x04;
        aIsFurtherSide = false;
      }
      // Decide between (0,1,0) and (1,0,1) as closest.
      const p2 = xins + zins;
      if (p2 > 1) {
        bScore = p2 - 1;
        bPoint = 0x05;
        bIsFurtherSide = true;
      } else {
        bScore = 1 - p2;
        bPoint = 0x02;
        bIsFurtherSide = false;
      }
      // The closest of (1,0,0) and (0,1,1) replaces the furthest of the two above, if closer.
      const p3 = yins + zins;
      if (p3 > 1) {
        const score = p3 - 1;
        if (aScore <= bScore && aScore < score) {
          aPoint = 0x06;
          aIsFurtherSide = true;
        } else if (aScore > bScore && bScore < score) {
          bPoint = 0x06;
          bIsFurtherSide = true;
        }
      } else {
        const score = 1 - p3;
        if (aScore <= bScore && aScore < score) {
          aPoint = 0x01;
          aIsFurtherSide = false;
        } else if (aScore > bScore && bScore < score) {
          bPoint = 0x01;
          bIsFurtherSide = false;
        }
      }
      // Where the two closest points are determines the two extra vertices.
      if (aIsFurtherSide === bIsFurtherSide) {
        if (aIsFurtherSide) {
          // Both closest points on the (1,1,1) side: one extra point is (1,1,1) …
          dxExt0 = dx0 - 1 - 3 * SQ;
          dyExt0 = dy0 - 1 - 3 * SQ;
          dzExt0 = dz0 - 1 - 3 * SQ;
          xsvExt0 = xsb + 1;
          ysvExt0 = ysb + 1;
          zsvExt0 = zsb + 1;
          // … the other follows from the shared axis.
          const c = aPoint & bPoint;
          if ((c & 0x01) !== 0) {
            dxExt1 = dx0 - 2 - 2 * SQ;
            dyExt1 = dy0 - 2 * SQ;
            dzExt1 = dz0 - 2 * SQ;
            xsvExt1 = xsb + 2;
            ysvExt1 = ysb;
            zsvExt1 = zsb;
          } else if ((c & 0x02) !== 0) {
            dxExt1 = dx0 - 2 * SQ;
            dyExt1 = dy0 - 2 - 2 * SQ;
            dzExt1 = dz0 - 2 * SQ;
            xsvExt1 = xsb;
            ysvExt1 = ysb + 2;
            zsvExt1 = zsb;
          } else {
            dxExt1 = dx0 - 2 * SQ;
            dyExt1 = dy0 - 2 * SQ;
            dzExt1 = dz0 - 2 - 2 * SQ;
            xsvExt1 = xsb;
            ysvExt1 = ysb;
            zsvExt1 = zsb + 2;
          }
        } else {
          // Both closest points on the (0,0,0) side: one extra point is (0,0,0) …
          dxExt0 = dx0;
          dyExt0 = dy0;
          dzExt0 = dz0;
          xsvExt0 = xsb;
          ysvExt0 = ysb;
          zsvExt0 = zsb;
          // … the other follows from the omitted axis.
          const c = aPoint | bPoint;
          if ((c & 0x01) === 0) {
            dxExt1 = dx0 + 1 - SQ;
            dyExt1 = dy0 - 1 - SQ;
            dzExt1 = dz0 - 1 - SQ;
            xsvExt1 = xsb - 1;
            ysvExt1 = ysb + 1;
            zsvExt1 = zsb + 1;
          } else if ((c & 0x02) === 0) {
            dxExt1 = dx0 - 1 - SQ;
            dyExt1 = dy0 + 1 - SQ;
            dzExt1 = dz0 - 1 - SQ;
            xsvExt1 = xsb + 1;
            ysvExt1 = ysb - 1;
            zsvExt1 = zsb + 1;
          } else {
            dxExt1 = dx0 - 1 - SQ;
            dyExt1 = dy0 - 1 - SQ;
            dzExt1 = dz0 + 1 - SQ;
            xsvExt1 = xsb + 1;
            ysvExt1 = ysb + 1;
            zsvExt1 = zsb - 1;
          }
        }
      } else {
        // One point on the (0,0,0) side, one on the (1,1,1) side.
        const c1 = aIsFurtherSide ? aPoint : bPoint;
        const c2 = aIsFurtherSide ? bPoint : aPoint;
        // One contribution is a permutation of (1,1,−1).
        if ((c1 & 0x01) === 0) {
          dxExt0 = dx0 + 1 - SQ;
          dyExt0 = dy0 - 1 - SQ;
          dzExt0 = dz0 - 1 - SQ;
          xsvExt0 = xsb - 1;
          ysvExt0 = ysb + 1;
          zsvExt0 = zsb + 1;
        } else if ((c1 & 0x02) === 0) {
          dxExt0 = dx0 - 1 - SQ;
          dyExt0 = dy0 + 1 - SQ;
          dzExt0 = dz0 - 1 - SQ;
          xsvExt0 = xsb + 1;
          ysvExt0 = ysb - 1;
          zsvExt0 = zsb + 1;
        } else {
          dxExt0 = dx0 - 1 - SQ;
          dyExt0 = dy0 - 1 - SQ;
          dzExt0 = dz0 + 1 - SQ;
          xsvExt0 = xsb + 1;
          ysvExt0 = ysb + 1;
          zsvExt0 = zsb - 1;
        }
        // One contribution is a permutation of (0,0,2).
        dxExt1 = dx0 - 2 * SQ;
        dyExt1 = dy0 - 2 * SQ;
        dzExt1 = dz0 - 2 * SQ;
        xsvExt1 = xsb;
        ysvExt1 = ysb;
        zsvExt1 = zsb;
        if ((c2 & 0x01) !== 0) {
          dxExt1 -= 2;
          xsvExt1 += 2;
        } else if ((c2 & 0x02) !== 0) {
          dyExt1 -= 2;
          ysvExt1 += 2;
        } else {
          dzExt1 -= 2;
          zsvExt1 += 2;
        }
      }
      // Contribution (1,0,0)
      const dx1 = dx0 - 1 - SQ;
      const dy1 = dy0 - 0 - SQ;
      const dz1 = dz0 - 0 - SQ;
      value += this.contribution(xsb + 1, ysb + 0, zsb + 0, dx1, dy1, dz1);
      // Contribution (0,1,0)
      const dx2 = dx0 - 0 - SQ;
      const dy2 = dy0 - 1 - SQ;
      const dz2 = dz1;
      value += this.contribution(xsb + 0, ysb + 1, zsb + 0, dx2, dy2, dz2);
      // Contribution (0,0,1)
      const dx3 = dx2;
      const dy3 = dy1;
      const dz3 = dz0 - 1 - SQ;
      value += this.contribution(xsb + 0, ysb + 0, zsb + 1, dx3, dy3, dz3);
      // Contribution (1,1,0)
      const dx4 = dx0 - 1 - 2 * SQ;
      const dy4 = dy0 - 1 - 2 * SQ;
      const dz4 = dz0 - 0 - 2 * SQ;
      value += this.contribution(xsb + 1, ysb + 1, zsb + 0, dx4, dy4, dz4);
      // Contribution (1,0,1)
      const dx5 = dx4;
      const dy5 = dy0 - 0 - 2 * SQ;
      const dz5 = dz0 - 1 - 2 * SQ;
      value += this.contribution(xsb + 1, ysb + 0, zsb + 1, dx5, dy5, dz5);
      // Contribution (0,1,1)
      const dx6 = dx0 - 0 - 2 * SQ;
      const dy6 = dy4;
      const dz6 = dz5;
      value += this.contribution(xsb + 0, ysb + 1, zsb + 1, dx6, dy6, dz6);
    }
    // First and second extra vertices.
    value += this.contribution(xsvExt0, ysvExt0, zsvExt0, dxExt0, dyExt0, dzExt0);
    value += this.contribution(xsvExt1, ysvExt1, zsvExt1, dxExt1, dyExt1, dzExt1);
    return value / NORM_CONSTANT_3D;
  }
}

export interface SimplexNoise3DOptions {
  height: number;
  width: number;
  /** The fixed third coordinate T (AnoDDPM / THOR pass the diffusion timestep t). */
  t: number;
  /** Non-zero integer seed; number or bigint. */
  seed: number | bigint;
  /** Number of octaves (default 6). */
  octaves?: number;
  /** Amplitude factor per octave (default 0.8). */
  persistence?: number;
  /** Starting frequency divisor (default 64), halved per octave. */
  frequency?: number;
}

/**
 * AnoDDPM `rand_3d_fixed_T_octaves((height, width), [t], octaves, persistence, frequency)`: for
 * each octave, map[y][x] += amplitude·noise3(x/f, y/f, t/f); then f ← f/2, amplitude ← amplitude·persistence.
 * Returns the row-major `[height, width]` map (row = y), float64, unnormalised.
 */
export function simplexNoise3DFixedT(options: SimplexNoise3DOptions): Float64Array {
  const { height, width, t, seed, octaves = 6, persistence = 0.8, frequency = 64 } = options;
  for (const [name, v] of [
    ['options.height', height],
    ['options.width', width],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) throw new ArgumentError(name, `expected a positive integer, got ${v}`);
  }
  if (!Number.isFinite(t)) throw new ArgumentError('options.t', `expected a finite number, got ${t}`);
  if (!Number.isInteger(octaves) || octaves < 0) {
    throw new ArgumentError('options.octaves', `expected a non-negative integer, got ${octaves}`);
  }
  if (!(frequency > 0)) throw new ArgumentError('options.frequency', `expected a positive number, got ${frequency}`);
  if (seed === 0 || seed === 0n) {
    throw new ArgumentError('options.seed', 'seed 0 means "random seed" upstream; pass a non-zero seed');
  }
  const gen = new OpenSimplex3D(seed);
  const map = new Float64Array(height * width);
  let amplitude = 1;
  let f = frequency;
  for (let o = 0; o < octaves; o++) {
    const fz = t / f;
    for (let y = 0; y < height; y++) {
      const fy = y / f;
      for (let x = 0; x < width; x++) map[y * width + x] += amplitude * gen.noise3(x / f, fy, fz);
    }
    f /= 2;
    amplitude *= persistence;
  }
  return map;
}

/**
 * THOR's simplex noise (AnoDDPM `generate_simplex_noise`): one 3D-simplex map at the fixed
 * coordinate t with a fresh seed drawn from `rng`, shared by every image (and channel) of the
 * batch, as an NHWC float32 tensor of `shape` = [B, H, W, C]. Not normalised.
 */
export function simplexNoise3DBatch(
  shape: readonly [number, number, number, number],
  t: number,
  rng: SeededRNG,
  options: Omit<SimplexNoise3DOptions, 'height' | 'width' | 't' | 'seed'> & { seed?: number | bigint } = {},
): tf.Tensor4D {
  if (!Array.isArray(shape) || shape.length !== 4 || shape.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new ArgumentError(
      'shape',
      `expected [batch, height, width, channels] of positive integers, got ${JSON.stringify(shape)}`,
    );
  }
  const [b, h, w, c] = shape;
  const seed = options.seed ?? drawSimplexSeed(rng);
  const map = simplexNoise3DFixedT({ ...options, height: h, width: w, t, seed });
  return tf.tidy(() => tf.tile(tf.tensor4d(Float32Array.from(map), [1, h, w, 1]), [b, 1, 1, c]) as tf.Tensor4D);
}
