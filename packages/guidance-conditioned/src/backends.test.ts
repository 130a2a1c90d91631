/**
 * Same numbers on every backend: detectConditioned / detectDDPM / detectPatched on a tiny volume,
 * compared with the cpu backend's result computed in the same test. Runs on cpu and wasm in the
 * unit suite and on webgpu via `npm run test:webgpu` (ADX_TEST_BACKENDS=webgpu).
 */
import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import { describeBackends, expectClose, expectNoLeaks, setTestBackend, type TestBackend } from '@adx/test-utils';
import { SeededRNG } from '@adx/diffusion-core';
import { CDDPM, type CDDPMVariant } from './model.js';
import { detectConditioned, detectDDPM, detectPatched, type DetectResult } from './detect.js';

const S = 8;
const D = 2;
const unet = {
  imageSize: S,
  modelChannels: 32,
  numResBlocks: 1,
  channelMult: [1, 1],
  attentionResolutions: [2],
  numHeadChannels: 32,
};
const encoder = { block: 'BasicBlock' as const, layers: [1, 1], stemWidth: 8, stagePlanes: [8, 16], outFeatures: 16 };

/** A model whose weights are the seeded init plus seeded perturbations (so zero-init output convs do not hide the UNet). */
function build(variant: CDDPMVariant): CDDPM {
  const model =
    variant === 'cDDPM'
      ? new CDDPM({ variant, encoder, unet }, { seed: 7 })
      : new CDDPM(
          { variant, unet: { ...unet, numClasses: null }, ...(variant === 'pDDPM' ? { patchSize: 4 } : {}) },
          { seed: 7 },
        );
  const rng = new SeededRNG(99);
  for (const v of model.trainableVariables())
    tf.tidy(() => {
      v.assign(tf.add(v, tf.mul(rng.randn(v.shape), 0.05)));
    });
  return model;
}

const volume = (() => {
  const data = new Float32Array(D * S * S);
  for (let z = 0; z < D; z++)
    for (let y = 0; y < S; y++)
      for (let x = 0; x < S; x++) {
        const r = Math.hypot(y - 3.5, x - 3.5);
        data[(z * S + y) * S + x] = r < 3.6 ? 0.6 + 0.3 * Math.sin((x + z) / 2) + (r < 1.5 ? 0.3 : 0) : 0;
      }
  return { data, shape: [D, S, S] };
})();
const brainMask = { data: Uint8Array.from(volume.data, (v) => (v > 0 ? 1 : 0)), shape: [D, S, S] };

const detectors = { cDDPM: detectConditioned, DDPM: detectDDPM, pDDPM: detectPatched } as const;

async function run(variant: CDDPMVariant): Promise<DetectResult> {
  const model = build(variant);
  try {
    return await detectors[variant](model, volume, { brainMask, rng: 3141, postprocess: { erosionIterations: 1 } });
  } finally {
    model.dispose();
  }
}

/** cpu results, computed once per variant by the first suite that needs them. */
const cpuResults = new Map<CDDPMVariant, DetectResult>();

describeBackends('same numbers on every backend (vs cpu, computed here)', (backend: TestBackend) => {
  const slow = backend === 'webgpu' ? 120_000 : undefined;
  for (const variant of ['cDDPM', 'DDPM', 'pDDPM'] as const) {
    it(
      `${variant}: reconstruction ≤ 1e-4, anomaly map ≤ 1e-4, score ≤ 1e-5 of cpu; leak-free`,
      async () => {
        await setTestBackend('cpu');
        let ref = cpuResults.get(variant);
        if (!ref) cpuResults.set(variant, (ref = await run(variant)));
        await setTestBackend(backend);
        expect(tf.getBackend()).toBe(backend);
        const got = await expectNoLeaks(() => run(variant));
        expect(ref.reconstruction.data.some((v) => Math.abs(v - 0.5) > 1e-3)).toBe(true); // not a trivial x̂₀ = 0
        expectClose(got.reconstruction.data, ref.reconstruction.data, 1e-4, `${variant} reconstruction`);
        expectClose(got.anomalyMap.data, ref.anomalyMap.data, 1e-4, `${variant} anomalyMap`);
        expect(Math.abs(got.score - ref.score)).toBeLessThan(1e-5);
      },
      slow,
    );
  }
});
