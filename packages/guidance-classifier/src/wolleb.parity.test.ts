/**
 * Parity with the official PyTorch loop (`wolleb_loop` fixture: ddim_sample_loop_known of
 * JuliaWolleb/diffusion-anomaly @ 509643c, L = 10, s = 10, tiny random-weight networks) and with
 * the `guided_classifier` guidance gradient.
 */
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeBackends, expectClose, expectNoLeaks, maxAbsDiff } from '@adx/test-utils';
import type { EncoderUNetModel, UNetModel } from '@adx/diffusion-core';
import {
  anomalyMapFrom,
  classifierLogProbGradient,
  detectWithClassifierGuidance,
  disposeIntermediates,
} from './wolleb.js';
import { entry, fixtures, nchwData, nchwSlice, nhwc, officialClassifier, officialUNet } from './__tests__/fixtures.js';

const ATOL = 1e-4;
const VARIANTS = [
  { name: 'ddim1000', respacing: 'ddim1000', zeroPrenoise: false },
  { name: 'ddim1000_zero_prenoise', respacing: 'ddim1000', zeroPrenoise: true },
  { name: 'ddim100', respacing: 'ddim100', zeroPrenoise: false },
] as const;

describe('wolleb_loop fixture', () => {
  it('records L = 10, s = 10 and the official index pattern', () => {
    const c = fixtures().loopConfig as {
      noise_level_L: number;
      classifier_scale: number;
      timesteps_seen: Record<string, { unet: number[][]; classifier: number[][] }>;
    };
    expect([c.noise_level_L, c.classifier_scale]).toEqual([10, 10]);
    expect(c.timesteps_seen.ddim100!.classifier.map((r) => r[0])).toEqual([8, 7, 6, 5, 4, 3, 2, 1, 0]);
  });
});

describeBackends('classifier-guided DDIM parity (wolleb_loop)', () => {
  let unet: UNetModel;
  let classifier: EncoderUNetModel;
  beforeAll(() => {
    unet = officialUNet();
    classifier = officialClassifier();
  });
  afterAll(() => {
    unet.dispose();
    classifier.dispose();
  });

  for (const v of VARIANTS) {
    it(`${v.name}: x_noisy, encode/decode trajectories, x_L, scaled gradients, output, maps (≤ ${ATOL})`, async () => {
      const io = fixtures().loop;
      const x = nhwc(entry(io, 'x'));
      const prenoise = v.zeroPrenoise ? (tf.zerosLike(x) as tf.Tensor4D) : nhwc(entry(io, 'prenoise'));
      const worst: Record<string, number> = {};
      await expectNoLeaks(async () => {
        const r = await detectWithClassifierGuidance(unet, classifier, x, {
          noiseLevel: 10,
          classifierScale: 10,
          timestepRespacing: v.respacing,
          officialIndexing: true,
          prenoise,
          returnIntermediates: true,
        });
        const inter = r.intermediates!;
        const seen = (
          fixtures().loopConfig as { timesteps_seen: Record<string, { unet: number[][]; classifier: number[][] }> }
        ).timesteps_seen[v.name]!;
        expect(inter.unetTimesteps).toEqual(seen.unet.map((p) => p[0]));
        expect(inter.classifierTimesteps).toEqual(seen.classifier.map((p) => p[0]));
        const cmp = async (t: tf.Tensor4D, key: string, i?: number) => {
          const d = maxAbsDiff(await nchwData(t), nchwSlice(entry(io, `${v.name}_${key}`), i));
          worst[key] = Math.max(worst[key] ?? 0, d);
          expect(d, `${v.name} ${key}${i === undefined ? '' : `[${i}]`}`).toBeLessThanOrEqual(ATOL);
        };
        await cmp(inter.xNoisy!, 'x_noisy');
        expect(inter.encodeTrajectory).toHaveLength(9);
        for (let i = 0; i < 9; i++) await cmp(inter.encodeTrajectory[i]!, 'encode_traj', i);
        await cmp(inter.xL, 'x_L');
        expect(inter.decodeTrajectory).toHaveLength(9);
        for (let i = 0; i < 9; i++) {
          await cmp(inter.decodeTrajectory[i]!, 'decode_traj', i);
          await cmp(inter.scaledGradients[i]!, 'decode_scaled_grad', i);
        }
        await cmp(r.healthy, 'output');
        await cmp(r.anomalyMap, 'anomaly_map');
        // The CheXpert variant of the map from the same output (the option only changes this last step).
        const mm = anomalyMapFrom(x, r.healthy, 'minmax');
        await cmp(mm, 'anomaly_map_minmax');
        // score = mean of the map, summed by hand from the fixture map.
        const ref = nchwSlice(entry(io, `${v.name}_anomaly_map`));
        const per = ref.length / 2;
        for (let b = 0; b < 2; b++) {
          let s = 0;
          for (let k = 0; k < per; k++) s += ref[b * per + k]!;
          expect(r.score[b]).toBeCloseTo(s / per, 5);
        }
        disposeIntermediates(inter);
        tf.dispose([r.anomalyMap, r.healthy, mm]);
      });
      console.info(`wolleb_loop ${v.name} max|Δ|: ${JSON.stringify(worst)}`);
      tf.dispose([x, prenoise]);
    });
  }

  it('guidance gradient equals the guided_classifier fixture (both classes, per-sample timesteps, ≤ 1e-6)', async () => {
    const io = fixtures().classifierIo;
    const x = nhwc(entry(io, 'x'));
    const ts = Array.from(entry(io, 'timesteps').data as BigInt64Array, Number);
    await expectNoLeaks(async () => {
      for (const k of [0, 1]) {
        const g = classifierLogProbGradient(classifier, x, ts, k);
        expectClose(await nchwData(g), entry(io, `grad_log_softmax_class${k}`).data as Float32Array, 1e-6, `grad${k}`);
        g.dispose();
      }
    });
    x.dispose();
  });
});
