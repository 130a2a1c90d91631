import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import { describeBackends, expectClose, expectNoLeaks } from '@adx/test-utils';
import { DDPMScheduler, DiffusionModelUNet, SeededRNG } from '@adx/diffusion-core';
import { anoddpm } from './anoddpm.js';
import type { ThorDenoiser, ThorScheduler } from './thor.js';

describeBackends('anoddpm', () => {
  it('maps |x − x̂| with x̂ the end of the chain, and visits t_start … 0', async () => {
    const healthy = tf.fill([1, 8, 8, 1], 0.3) as tf.Tensor4D;
    const x = tf.tidy(() =>
      tf.pad(
        tf.fill([1, 2, 2, 1], 0.9),
        [
          [0, 0],
          [3, 3],
          [3, 3],
          [0, 0],
        ],
        0.3,
      ),
    ) as tf.Tensor4D;
    const seen: number[] = [];
    const model: ThorDenoiser = {
      apply: (z, t) => {
        seen.push((t as number[])[0]!);
        return tf.add(tf.mul(z, 0), healthy) as tf.Tensor4D;
      },
    };
    const scheduler: ThorScheduler = {
      addNoise: (o) => o.clone(),
      step: (m) => ({ prevSample: m.clone(), predOriginalSample: m.clone() }),
    };
    await expectNoLeaks(async () => {
      const res = await anoddpm(model, x, { scheduler, tStart: 20 });
      expect(seen.length).toBe(21);
      expect(seen[0]).toBe(20);
      const ref = tf.tidy(() => tf.abs(tf.sub(x, healthy)));
      expectClose(await res.anomalyMap.data(), await ref.data(), 1e-6);
      expect(res.score[0]).toBeCloseTo((4 * 0.6) / 64, 5);
      tf.dispose([res.anomalyMap, res.reconstruction, ref]);
    });
    tf.dispose([healthy, x]);
  });

  it('runs deterministically with the real THOR scheduler and a tiny UNet', async () => {
    const model = DiffusionModelUNet.fromConfig(
      {
        inChannels: 1,
        outChannels: 1,
        numChannels: [32, 32],
        attentionLevels: [false, false],
        numResBlocks: 1,
        numHeadChannels: 32,
      },
      { seed: 1 },
    );
    const x = new SeededRNG(2).rand([1, 16, 16, 1]) as tf.Tensor4D;
    const run = async () => {
      const r = await anoddpm(model, x, { scheduler: DDPMScheduler.fromPreset('thor'), tStart: 8, rng: 3 });
      const v = await r.anomalyMap.data();
      tf.dispose([r.anomalyMap, r.reconstruction]);
      return Array.from(v);
    };
    const a = await expectNoLeaks(run);
    expect(await run()).toEqual(a);
    x.dispose();
    model.dispose();
  });

  it('with stride k visits every k-th timestep from the largest kept t ≤ tStart, at the respaced ᾱ', async () => {
    const seen: number[] = [];
    const inputs: tf.Tensor4D[] = [];
    const model: ThorDenoiser = {
      apply: (z, t) => {
        seen.push((t as number[])[0]!);
        if (inputs.length === 0) inputs.push(tf.keep(z.clone()));
        return tf.zerosLike(z);
      },
    };
    const x = tf.fill([1, 4, 4, 1], 0.5) as tf.Tensor4D;
    const eps = tf.fill([1, 4, 4, 1], 0.25) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const res = await anoddpm(model, x, { tStart: 64, stride: 10, noise: () => eps.clone(), rng: 1 });
    tf.dispose([res.anomalyMap, res.reconstruction]);
    expect(tf.memory().numTensors).toBe(before + 1); // only the recorded first input
    expect(seen).toEqual([60, 50, 40, 30, 20, 10, 0]);
    // z_60 = √ᾱ_60·x + √(1−ᾱ_60)·ε0 with the full schedule's ᾱ_60 (respacing keeps ᾱ at the kept steps).
    const ref = DDPMScheduler.fromPreset('thor').addNoise(x, eps, 60);
    expectClose(await inputs[0]!.data(), await ref.data(), 1e-6);
    tf.dispose([x, eps, ref, ...inputs]);
  });
});
