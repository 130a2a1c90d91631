import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { expectNoLeaks } from '@adx/test-utils';
import { ArgumentError } from '@adx/diffusion-core';
import { wollebPerSliceProtocol } from '@adx/metrics';
import { evaluateClassifierGuidance, type EvaluationSlice } from './evaluate.js';
import type { GuidedDenoiser, NoisyClassifier } from './wolleb.js';

/** Stand-ins: logits [−mean(x²), mean(x²)] (bright = diseased) and ε = 0.1·x. */
const classifier: NoisyClassifier = {
  apply: (x) =>
    tf.tidy(() => {
      const e = tf.mean(tf.square(x), [1, 2, 3]);
      return tf.stack([tf.neg(e), e], 1) as tf.Tensor2D;
    }),
};
const unet: GuidedDenoiser = {
  inChannels: 1,
  apply: (x) => tf.tidy(() => tf.concat([tf.mul(x, 0.1), tf.zerosLike(x)], 3) as tf.Tensor4D),
};

/** 12×12 slices: background 0.2; diseased ones have a bright 4×4 square (gt) at 0.9. */
function slices(): EvaluationSlice[] {
  const out: EvaluationSlice[] = [];
  for (let i = 0; i < 6; i++) {
    const label = (i % 2) as 0 | 1;
    const image = new Float32Array(144).fill(0.2);
    const gt = new Uint8Array(144);
    if (label === 1) {
      for (let y = 2 + i / 2; y < 6 + i / 2; y++)
        for (let x = 3; x < 7; x++) {
          image[y * 12 + x] = 0.9;
          gt[y * 12 + x] = 1;
        }
    }
    out.push({
      image,
      height: 12,
      width: 12,
      channels: 1,
      label,
      gt: { data: gt, height: 12, width: 12 },
      id: `s${i}`,
    });
  }
  return out;
}

describe('evaluateClassifierGuidance', () => {
  it('per-slice Otsu Dice / pixel AUROC on diseased slices, image AUROC from map mean and classifier', async () => {
    const data = slices();
    const seen: number[] = [];
    const res = await expectNoLeaks(() =>
      evaluateClassifierGuidance(unet, classifier, data, {
        detection: { noiseLevel: 3, classifierScale: 50, timestepRespacing: 'ddim100' },
        onSlice: (s) => seen.push(s.index),
      }),
    );
    expect(seen).toEqual([0, 1, 2, 3, 4, 5]);
    expect(res.slices.map((s) => s.label)).toEqual([0, 1, 0, 1, 0, 1]);
    expect(res.maps.size).toBe(6);
    expect(res.secondsPerSlice).toBeGreaterThan(0);
    const [perSlice, cls] = res.reports;
    expect(perSlice!.protocol).toBe('wolleb-per-slice');
    // the same numbers as the metrics protocol applied to the returned maps of the diseased slices
    const direct = wollebPerSliceProtocol(
      data
        .filter((s) => s.label === 1)
        .map((s) => ({
          map: { data: res.maps.get(s.id!)!, shape: [12, 12] },
          gt: { data: s.gt!.data, shape: [12, 12] },
        })),
    );
    expect(perSlice!.entries[0]).toEqual(direct.entries[0]);
    expect(perSlice!.entries[1]).toEqual(direct.entries[1]);
    expect(perSlice!.entries[2]!.metric).toBe('image AUROC');
    // stand-in classifier: diseased slices are brighter → every diseased score exceeds every healthy one.
    expect(cls!.protocol).toBe('image-level-classifier');
    expect(cls!.entries[0]!.metric).toBe('AUROC');
    expect(cls!.entries[0]!.value).toBe(1);
    const healthyMax = Math.max(...res.slices.filter((s) => s.label === 0).map((s) => s.classifierScore));
    const diseasedMin = Math.min(...res.slices.filter((s) => s.label === 1).map((s) => s.classifierScore));
    expect(diseasedMin).toBeGreaterThan(healthyMax);
  });

  it('detectHealthy: false runs only diseased slices; typed errors', async () => {
    const res = await evaluateClassifierGuidance(unet, classifier, slices(), {
      detection: { noiseLevel: 1, classifierScale: 1, timestepRespacing: 'ddim100' },
      detectHealthy: false,
    });
    expect(res.maps.size).toBe(3);
    expect(res.slices.filter((s) => Number.isNaN(s.mapScore)).map((s) => s.label)).toEqual([0, 0, 0]);
    expect(res.reports[0]!.entries.map((e) => e.metric)).toEqual(['Dice', 'AUROC']);
    await expect(evaluateClassifierGuidance(unet, classifier, [])).rejects.toThrow(ArgumentError);
    const bad = { ...slices()[1]!, gt: undefined };
    await expect(evaluateClassifierGuidance(unet, classifier, [bad])).rejects.toThrow(/slices\[0\].gt/);
    const short = { ...slices()[0]!, image: new Float32Array(3) };
    await expect(evaluateClassifierGuidance(unet, classifier, [short])).rejects.toThrow(/slices\[0\].image/);
  });
});
