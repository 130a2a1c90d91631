import { describe, expect, it } from 'vitest';
import { maxAbsDiff, readJson } from '@adx/test-utils';
import { ArgumentError } from '../errors.js';
import {
  NoiseSchedule,
  getBetaSchedule,
  getBetaScheduleTables,
  getNoiseSchedule,
  linspaceFloat64,
  listBetaSchedules,
  registerBetaSchedule,
} from './schedules.js';
import { spaceTimesteps } from './respacing.js';

type Table = number[];
const fixture = readJson<{
  guided_diffusion_linear: Record<string, Table>;
  guided_diffusion_cosine: Record<string, Table>;
  behrendt_cosine: Record<string, Table>;
  thor_linear: Record<string, Table>;
  guided_diffusion_respacing: Record<string, Table>;
}>(new URL('../../test-fixtures/parity/schedules.json', import.meta.url));

/** max_i |a_i − b_i| / max(|b_i|, tiny). */
function maxRelDiff(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]) / Math.max(Math.abs(expected[i]), 1e-300);
    worst = Number.isNaN(d) ? Infinity : Math.max(worst, d);
  }
  return worst;
}

describe('beta schedules vs schedules.json', () => {
  it('guided-diffusion linear: every GaussianDiffusion table (float64, ≤ 1e-12 relative)', () => {
    const s = getNoiseSchedule('linear', 1000);
    const ref = fixture.guided_diffusion_linear;
    const pairs: [keyof NoiseSchedule, string][] = [
      ['betas', 'betas'],
      ['alphasCumprod', 'alphas_cumprod'],
      ['alphasCumprodPrev', 'alphas_cumprod_prev'],
      ['alphasCumprodNext', 'alphas_cumprod_next'],
      ['sqrtRecipAlphasCumprod', 'sqrt_recip_alphas_cumprod'],
      ['sqrtRecipm1AlphasCumprod', 'sqrt_recipm1_alphas_cumprod'],
      ['posteriorVariance', 'posterior_variance'],
      ['posteriorLogVarianceClipped', 'posterior_log_variance_clipped'],
      ['posteriorMeanCoef1', 'posterior_mean_coef1'],
      ['posteriorMeanCoef2', 'posterior_mean_coef2'],
    ];
    for (const [ours, theirs] of pairs) {
      expect(maxRelDiff(s[ours] as Float64Array, ref[theirs]), theirs).toBeLessThanOrEqual(1e-12);
    }
    expect(s.alphasCumprodPrev[0]).toBe(1);
    expect(s.alphasCumprodNext[999]).toBe(0);
  });

  it('guided-diffusion cosine (betas_for_alpha_bar, max β 0.999)', () => {
    const s = getNoiseSchedule('cosine', 1000);
    expect(maxRelDiff(s.betas, fixture.guided_diffusion_cosine.betas)).toBeLessThanOrEqual(1e-12);
    expect(maxRelDiff(s.alphasCumprod, fixture.guided_diffusion_cosine.alphas_cumprod)).toBeLessThanOrEqual(1e-12);
    expect(s.betas[999]).toBe(0.999);
  });

  it("Behrendt's cosine: float64 tables and the float32 buffers inference uses", () => {
    const s = getNoiseSchedule('behrendtCosine', 1000);
    const ref = fixture.behrendt_cosine;
    // torch.cos (SIMD, ≤ 1 ulp) and Math.cos differ by one ulp at a few x; β = 1 − ᾱ_t/ᾱ_{t−1}
    // amplifies that by ~1/β at the smallest β (4e-5), so β is compared to 1e-15 absolute (≈ 4 ulp
    // of 1) and 1e-11 relative (observed: 4.4e-16 and 5.4e-12); ᾱ itself to 1e-12 relative.
    expect(maxAbsDiff(s.betas, ref.betas_float64)).toBeLessThanOrEqual(1e-15);
    expect(maxRelDiff(s.betas, ref.betas_float64)).toBeLessThanOrEqual(1e-11);
    expect(maxRelDiff(s.alphasCumprod, ref.alphas_cumprod_float64)).toBeLessThanOrEqual(1e-12);
    // The float32 buffers are bit-exact (requirement: 1e-6 relative).
    const f = s.float32;
    expect(maxRelDiff(f.betas, ref.betas_float32)).toBe(0);
    expect(maxRelDiff(f.alphasCumprod, ref.alphas_cumprod_float32)).toBe(0);
    expect(maxRelDiff(f.sqrtAlphasCumprod, ref.sqrt_alphas_cumprod_float32)).toBe(0);
    expect(maxRelDiff(f.sqrtOneMinusAlphasCumprod, ref.sqrt_one_minus_alphas_cumprod_float32)).toBe(0);
    expect(Math.max(...s.betas)).toBeLessThanOrEqual(0.999);
  });

  it("THOR's float32 linear tables (torch.linspace / cumprod in float32) bit for bit", () => {
    const t = getBetaScheduleTables('thorLinear', 1000);
    const ref = fixture.thor_linear;
    // ≤ 1e-6 relative is the requirement; the port is exact.
    expect(maxRelDiff(t.betas, ref.betas)).toBe(0);
    expect(maxRelDiff(t.alphas!, ref.alphas)).toBe(0);
    expect(maxRelDiff(t.alphasCumprod!, ref.alphas_cumprod)).toBe(0);
    // It differs from the float64 linear schedule around the 7th significant digit.
    const gd = getBetaSchedule('linear', 1000);
    const rel = maxRelDiff(t.betas, gd);
    expect(rel).toBeGreaterThan(1e-9);
    expect(rel).toBeLessThan(1e-6);
  });

  it('scaledLinear is the square of a linspace of √β (hand-computed ends and midpoint)', () => {
    const b = getBetaSchedule('scaledLinear', 3, { betaStart: 0.0001, betaEnd: 0.0009 });
    expect(b[0]).toBeCloseTo(0.0001, 15);
    expect(b[1]).toBeCloseTo(0.0004, 15); // ((0.01 + 0.03)/2)²
    expect(b[2]).toBeCloseTo(0.0009, 15);
  });

  it('linear scales with 1000/T as guided-diffusion does', () => {
    const b = getBetaSchedule('linear', 100);
    expect(b[0]).toBeCloseTo(0.001, 15);
    expect(b[99]).toBeCloseTo(0.2, 15);
    expect(Array.from(linspaceFloat64(0, 1, 5))).toEqual([0, 0.25, 0.5, 0.75, 1]);
  });

  it('users can register their own schedule; unknown names and bad tables are ArgumentErrors', () => {
    registerBetaSchedule('constantTest', (T) => ({ betas: new Float64Array(T).fill(0.01) }));
    expect(listBetaSchedules()).toContain('constantTest');
    const s = getNoiseSchedule('constantTest', 4);
    expect(s.alphasCumprod[3]).toBeCloseTo(0.99 ** 4, 15);
    expect(() => getBetaSchedule('nope', 10)).toThrow(ArgumentError);
    expect(() => getBetaSchedule('nope', 10)).toThrow(/'name'.*unknown beta schedule 'nope'/);
    expect(() => getBetaSchedule('linear', 0)).toThrow(/numTrainTimesteps/);
    registerBetaSchedule('badTest', () => ({ betas: new Float64Array(3) }));
    expect(() => getBetaSchedule('badTest', 10)).toThrow(ArgumentError);
    expect(() => NoiseSchedule.fromBetas([0.1, 0, 0.2])).toThrow(/entry 1/);
  });
});

describe('guided-diffusion respacing vs schedules.json', () => {
  const ref = fixture.guided_diffusion_respacing;
  it('space_timesteps for "ddim50", "ddim1000", "10,10"', () => {
    expect(spaceTimesteps(1000, 'ddim50')).toEqual(ref.space_timesteps_1000_ddim50);
    expect(spaceTimesteps(1000, 'ddim1000')).toEqual(ref.space_timesteps_1000_ddim1000);
    expect(spaceTimesteps(1000, '10,10')).toEqual(ref.space_timesteps_1000_10_10);
    expect(spaceTimesteps(1000, [10, 10])).toEqual(ref.space_timesteps_1000_10_10);
  });

  it('respaced ddim50 schedule: timestep map, betas, alphas_cumprod', () => {
    const s = getNoiseSchedule('linear', 1000).respace(spaceTimesteps(1000, 'ddim50'));
    expect(Array.from(s.timestepMap)).toEqual(ref.ddim50_timestep_map);
    expect(maxRelDiff(s.betas, ref.ddim50_betas)).toBeLessThanOrEqual(1e-12);
    expect(maxRelDiff(s.alphasCumprod, ref.ddim50_alphas_cumprod)).toBeLessThanOrEqual(1e-12);
  });

  it('hand-checked section rounding and errors', () => {
    // One section of 4 out of 10: stride 3 → 0, 3, 6, 9.
    expect(spaceTimesteps(10, 4)).toEqual([0, 3, 6, 9]);
    // Two sections of 5 out of 11 (sizes 6, 5): strides 1.25 and 1 → round-half-even at 2.5 → 2.
    expect(spaceTimesteps(11, '5,5')).toEqual([0, 1, 2, 4, 5, 6, 7, 8, 9, 10]);
    expect(spaceTimesteps(10, 'ddim5')).toEqual([0, 2, 4, 6, 8]);
    expect(() => spaceTimesteps(10, 'ddim7')).toThrow(/integer stride/);
    expect(() => spaceTimesteps(10, '3,9')).toThrow(/cannot divide section 1 of 5 steps into 9/);
    expect(() => spaceTimesteps(10, 'ddimx')).toThrow(ArgumentError);
  });
});
