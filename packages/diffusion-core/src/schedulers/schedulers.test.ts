/**
 * Behaviour of DDPMScheduler / DDIMScheduler beyond the fixture steps: config round trips, typed
 * errors, respacing, stochastic steps, per-sample timesteps, the DDIM(η = 1) = DDPM identity and
 * DDIM inversion, all leak-free.
 */
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { describeBackends, expectClose, expectNoLeaks, maxAbsDiff, readSafetensorsFile } from '@adx/test-utils';
import { ArgumentError, ConfigError } from '../errors.js';
import { SeededRNG } from '../random/rng.js';
import { DDIMScheduler } from './ddim.js';
import { DDPMScheduler } from './ddpm.js';
import { getNoiseSchedule } from './schedules.js';

const io = readSafetensorsFile(new URL('../../test-fixtures/parity/scheduler_steps/io.safetensors', import.meta.url));
/** Fixture tensors are [2,1,32,32]; with one channel NCHW and NHWC hold the same data order. */
const fx = (name: string) => tf.tensor4d(Float32Array.from(io.tensors.get(name)!.data as Float32Array), [2, 32, 32, 1]);

describe('scheduler configs', () => {
  it('toConfig() is plain JSON and fromConfig(toConfig()) rebuilds an identical scheduler', async () => {
    const a = DDPMScheduler.fromPreset('thor');
    const json = JSON.parse(JSON.stringify(a.toConfig()));
    expect(json).toEqual({
      numTrainTimesteps: 1000,
      betaSchedule: 'thorLinear',
      betaStart: null,
      betaEnd: null,
      trainedBetas: null,
      timestepRespacing: null,
      predictionType: 'epsilon',
      clipSample: true,
      clipSampleRange: 1,
      varianceType: 'fixedSmall',
      formulation: 'diffusers',
    });
    const b = DDPMScheduler.fromConfig(json);
    expect(Array.from(b.schedule.alphasCumprod)).toEqual(Array.from(a.schedule.alphasCumprod));
    const d = new DDIMScheduler({ timestepRespacing: 'ddim50', clipSampleRange: [0, 1] });
    const d2 = DDIMScheduler.fromConfig(JSON.parse(JSON.stringify(d.toConfig())));
    expect(d2.toConfig()).toEqual(d.toConfig());
    expect(Array.from(d2.timestepMap)).toEqual(Array.from(d.timestepMap));
    expect(new DDIMScheduler({ betaStart: undefined }).toConfig().betaStart).toBe(null);
    // trainedBetas override the named schedule.
    const t = new DDPMScheduler({ numTrainTimesteps: 3, trainedBetas: [0.1, 0.2, 0.3] });
    expect(t.schedule.alphasCumprod[2]).toBeCloseTo(0.9 * 0.8 * 0.7, 15);
  });

  it('unknown keys and bad values are ConfigErrors naming the key', () => {
    expect(() => DDPMScheduler.fromConfig({ numTrainTimesteps: 1000, betaShedule: 'linear' } as never)).toThrow(
      /key 'betaShedule': unknown key/,
    );
    expect(() => DDIMScheduler.fromConfig({ eta: 0 } as never)).toThrow(ConfigError);
    expect(() => new DDPMScheduler({ varianceType: 'learned' as never })).toThrow(/'varianceType'/);
    expect(() => new DDPMScheduler({ formulation: 'x' as never })).toThrow(/'formulation'/);
    expect(() => new DDPMScheduler({ betaSchedule: 'nope' })).toThrow(/'betaSchedule'.*unknown beta schedule/);
    expect(() => new DDPMScheduler({ timestepRespacing: 'ddim999' })).toThrow(/'timestepRespacing'/);
    expect(() => new DDIMScheduler({ clipSampleRange: [1, 0] })).toThrow(/'clipSampleRange'/);
    expect(() => new DDIMScheduler({ trainedBetas: [0.1] })).toThrow(/'trainedBetas'/);
    expect(() => new DDIMScheduler({ predictionType: 'v_prediction' as never })).toThrow(/'predictionType'/);
  });

  it('setTimesteps respaces like guided-diffusion and maps indices to training timesteps', () => {
    const s = new DDIMScheduler();
    expect(s.numInferenceSteps).toBe(1000);
    expect(s.timesteps[0]).toBe(999);
    s.setTimesteps('ddim50');
    expect(s.numInferenceSteps).toBe(50);
    expect(Array.from(s.timesteps.slice(0, 3))).toEqual([49, 48, 47]);
    expect(s.modelTimesteps([49, 0])).toEqual([980, 0]);
    expect(s.toConfig().timestepRespacing).toBe('ddim50');
    // ᾱ at kept steps is preserved (β recomputed from ᾱ ratios).
    expect(s.schedule.alphasCumprod[49] / s.trainSchedule.alphasCumprod[980]).toBeCloseTo(1, 12);
    s.setTimesteps(100);
    expect(s.modelTimesteps(99)).toEqual([999]);
    s.setTimesteps('ddim1000'); // identity map, but β recomputed from ᾱ as SpacedDiffusion does
    expect(Array.from(s.timestepMap)).toEqual(Array.from(s.trainSchedule.timestepMap));
    expect(s.schedule).not.toBe(s.trainSchedule);
    s.setTimesteps(null);
    expect(s.schedule).toBe(s.trainSchedule);
    expect(s.toConfig().timestepRespacing).toBe(null);
    expect(() => s.setTimesteps('2000')).toThrow(ArgumentError);
  });
});

describeBackends('schedulers', () => {
  it('typed errors: timestep out of range, batch/shape mismatches, missing noise (leak-free)', async () => {
    const s = DDPMScheduler.fromPreset('thor');
    const d = new DDIMScheduler({ timestepRespacing: 'ddim10' });
    const x = tf.zeros([2, 4, 4, 1]);
    const wide = tf.zeros([2, 4, 4, 3]);
    const twoCh = tf.zeros([2, 4, 4, 2]);
    const single = tf.zeros([1, 4, 4, 1]);
    await expectNoLeaks(() => {
      expect(() => s.step(x, 1000, x, { noise: x })).toThrow(/'timestep'.*outside \[0, 999\]/);
      expect(() => s.step(x, -1, x)).toThrow(ArgumentError);
      expect(() => s.step(x, 1.5, x)).toThrow(ArgumentError);
      expect(() => s.addNoise(x, x, [1, 2, 3])).toThrow(/'timesteps'.*3 timesteps for a batch of 2/);
      expect(() => s.step(wide, 5, x)).toThrow(/'modelOutput'.*expected shape \[2, 4, 4, 1\]/);
      expect(() => s.addNoise(x, twoCh, 5)).toThrow(/'noise'/);
      expect(() => s.step(x, 5, x)).toThrow(/options.noise or options.generator/);
      expect(() => s.step(x, 5, x, { noise: single })).toThrow(/'options.noise'/);
      expect(() => d.reversedStep(x, 10, x)).toThrow(/outside \[0, 9\]/);
      expect(() => d.step(x, 3, x, { eta: -1 })).toThrow(/'options.eta'/);
      expect(() => d.step(x, 3, x, { guidanceGradient: twoCh })).toThrow(/'options.guidanceGradient'/);
    });
    tf.dispose([x, wide, twoCh, single]);
  });

  it('guided-diffusion p_sample = pmv mean + exp(½·log variance)·z for t > 0, = mean at t = 0 (fixture)', async () => {
    const gd = DDPMScheduler.fromPreset('wolleb');
    await expectNoLeaks(async () => {
      const [xt, eps, v, z] = ['x_t', 'eps', 'var_v', 'thor_z'].map(fx);
      const out = tf.concat([eps, v], 3);
      for (const [c, t] of [
        ['t499', 499],
        ['t0', 0],
        ['tmix', [1, 998]],
      ] as const) {
        const step = gd.step(out, t as number | number[], xt, { noise: z });
        const expected = tf.tidy(() => {
          const mean = fx(`gd_${c}_pmv_mean`);
          const lv = fx(`gd_${c}_pmv_log_variance`);
          return c === 't0' ? mean : tf.add(mean, tf.mul(tf.exp(tf.mul(0.5, lv)), z));
        });
        expectClose(await step.prevSample.data(), await expected.data(), 2e-6, c);
        tf.dispose([step.prevSample, step.predOriginalSample, expected]);
      }
      tf.dispose([xt, eps, v, z, out]);
    });
  });

  it('per-sample timesteps equal separate calls; any rank works; generator = explicit noise', async () => {
    const s = new DDPMScheduler();
    await expectNoLeaks(async () => {
      const x0 = tf.tensor2d([0.5, -0.25, 1, 0.75], [2, 2]);
      const n = tf.tensor2d([1, 2, -1, 0.5], [2, 2]);
      expect(s.scaleModelInput(x0, 3)).toBe(x0); // diffusers API: identity for DDPM
      expect(s.initNoiseSigma).toBe(1);
      const both = s.addNoise(x0, n, [3, 700]);
      const a = s.addNoise(x0, n, 3);
      const b = s.addNoise(x0, n, 700);
      const [dBoth, dA, dB] = await Promise.all([both.data(), a.data(), b.data()]);
      expect(Array.from(dBoth)).toEqual([dA[0], dA[1], dB[2], dB[3]]);
      // Hand check: √ᾱ·x₀ + √(1−ᾱ)·ε in float64.
      const ac = s.schedule.alphasCumprod[700];
      expect(dBoth[2]).toBeCloseTo(Math.sqrt(ac) * 1 + Math.sqrt(1 - ac) * -1, 6);
      const g1 = s.step(n, 500, x0, { generator: new SeededRNG(9) });
      const z = new SeededRNG(9).randn([2, 2]);
      const g2 = s.step(n, 500, x0, { noise: z });
      expect(Array.from(await g1.prevSample.data())).toEqual(Array.from(await g2.prevSample.data()));
      tf.dispose([x0, n, both, a, b, z, ...Object.values(g1), ...Object.values(g2)]);
    });
  });

  it('DDIM with η = 1 equals the DDPM ancestral step with β̃ variance (Song et al. §4.1)', async () => {
    const ddim = new DDIMScheduler({ clipSample: false });
    const ddpm = new DDPMScheduler({ clipSample: false, varianceType: 'fixedSmall' });
    await expectNoLeaks(async () => {
      const x = new SeededRNG(1).randn([2, 3, 3, 1]);
      const eps = new SeededRNG(2).randn([2, 3, 3, 1]);
      const z = new SeededRNG(3).randn([2, 3, 3, 1]);
      for (const t of [1, 250, 999]) {
        const a = ddim.step(eps, t, x, { eta: 1, noise: z });
        const b = ddpm.step(eps, t, x, { noise: z });
        expectClose(await a.prevSample.data(), await b.prevSample.data(), 5e-5, `t=${t}`);
        tf.dispose([...Object.values(a), ...Object.values(b)]);
      }
      tf.dispose([x, eps, z]);
    });
  });

  it('DDIM inversion: step(reversedStep(x_t)) returns x_t for a fixed ε, on a respaced schedule', async () => {
    const ddim = new DDIMScheduler({ clipSample: false, timestepRespacing: 'ddim50' });
    await expectNoLeaks(async () => {
      const x = new SeededRNG(4).randn([2, 4, 4, 1]);
      const eps = new SeededRNG(5).randn([2, 4, 4, 1]);
      for (const t of [0, 10, 48]) {
        const up = ddim.reversedStep(eps, t, x);
        const down = ddim.step(eps, t + 1, up.nextSample);
        expect(maxAbsDiff(await down.prevSample.data(), await x.data()), `t=${t}`).toBeLessThan(1e-4);
        tf.dispose([...Object.values(up), ...Object.values(down)]);
      }
      tf.dispose([x, eps]);
    });
  });

  it('x₀-prediction, clip ranges and fixed-large variance (hand-computed)', async () => {
    await expectNoLeaks(async () => {
      const s = new DDPMScheduler({ predictionType: 'sample', clipSampleRange: [0, 1], varianceType: 'fixedLarge' });
      const out = tf.tensor1d([-0.5, 0.25, 2]);
      const x = tf.tensor1d([0.1, 0.2, 0.3]);
      const r = s.step(out, 0, x);
      expect(Array.from(await r.predOriginalSample.data())).toEqual([0, 0.25, 1]);
      const sched = getNoiseSchedule('linear', 1000);
      // At t = 0 the posterior mean is x̂₀ (coef1 = 1, coef2 = 0).
      expectClose(await r.prevSample.data(), [0, 0.25, 1], 1e-7);
      expect(s.getVariance(10)).toBe(Math.fround(sched.betas[10]));
      expect(s.getVariance(0)).toBe(Math.fround(sched.posteriorVariance[1]));
      const thor = DDPMScheduler.fromPreset('thor');
      expect(thor.getVariance(0)).toBe(Math.fround(1e-20));
      tf.dispose([out, x, r.prevSample, r.predOriginalSample]);
    });
  });

  it('learned range without variance values is a ConfigError; varianceValues option works', async () => {
    const s = DDPMScheduler.fromPreset('wolleb');
    await expectNoLeaks(async () => {
      const x = tf.ones([1, 2, 2, 1]);
      expect(() => s.pMeanVariance(x, 10, x)).toThrow(/'varianceType'/);
      const v = tf.fill([1, 2, 2, 1], 1); // v = 1 → Σ = β_t
      const pmv = s.pMeanVariance(x, 10, x, { varianceValues: v });
      expectClose(await pmv.variance.data(), new Array(4).fill(s.schedule.betas[10]), 1e-9);
      tf.dispose([x, v, ...Object.values(pmv)]);
    });
  });
});
