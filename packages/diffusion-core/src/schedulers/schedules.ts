/**
 * Noise schedules: a named registry of β schedules and the {@link NoiseSchedule} that holds every
 * table the samplers need, in float64 (with float32 casts alongside).
 *
 * Ported from
 * - openai/guided-diffusion `guided_diffusion/gaussian_diffusion.py` (`get_named_beta_schedule`,
 *   `betas_for_alpha_bar`, `GaussianDiffusion.__init__`), identical in JuliaWolleb/diffusion-anomaly;
 * - FinnBehrendt/Conditioned-Diffusion-Models-UAD `src/models/modules/cond_DDPM.py`
 *   (`cosine_beta_schedule(timesteps, s=0.008)`, clipped to [0, 0.999], float64);
 * - ci-ber/THOR_DDPM `net_utils/scheduler.py` `Scheduler` (linear, entirely float32 torch ops);
 * - diffusers `scaled_linear` (linspace of √β, squared).
 *
 * Index t of every table is the 0-based timestep: ᾱ[0] = 1 − β[0] is the noise level after one
 * forward step (guided-diffusion convention).
 */
import { ArgumentError } from '../errors.js';

/** Options of the built-in β schedules (each schedule reads the ones it understands). */
export interface BetaScheduleOptions {
  /** First β of linear schedules (default: `1e-4·1000/T` for `linear`, `1e-4` otherwise). */
  betaStart?: number;
  /** Last β of linear schedules (default: `0.02·1000/T` for `linear`, `0.02` otherwise). */
  betaEnd?: number;
  /** Offset s of the cosine schedules (default 0.008). */
  s?: number;
  /** Upper clip of β for the cosine schedules (default 0.999). */
  maxBeta?: number;
}

/**
 * What a β-schedule function returns. `alphas` and `alphasCumprod` are optional overrides for
 * schedules whose reference code does not compute them as float64 `1 − β` / `cumprod` (THOR's
 * float32 tables); by default they are derived in float64.
 */
export interface BetaScheduleTables {
  betas: Float64Array;
  alphas?: Float64Array;
  alphasCumprod?: Float64Array;
}

export type BetaScheduleFn = (numTrainTimesteps: number, options: BetaScheduleOptions) => BetaScheduleTables;

const registry = new Map<string, BetaScheduleFn>();

/** Registers (or replaces) a named β schedule. */
export function registerBetaSchedule(name: string, fn: BetaScheduleFn): void {
  if (typeof name !== 'string' || name.length === 0) throw new ArgumentError('name', 'expected a non-empty string');
  if (typeof fn !== 'function') throw new ArgumentError('fn', 'expected a function');
  registry.set(name, fn);
}

/** Names of all registered β schedules. */
export function listBetaSchedules(): string[] {
  return [...registry.keys()];
}

function checkNumTimesteps(numTrainTimesteps: number): void {
  if (!Number.isInteger(numTrainTimesteps) || numTrainTimesteps < 1) {
    throw new ArgumentError('numTrainTimesteps', `expected a positive integer, got ${numTrainTimesteps}`);
  }
}

function lookup(name: string): BetaScheduleFn {
  const fn = registry.get(name);
  if (!fn) {
    throw new ArgumentError('name', `unknown beta schedule '${name}' (registered: ${listBetaSchedules().join(', ')})`);
  }
  return fn;
}

/** The raw tables of the named schedule (β and, where the schedule defines them, α and ᾱ). */
export function getBetaScheduleTables(
  name: string,
  numTrainTimesteps: number,
  options: BetaScheduleOptions = {},
): BetaScheduleTables {
  checkNumTimesteps(numTrainTimesteps);
  const tables = lookup(name)(numTrainTimesteps, options);
  if (!(tables?.betas instanceof Float64Array) || tables.betas.length !== numTrainTimesteps) {
    throw new ArgumentError('name', `beta schedule '${name}' did not return ${numTrainTimesteps} float64 betas`);
  }
  return tables;
}

/** The float64 β table of the named schedule (`linear`, `cosine`, `behrendtCosine`, `scaledLinear`, `thorLinear`, …). */
export function getBetaSchedule(
  name: string,
  numTrainTimesteps: number,
  options: BetaScheduleOptions = {},
): Float64Array {
  return getBetaScheduleTables(name, numTrainTimesteps, options).betas;
}

/** The full {@link NoiseSchedule} of the named β schedule. */
export function getNoiseSchedule(
  name: string,
  numTrainTimesteps: number,
  options: BetaScheduleOptions = {},
): NoiseSchedule {
  return NoiseSchedule.fromTables(getBetaScheduleTables(name, numTrainTimesteps, options));
}

// ---------------------------------------------------------------------------------------------
// Built-in schedules

/**
 * `np.linspace(start, stop, num)` in float64, in numpy's order: `arange(num)·step + start` with
 * `step = (stop − start)/(num − 1)` and the last entry set to `stop`.
 */
export function linspaceFloat64(start: number, stop: number, num: number): Float64Array {
  const out = new Float64Array(num);
  if (num === 1) {
    out[0] = start;
    return out;
  }
  const step = (stop - start) / (num - 1);
  for (let i = 0; i < num; i++) out[i] = i * step + start;
  out[num - 1] = stop;
  return out;
}

/** float32 fused multiply-add `round32(a·b + c)`; exact for float32 a, c and small integer b. */
function fmaF32(a: number, b: number, c: number): number {
  return Math.fround(a * b + c);
}

/**
 * `torch.linspace(start, end, steps, dtype=torch.float32)` as PyTorch 1.13 computes it on an AVX2
 * CPU (`aten/src/ATen/native/cpu/RangeFactoriesKernel.cpp` `linspace_kernel`): float32
 * `step = (end − start)/(steps − 1)`; 8-wide vector chunks whose base is the fused
 * `start + step·idx` (first half) or `end − step·(steps − idx − 1)` (second half), lanes
 * `base + k·step`; the tail that does not fill two vectors uses the scalar formula.
 * Reproduces THOR's float32 β table bit for bit.
 */
export function linspaceFloat32Torch(start: number, end: number, steps: number): Float64Array {
  const out = new Float64Array(steps);
  const s = Math.fround(start);
  const e = Math.fround(end);
  if (steps === 1) {
    out[0] = s;
    return out;
  }
  const step = Math.fround(Math.fround(e - s) / Math.fround(steps - 1));
  const halfway = Math.floor(steps / 2);
  const scalar = (idx: number): number => (idx < halfway ? fmaF32(step, idx, s) : fmaF32(-step, steps - idx - 1, e));
  const W = 8;
  let i = 0;
  for (; i <= steps - 2 * W; i += W) {
    const base = scalar(i);
    for (let k = 0; k < W; k++) out[i + k] = Math.fround(base + Math.fround(k * step));
  }
  for (; i < steps; i++) out[i] = scalar(i);
  return out;
}

/**
 * guided-diffusion `betas_for_alpha_bar`: β_i = min(1 − ᾱ(t₂)/ᾱ(t₁), maxBeta) with t₁ = i/T,
 * t₂ = (i+1)/T (Nichol & Dhariwal 2021, Eq. 17).
 */
export function betasForAlphaBar(
  numTrainTimesteps: number,
  alphaBar: (t: number) => number,
  maxBeta = 0.999,
): Float64Array {
  const betas = new Float64Array(numTrainTimesteps);
  for (let i = 0; i < numTrainTimesteps; i++) {
    const t1 = i / numTrainTimesteps;
    const t2 = (i + 1) / numTrainTimesteps;
    betas[i] = Math.min(1 - alphaBar(t2) / alphaBar(t1), maxBeta);
  }
  return betas;
}

/** guided-diffusion `get_named_beta_schedule('linear', T)`: linspace scaled by 1000/T so any T matches T = 1000. */
const linear: BetaScheduleFn = (T, o) => {
  const scale = 1000 / T;
  const betaStart = o.betaStart ?? scale * 0.0001;
  const betaEnd = o.betaEnd ?? scale * 0.02;
  return { betas: linspaceFloat64(betaStart, betaEnd, T) };
};

/** guided-diffusion `get_named_beta_schedule('cosine', T)`: ᾱ(t) = cos²((t + 0.008)/1.008 · π/2). */
const cosine: BetaScheduleFn = (T, o) => {
  const s = o.s ?? 0.008;
  return {
    betas: betasForAlphaBar(T, (t) => Math.cos(((t + s) / (1 + s)) * Math.PI * 0.5) ** 2, o.maxBeta ?? 0.999),
  };
};

/**
 * Behrendt's `cosine_beta_schedule(T, s=0.008)` (`cond_DDPM.py`): ᾱ(x) = cos²(((x/T) + s)/(1 + s)·π·0.5)
 * on x = 0…T, normalised by ᾱ(0), β = 1 − ᾱ[1:]/ᾱ[:−1] clipped to [0, maxBeta], all float64.
 */
const behrendtCosine: BetaScheduleFn = (T, o) => {
  const s = o.s ?? 0.008;
  const maxBeta = o.maxBeta ?? 0.999;
  const ac = new Float64Array(T + 1);
  for (let x = 0; x <= T; x++) {
    const c = Math.cos(((x / T + s) / (1 + s)) * Math.PI * 0.5);
    ac[x] = c * c;
  }
  const a0 = ac[0];
  for (let x = 0; x <= T; x++) ac[x] = ac[x] / a0;
  const betas = new Float64Array(T);
  for (let i = 0; i < T; i++) betas[i] = Math.min(Math.max(1 - ac[i + 1] / ac[i], 0), maxBeta);
  return { betas };
};

/** diffusers `scaled_linear`: β = linspace(√βstart, √βend, T)², here in float64. */
const scaledLinear: BetaScheduleFn = (T, o) => {
  const sq = linspaceFloat64(Math.sqrt(o.betaStart ?? 0.0001), Math.sqrt(o.betaEnd ?? 0.02), T);
  return { betas: sq.map((v) => v * v) };
};

/**
 * THOR `net_utils/scheduler.py` `Scheduler(beta_schedule='linear')`: β = torch.linspace(…, float32),
 * α = 1 − β in float32, ᾱ = torch.cumprod(α) (float32 tensor; the CPU kernel accumulates in double
 * and rounds each output to float32). The tables hold float32 values exactly.
 */
const thorLinear: BetaScheduleFn = (T, o) => {
  const betas = linspaceFloat32Torch(o.betaStart ?? 0.0001, o.betaEnd ?? 0.02, T);
  const alphas = betas.map((b) => Math.fround(1 - b));
  const alphasCumprod = new Float64Array(T);
  let acc = 1;
  for (let i = 0; i < T; i++) {
    acc *= alphas[i];
    alphasCumprod[i] = Math.fround(acc);
  }
  return { betas, alphas, alphasCumprod };
};

registerBetaSchedule('linear', linear);
registerBetaSchedule('cosine', cosine);
registerBetaSchedule('behrendtCosine', behrendtCosine);
registerBetaSchedule('scaledLinear', scaledLinear);
registerBetaSchedule('thorLinear', thorLinear);

// ---------------------------------------------------------------------------------------------
// NoiseSchedule

/** float32 casts of the {@link NoiseSchedule} tables (what `_extract_into_tensor(...).float()` sees). */
export interface NoiseScheduleFloat32 {
  betas: Float32Array;
  alphas: Float32Array;
  alphasCumprod: Float32Array;
  alphasCumprodPrev: Float32Array;
  alphasCumprodNext: Float32Array;
  sqrtAlphasCumprod: Float32Array;
  sqrtOneMinusAlphasCumprod: Float32Array;
  sqrtRecipAlphasCumprod: Float32Array;
  sqrtRecipm1AlphasCumprod: Float32Array;
  posteriorVariance: Float32Array;
  posteriorLogVarianceClipped: Float32Array;
  posteriorMeanCoef1: Float32Array;
  posteriorMeanCoef2: Float32Array;
  logBetas: Float32Array;
}

/**
 * Every table of a diffusion process, in float64, computed as guided-diffusion's
 * `GaussianDiffusion.__init__` does; `float32` holds the per-entry casts.
 *
 * A respaced schedule (see {@link NoiseSchedule.respace}) has fewer entries; `timestepMap[i]` is
 * the original training timestep of entry i (the identity for an unspaced schedule).
 */
export class NoiseSchedule {
  readonly numTimesteps: number;
  readonly betas: Float64Array;
  readonly alphas: Float64Array;
  readonly alphasCumprod: Float64Array;
  /** ᾱ_{t−1}, with 1 at t = 0. */
  readonly alphasCumprodPrev: Float64Array;
  /** ᾱ_{t+1}, with 0 at the last t. */
  readonly alphasCumprodNext: Float64Array;
  readonly sqrtAlphasCumprod: Float64Array;
  readonly sqrtOneMinusAlphasCumprod: Float64Array;
  readonly logOneMinusAlphasCumprod: Float64Array;
  readonly sqrtRecipAlphasCumprod: Float64Array;
  readonly sqrtRecipm1AlphasCumprod: Float64Array;
  /** β̃_t = β_t (1 − ᾱ_{t−1})/(1 − ᾱ_t) (DDPM Eq. 7). */
  readonly posteriorVariance: Float64Array;
  /** log β̃_t with entry 0 replaced by entry 1 before the log (β̃_0 = 0). */
  readonly posteriorLogVarianceClipped: Float64Array;
  readonly posteriorMeanCoef1: Float64Array;
  readonly posteriorMeanCoef2: Float64Array;
  readonly logBetas: Float64Array;
  /** Original training timestep of each entry. */
  readonly timestepMap: Int32Array;
  private f32: NoiseScheduleFloat32 | null = null;

  private constructor(tables: BetaScheduleTables, timestepMap?: Int32Array) {
    const betas = Float64Array.from(tables.betas);
    const T = betas.length;
    if (T < 1) throw new ArgumentError('betas', 'expected at least one entry');
    for (let i = 0; i < T; i++) {
      if (!(betas[i] > 0 && betas[i] <= 1)) {
        throw new ArgumentError('betas', `entry ${i} is ${betas[i]}, expected 0 < β ≤ 1`);
      }
    }
    for (const [key, arr] of [
      ['alphas', tables.alphas],
      ['alphasCumprod', tables.alphasCumprod],
    ] as const) {
      if (arr !== undefined && arr.length !== T) {
        throw new ArgumentError(key, `expected ${T} entries like betas, got ${arr.length}`);
      }
    }
    this.numTimesteps = T;
    this.betas = betas;
    const alphas = tables.alphas ? Float64Array.from(tables.alphas) : betas.map((b) => 1.0 - b);
    this.alphas = alphas;
    let ac: Float64Array;
    if (tables.alphasCumprod) {
      ac = Float64Array.from(tables.alphasCumprod);
    } else {
      // np.cumprod(alphas): sequential float64 products.
      ac = new Float64Array(T);
      let acc = 1;
      for (let i = 0; i < T; i++) {
        acc *= alphas[i];
        ac[i] = acc;
      }
    }
    this.alphasCumprod = ac;
    const acPrev = new Float64Array(T);
    const acNext = new Float64Array(T);
    for (let i = 0; i < T; i++) {
      acPrev[i] = i === 0 ? 1.0 : ac[i - 1];
      acNext[i] = i === T - 1 ? 0.0 : ac[i + 1];
    }
    this.alphasCumprodPrev = acPrev;
    this.alphasCumprodNext = acNext;
    this.sqrtAlphasCumprod = ac.map((a) => Math.sqrt(a));
    this.sqrtOneMinusAlphasCumprod = ac.map((a) => Math.sqrt(1.0 - a));
    this.logOneMinusAlphasCumprod = ac.map((a) => Math.log(1.0 - a));
    this.sqrtRecipAlphasCumprod = ac.map((a) => Math.sqrt(1.0 / a));
    this.sqrtRecipm1AlphasCumprod = ac.map((a) => Math.sqrt(1.0 / a - 1));
    // Calculations for the posterior q(x_{t−1} | x_t, x_0) (DDPM Eq. 6–7), in guided-diffusion's order.
    const pv = new Float64Array(T);
    const c1 = new Float64Array(T);
    const c2 = new Float64Array(T);
    for (let i = 0; i < T; i++) {
      pv[i] = (betas[i] * (1.0 - acPrev[i])) / (1.0 - ac[i]);
      c1[i] = (betas[i] * Math.sqrt(acPrev[i])) / (1.0 - ac[i]);
      c2[i] = ((1.0 - acPrev[i]) * Math.sqrt(alphas[i])) / (1.0 - ac[i]);
    }
    this.posteriorVariance = pv;
    // log calculation clipped because the posterior variance is 0 at the beginning of the chain.
    this.posteriorLogVarianceClipped = pv.map((v, i) => Math.log(i === 0 ? (T > 1 ? pv[1] : v) : v));
    this.posteriorMeanCoef1 = c1;
    this.posteriorMeanCoef2 = c2;
    this.logBetas = betas.map((b) => Math.log(b));
    if (timestepMap !== undefined && timestepMap.length !== T) {
      throw new ArgumentError('timestepMap', `expected ${T} entries, got ${timestepMap.length}`);
    }
    this.timestepMap = timestepMap ?? Int32Array.from({ length: T }, (_, i) => i);
  }

  /** A schedule from β (and optionally α / ᾱ overrides); all other tables are derived in float64. */
  static fromTables(tables: BetaScheduleTables, timestepMap?: Int32Array): NoiseSchedule {
    return new NoiseSchedule(tables, timestepMap);
  }

  /** A schedule from a plain β array (e.g. `trainedBetas`). */
  static fromBetas(betas: ArrayLike<number>): NoiseSchedule {
    return new NoiseSchedule({ betas: Float64Array.from(betas) });
  }

  /**
   * guided-diffusion `SpacedDiffusion`: keep the entries in `useTimesteps` (indices of this schedule)
   * and recompute β'_i = 1 − ᾱ[k_i]/ᾱ[k_{i−1}] so that ᾱ at the kept steps is preserved; ᾱ' is then
   * re-accumulated from β' in float64, as upstream does.
   */
  respace(useTimesteps: Iterable<number>): NoiseSchedule {
    const keep = new Set<number>();
    for (const t of useTimesteps) {
      if (!Number.isInteger(t) || t < 0 || t >= this.numTimesteps) {
        throw new ArgumentError('useTimesteps', `timestep ${t} is outside [0, ${this.numTimesteps - 1}]`);
      }
      keep.add(t);
    }
    if (keep.size === 0) throw new ArgumentError('useTimesteps', 'expected at least one timestep');
    const newBetas: number[] = [];
    const map: number[] = [];
    let last = 1.0;
    for (let i = 0; i < this.numTimesteps; i++) {
      if (keep.has(i)) {
        newBetas.push(1 - this.alphasCumprod[i] / last);
        last = this.alphasCumprod[i];
        map.push(this.timestepMap[i]);
      }
    }
    return new NoiseSchedule({ betas: Float64Array.from(newBetas) }, Int32Array.from(map));
  }

  /** Per-entry float32 casts of every table (computed once). */
  get float32(): NoiseScheduleFloat32 {
    if (!this.f32) {
      const c = (a: Float64Array) => Float32Array.from(a);
      this.f32 = {
        betas: c(this.betas),
        alphas: c(this.alphas),
        alphasCumprod: c(this.alphasCumprod),
        alphasCumprodPrev: c(this.alphasCumprodPrev),
        alphasCumprodNext: c(this.alphasCumprodNext),
        sqrtAlphasCumprod: c(this.sqrtAlphasCumprod),
        sqrtOneMinusAlphasCumprod: c(this.sqrtOneMinusAlphasCumprod),
        sqrtRecipAlphasCumprod: c(this.sqrtRecipAlphasCumprod),
        sqrtRecipm1AlphasCumprod: c(this.sqrtRecipm1AlphasCumprod),
        posteriorVariance: c(this.posteriorVariance),
        posteriorLogVarianceClipped: c(this.posteriorLogVarianceClipped),
        posteriorMeanCoef1: c(this.posteriorMeanCoef1),
        posteriorMeanCoef2: c(this.posteriorMeanCoef2),
        logBetas: c(this.logBetas),
      };
    }
    return this.f32;
  }
}
