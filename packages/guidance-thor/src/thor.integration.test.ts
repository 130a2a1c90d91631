import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import { describeBackends, expectClose, expectNoLeaks } from '@adx/test-utils';
import { DDPMScheduler, DiffusionModelUNet, SeededRNG } from '@adx/diffusion-core';
import { disposeIntermediates, thor, type NoiseFn } from './thor.js';

// A tiny THOR-family UNet (random weights) and THOR's scheduler (float32 linear table, x̂0 clip, fixed-small).
const model = DiffusionModelUNet.fromConfig(
  {
    inChannels: 1,
    outChannels: 1,
    numChannels: [32, 32],
    attentionLevels: [false, true],
    numResBlocks: 1,
    numHeadChannels: 32,
  },
  { seed: 3 },
);
const scheduler = DDPMScheduler.fromPreset('thor');
const image = () => new SeededRNG(11).rand([2, 16, 16, 1]) as tf.Tensor4D;

async function runOnce(seed: number) {
  const x = image();
  const res = await thor(model, x, {
    scheduler,
    tStart: 12,
    harmonizationSteps: [10],
    mapSteps: [12, 10, 5, 0],
    rng: seed,
  });
  const out = { map: await res.anomalyMap.data(), score: Array.from(res.score), reco: await res.reconstruction.data() };
  tf.dispose([x, res.anomalyMap, res.reconstruction]);
  return out;
}

describeBackends('thor with DiffusionModelUNet + DDPMScheduler.fromPreset("thor")', () => {
  it('is deterministic for a fixed seed, differs across seeds, and leaks nothing', async () => {
    const a = await expectNoLeaks(() => runOnce(1));
    const b = await runOnce(1);
    const c = await runOnce(2);
    expect(Array.from(a.map)).toEqual(Array.from(b.map));
    expect(a.score).toEqual(b.score);
    expect(Array.from(a.map)).not.toEqual(Array.from(c.map));
    expect(Math.min(...a.map)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...a.map)).toBeLessThanOrEqual(Math.fround(0.999));
    expect(Math.min(...a.reco)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...a.reco)).toBeLessThanOrEqual(1);
  });

  it('re-noises the blend with the kept ε0: z_t = √ᾱ_t·x̃0 + √(1−ᾱ_t)·ε0', async () => {
    // Record ε0 (the first noise draw) and the model input right after the harmonisation step.
    const draws: tf.Tensor4D[] = [];
    const noise: NoiseFn = (shape, rng) => {
      const t = rng.randn(shape) as tf.Tensor4D;
      draws.push(t.clone());
      return t;
    };
    const inputs = new Map<number, tf.Tensor4D>();
    const spy = {
      apply: (x: tf.Tensor4D, t: number | number[] | tf.Tensor1D) => {
        const tt = typeof t === 'number' ? t : (t as number[])[0]!;
        if (tt === 9) inputs.set(tt, tf.keep(x.clone()));
        return model.apply(x, t);
      },
    };
    const x = image();
    const res = await thor(spy, x, {
      scheduler,
      tStart: 12,
      harmonizationSteps: [10],
      rng: 5,
      noise,
      returnIntermediates: true,
    });
    const blend = res.intermediates!.blends.get(10)!;
    const expected = scheduler.addNoise(blend, draws[0]!, 10);
    expectClose(await inputs.get(9)!.data(), await expected.data(), 1e-6);
    tf.dispose([x, res.anomalyMap, res.reconstruction, expected, ...draws, ...inputs.values()]);
    disposeIntermediates(res.intermediates);
  });
});

describeBackends('thor with a strided chain (stride > 1)', () => {
  it('visits every k-th timestep, harmonises at the nearest visited step and re-noises with the original ᾱ', async () => {
    const seen: number[] = [];
    const draws: tf.Tensor4D[] = [];
    const noise: NoiseFn = (shape, rng) => {
      const t = rng.randn(shape) as tf.Tensor4D;
      draws.push(t.clone());
      return t;
    };
    let afterHarm: tf.Tensor4D | null = null;
    const spy = {
      apply: (x: tf.Tensor4D, t: number | number[] | tf.Tensor1D) => {
        const tt = typeof t === 'number' ? t : (t as number[])[0]!;
        seen.push(tt);
        if (tt === 40) afterHarm = tf.keep(x.clone());
        return model.apply(x, t);
      },
    };
    const x = image();
    const before = tf.memory().numTensors;
    const res = await thor(spy, x, { tStart: 64, stride: 10, noise, rng: 3, returnIntermediates: true });
    expect(seen.slice(0, 7)).toEqual([60, 50, 40, 30, 20, 10, 0]);
    expect([...res.intermediates!.blends.keys()]).toEqual([50]);
    expect([...res.intermediates!.anomalyMaps.keys()]).toEqual([50, 0]);
    // ᾱ of the respaced index for t = 50 equals the full schedule's ᾱ_50.
    const expected = scheduler.addNoise(res.intermediates!.blends.get(50)!, draws[0]!, 50);
    expectClose(await afterHarm!.data(), await expected.data(), 1e-6);
    tf.dispose([x, res.anomalyMap, res.reconstruction, expected, afterHarm!, ...draws]);
    disposeIntermediates(res.intermediates);
    expect(tf.memory().numTensors).toBe(before - 1); // x was created before the count
  });
});

// Cross-backend agreement (cpu / wasm / webgpu, with a UNet whose zero-initialised convs are
// perturbed so that ε̂ ≠ 0) lives in backends.test.ts.
