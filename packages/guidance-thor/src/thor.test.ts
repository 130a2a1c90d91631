import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import { describeBackends, expectClose, expectNoLeaks } from '@adx/test-utils';
import { ArgumentError, greyClosing2d, greyDilation2d } from '@adx/diffusion-core';
import { ConstantDistance } from './perceptual.js';
import {
  defaultMapSteps,
  disposeIntermediates,
  regionMask,
  temporalAnomalyMap,
  thor,
  type ThorDenoiser,
  type ThorScheduler,
} from './thor.js';

it('default map steps are the multiples of 50 from tStart to 0 (thor.md §1.1)', () => {
  expect(defaultMapSteps(350)).toEqual([350, 300, 250, 200, 150, 100, 50, 0]);
  expect(defaultMapSteps(250)).toEqual([250, 200, 150, 100, 50, 0]);
  expect(defaultMapSteps(120)).toEqual([100, 50, 0]);
});

/**
 * A transparent stand-in for the diffusion model: the "denoiser" always predicts a fixed healthy
 * image H as x̂0, and the scheduler passes x̂0 through. Every temporal map is then
 * normmax(|H − x|), so the whole THOR pipeline can be checked by hand.
 */
function passThrough(healthy: tf.Tensor4D): { model: ThorDenoiser; scheduler: ThorScheduler; calls: number[] } {
  const calls: number[] = [];
  return {
    calls,
    model: {
      apply: (x, t) => {
        calls.push((t as number[])[0]!);
        return tf.add(tf.mul(x, 0), healthy) as tf.Tensor4D;
      },
    },
    scheduler: {
      addNoise: (original) => original.clone(),
      step: (modelOutput) => ({ prevSample: modelOutput.clone(), predOriginalSample: modelOutput.clone() }),
    },
  };
}

describeBackends('thor', () => {
  it('temporalAnomalyMap is the per-image max-normalised residual when P ≡ 1', async () => {
    const x = tf.tensor4d([0, 0.5, 1, 0.25, /* image 2 */ 0, 0, 0, 0.1], [2, 2, 2, 1]);
    const h = tf.tensor4d([0, 0.25, 0.5, 0.25, /* image 2 */ 0, 0, 0, 0.3], [2, 2, 2, 1]);
    await expectNoLeaks(async () => {
      const a = temporalAnomalyMap(h, x, new ConstantDistance());
      // image 1 residual [0, .25, .5, 0] / .5 ; image 2 residual [0,0,0,.2] / .2
      expectClose(await a.data(), [0, 0.5, 1, 0, 0, 0, 0, 1], 1e-6);
      a.dispose();
    });
    tf.dispose([x, h]);
  });

  it('regionMask is clip((dilate13(close13(A)) + A)/2)', async () => {
    const a = tf.tidy(() =>
      tf.pad(tf.ones([1, 3, 3, 1]), [
        [0, 0],
        [10, 7],
        [4, 13],
        [0, 0],
      ]),
    ) as tf.Tensor4D;
    const r = regionMask(a, 13);
    const ref = tf.tidy(() => tf.div(tf.add(greyDilation2d(greyClosing2d(a, 13), 13), a), 2));
    expectClose(await r.data(), await ref.data(), 0);
    const v = await r.data();
    // inside the blob (A = 1, dilated = 1) → 1; next to it (A = 0, dilated = 1) → 0.5; far away → 0
    expect(v[11 * 20 + 5]).toBe(1);
    expect(v[11 * 20 + 9]).toBe(0.5);
    expect(v[0]).toBe(0);
    tf.dispose([a, r, ref]);
  });

  it('runs the full chain, blends R·x̂0 + (1−R)·x at the harmonisation steps and averages the maps', async () => {
    const x = tf.tidy(() =>
      tf.pad(
        tf.fill([1, 4, 4, 1], 0.8),
        [
          [0, 0],
          [6, 6],
          [6, 6],
          [0, 0],
        ],
        0.2,
      ),
    ) as tf.Tensor4D; // bright lesion
    const healthy = tf.fill([1, 16, 16, 1], 0.2) as tf.Tensor4D;
    const { model, scheduler, calls } = passThrough(healthy);
    await expectNoLeaks(async () => {
      const res = await thor(model, x, { scheduler, perceptual: 'none', returnIntermediates: true });
      // 351 UNet calls, t = 350 … 0 (thor.md §1.3)
      expect(calls.length).toBe(351);
      expect(calls[0]).toBe(350);
      expect(calls[350]).toBe(0);
      const inter = res.intermediates!;
      expect([...inter.anomalyMaps.keys()]).toEqual([350, 300, 250, 200, 150, 100, 50, 0]);
      expect([...inter.blends.keys()]).toEqual([300, 150, 50]);
      // A = normmax(|H − x|) = indicator of the lesion
      const expectedA = tf.tidy(() => tf.div(tf.abs(tf.sub(healthy, x)), 0.6 + 1e-8));
      const a = await expectedA.data();
      expectClose(await inter.anomalyMaps.get(300)!.data(), a, 1e-6);
      // blend = R·H + (1−R)·x with R = regionMask(A)
      const r = regionMask(expectedA as tf.Tensor4D);
      const blend = tf.tidy(() => tf.add(tf.mul(r, healthy), tf.mul(tf.sub(1, r), x)));
      expectClose(await inter.blends.get(150)!.data(), await blend.data(), 1e-6);
      // final map: harmonic mean of identical maps = A, clipped to 0.999; score = its mean
      const final = await res.anomalyMap.data();
      expectClose(
        final,
        Array.from(a, (v) => Math.min(v, 0.999)),
        1e-5,
      );
      expect(res.score[0]).toBeCloseTo((16 * 0.999) / 256, 5);
      expectClose(await res.reconstruction.data(), await healthy.data(), 1e-6);
      tf.dispose([res.anomalyMap, res.reconstruction, expectedA, r, blend]);
      disposeIntermediates(inter);
    });
    tf.dispose([x, healthy]);
  });

  it('a pixel healthy at any map step scores 0 (harmonic-mean zero rule)', async () => {
    const x = tf.fill([1, 8, 8, 1], 0.5) as tf.Tensor4D;
    // x̂0 differs from x everywhere except at t = 0, where it equals x → A_0 = 0 → final map 0.
    const model: ThorDenoiser = {
      apply: (_z, t) =>
        tf.tidy(
          () => ((t as number[])[0] === 0 ? tf.fill([1, 8, 8, 1], 0.5) : tf.fill([1, 8, 8, 1], 0.9)) as tf.Tensor4D,
        ),
    };
    const scheduler: ThorScheduler = {
      addNoise: (o) => o.clone(),
      step: (m) => ({ prevSample: m.clone(), predOriginalSample: m.clone() }),
    };
    const res = await thor(model, x, { scheduler, perceptual: 'none', tStart: 100 });
    expect(Math.max(...(await res.anomalyMap.data()))).toBe(0);
    expect(res.score[0]).toBe(0);
    tf.dispose([x, res.anomalyMap, res.reconstruction]);
  });

  it("noise: 'simplex' uses THOR's simplex settings (tStart 250, harmonisation at 200/150/100/50)", async () => {
    const x = tf.fill([1, 8, 8, 1], 0.5) as tf.Tensor4D;
    const healthy = tf.fill([1, 8, 8, 1], 0.4) as tf.Tensor4D;
    const { model, scheduler, calls } = passThrough(healthy);
    const res = await thor(model, x, { scheduler, noise: 'simplex', perceptual: 'none', returnIntermediates: true });
    expect(calls[0]).toBe(250);
    expect([...res.intermediates!.blends.keys()]).toEqual([200, 150, 100, 50]);
    expect([...res.intermediates!.anomalyMaps.keys()]).toEqual([250, 200, 150, 100, 50, 0]);
    disposeIntermediates(res.intermediates);
    tf.dispose([x, healthy, res.anomalyMap, res.reconstruction]);
  });

  it('validates its options', async () => {
    const x = tf.zeros([1, 8, 8, 1]) as tf.Tensor4D;
    const { model, scheduler } = passThrough(x);
    await expect(thor(model, x, { scheduler, tStart: 100, harmonizationSteps: [150] })).rejects.toThrow(ArgumentError);
    await expect(thor(model, tf.zeros([8, 8]) as unknown as tf.Tensor4D, { scheduler })).rejects.toThrow(/'image'/);
    x.dispose();
  });
});
