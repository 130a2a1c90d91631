import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import { DDPMScheduler, DiffusionModelUNet, SeededRNG, useBackend } from './index.js';

// The README's first example, verbatim apart from the assertions.
it('README example runs and leaks nothing', async () => {
  await useBackend('wasm');
  const before = tf.memory().numTensors;
  const unet = DiffusionModelUNet.fromConfig(
    { inChannels: 1, outChannels: 1, numChannels: [32, 64, 64], attentionLevels: [false, true, true] },
    { seed: 0 },
  );
  const scheduler = DDPMScheduler.fromPreset('thor');
  const rng = new SeededRNG(2109);
  let x = rng.randn([1, 64, 64, 1]) as tf.Tensor4D;
  for (const t of [999, 998, 997]) {
    const next = tf.tidy(() => scheduler.step(unet.apply(x, t), t, x, { generator: rng }).prevSample as tf.Tensor4D);
    x.dispose();
    x = next;
  }
  expect(x.shape).toEqual([1, 64, 64, 1]);
  expect(Number.isFinite((await x.data())[0])).toBe(true);
  x.dispose();
  unet.dispose();
  expect(tf.memory().numTensors).toBe(before);
});
