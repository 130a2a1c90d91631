import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeBackends, expectClose, expectNoLeaks } from '@adx/test-utils';
import { ArgumentError, DDPMScheduler, SeededRNG, simplexNoiseBatch } from '@adx/diffusion-core';
import type { CDDPM } from './model.js';
import {
  detectConditioned,
  detectDDPM,
  detectPatched,
  gridBoxes,
  reconstructAtLevel,
  type VolumeNoiseFn,
} from './detect.js';
import { entry, f32, fixture, fixtureModel } from './__tests__/fixtures.js';

const fx = fixture('cddpm_unet');
const seeds = (fx.config as unknown as { pipeline: { simplex_seeds: Record<string, number> } }).pipeline.simplex_seeds;

/** The fixture's noise: simplex maps with the recorded seeds per level (float16, shared over the batch). */
const fixtureNoise: VolumeNoiseFn = (h, w, rng, t) => simplexNoiseBatch([1, h, w, 1], rng, { seed: seeds[String(t)] });

// pipeline_x is [2,1,32,32] NCHW; with one channel that is the same memory as NHWC [2,32,32,1].
const volume = { data: f32(entry(fx, 'pipeline_x')), shape: [2, 32, 32, 1] };

describe('simplex noise of the pipeline fixture', () => {
  it('equals pipeline_noise_tT (float16 map, repeated over the batch)', async () => {
    for (const t of [250, 500, 750]) {
      const n = fixtureNoise(32, 32, new SeededRNG(0), t);
      const tiled = tf.tile(n, [2, 1, 1, 1]);
      expect(Array.from(await tiled.data())).toEqual(Array.from(f32(entry(fx, `pipeline_noise_t${t}`))));
      tf.dispose([n, tiled]);
    }
  });
});

describeBackends('detectConditioned parity (cddpm_unet pipeline_*)', (backend) => {
  // SwiftShader WebGPU compiles a shader per new shape and runs on the CPU: allow minutes.
  const slow = backend === 'webgpu' ? 600_000 : undefined;
  let model: CDDPM;
  beforeAll(() => {
    model = fixtureModel();
  });
  afterAll(() => model.dispose());

  it('pipeline_cond: the encoder on the clean [0,1] slices (≤ 1e-5)', async () => {
    const x = tf.tensor4d(volume.data, [2, 32, 32, 1]);
    const c = model.condition(x)!;
    expectClose(await c.data(), f32(entry(fx, 'pipeline_cond')), 1e-5, 'pipeline_cond');
    tf.dispose([x, c]);
  });

  it(
    'pipeline_reco_t250/500/750, pipeline_reco, pipeline_residual (≤ 1e-4), leak-free',
    async () => {
      const res = await expectNoLeaks(() =>
        detectConditioned(model, volume, { noise: fixtureNoise, returnIntermediates: true, postprocess: false }),
      );
      for (const t of [250, 500, 750])
        expectClose(res.levels!.get(t)!.data, f32(entry(fx, `pipeline_reco_t${t}`)), 1e-4, `reco_t${t}`);
      expectClose(res.reconstruction.data, f32(entry(fx, 'pipeline_reco')), 1e-4, 'pipeline_reco');
      expectClose(res.residual.data, f32(entry(fx, 'pipeline_residual')), 1e-4, 'pipeline_residual');
      expect(res.anomalyMap.data).toEqual(res.residual.data);
      expect(res.reconstruction.shape).toEqual([2, 32, 32]);
    },
    slow,
  );

  // Backend-independent logic (chunking, seeding, leaks): wasm and webgpu only, to keep the cpu suite short
  // (the 32×32 fixture UNet takes ~10× longer on the cpu backend; parity above runs on every backend).
  const logic = backend === 'cpu' ? it.skip : it;
  logic(
    'chunking keeps one noise map per level for the whole volume; tensor input works',
    async () => {
      const t = tf.tensor4d(volume.data, [2, 32, 32, 1]);
      const a = await detectConditioned(model, t, { noise: fixtureNoise, chunkSize: 1, postprocess: false });
      t.dispose();
      expectClose(a.reconstruction.data, f32(entry(fx, 'pipeline_reco')), 1e-4, 'chunked reco');
    },
    slow,
  );

  it(
    'a single level (DDPM mode, t = 500 at index 499) gives pipeline_reco_t500',
    async () => {
      const res = await detectConditioned(model, volume, { levels: [500], noise: fixtureNoise, postprocess: false });
      expectClose(res.reconstruction.data, f32(entry(fx, 'pipeline_reco_t500')), 1e-4, 'single level');
    },
    slow,
  );

  logic(
    'seeded default noise is deterministic and does not grow the tensor count',
    async () => {
      const run = () => detectConditioned(model, volume, { rng: 5, levels: [250] });
      const a = await expectNoLeaks(run);
      const b = await expectNoLeaks(run);
      expect(Array.from(a.anomalyMap.data)).toEqual(Array.from(b.anomalyMap.data));
    },
    slow,
  );

  it('typed errors', async () => {
    await expect(detectConditioned(model, { data: new Float32Array(10), shape: [2, 32, 32] })).rejects.toThrow(
      ArgumentError,
    );
    await expect(detectConditioned(model, { data: new Float32Array(8), shape: [2, 2, 2, 1, 1] })).rejects.toThrow(
      /\[D, H, W\]/,
    );
    await expect(detectConditioned(model, volume, { levels: [0] })).rejects.toThrow(/options.levels/);
    await expect(detectConditioned(model, volume, { chunkSize: 0 })).rejects.toThrow(/chunkSize/);
    await expect(
      detectConditioned(model, volume, { brainMask: { data: new Uint8Array(32 * 32), shape: [1, 32, 32] } }),
    ).rejects.toThrow(/brainMask/);
    await expect(detectConditioned(model, volume, { bogus: 1 } as never)).rejects.toThrow(/options.bogus/);
    await expect(detectDDPM(model, volume)).rejects.toThrow(/DDPM variant/);
    await expect(detectPatched(model, volume)).rejects.toThrow(/pDDPM variant/);
  });
});

/** A stand-in model whose x̂₀ is the spatial mean of its input (to see what each pDDPM pass was fed). */
function meanModel(variant: 'pDDPM' | 'DDPM', patchSize: number | null): CDDPM {
  const scheduler = DDPMScheduler.fromPreset('behrendt');
  return {
    variant,
    scheduler,
    config: { patchSize, scheduler: scheduler.toConfig() },
    testLevels: [500],
    condition: () => null,
    predictX0: (xt: tf.Tensor4D) => tf.tidy(() => tf.mul(tf.onesLike(xt), tf.mean(xt, [1, 2, 3], true))),
  } as unknown as CDDPM;
}

describeBackends('pDDPM boxes', () => {
  it('gridBoxes: 2×2 grid of 48-px boxes at 96², row-major; other sizes rejected', () => {
    expect(gridBoxes(96, 96, 48)).toEqual([
      [0, 0, 48, 48],
      [0, 48, 48, 96],
      [48, 0, 96, 48],
      [48, 48, 96, 96],
    ]);
    expect(() => gridBoxes(100, 96, 48)).toThrow(ArgumentError);
  });

  it('noises only the box, keeps clean context, pastes each box back (hand-computed)', async () => {
    // x = 0.5 → 2x − 1 = 0; noise = q + 1 on quadrant q of an 8×8 slice; boxes of 4.
    // Pass k sees b·(k+1) on box k and 0 elsewhere, so its mean is b·(k+1)·16/64 and the pasted
    // reconstruction on quadrant k is (b·(k+1)/4 + 1)/2, with b = √(1 − ᾱ[499]).
    const model = meanModel('pDDPM', 4);
    const noise: VolumeNoiseFn = () => {
      const m = new Float32Array(64);
      for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) m[y * 8 + x] = (y < 4 ? 0 : 2) + (x < 4 ? 0 : 1) + 1;
      return tf.tensor4d(m, [1, 8, 8, 1]);
    };
    const b = DDPMScheduler.fromPreset('behrendt').schedule.float32.sqrtOneMinusAlphasCumprod[499]!;
    const vol = { data: new Float32Array(2 * 64).fill(0.5), shape: [2, 8, 8] };
    const res = await expectNoLeaks(() => detectPatched(model, vol, { noise, postprocess: false }));
    for (let s = 0; s < 2; s++)
      for (let y = 0; y < 8; y++)
        for (let x = 0; x < 8; x++) {
          const k = (y < 4 ? 0 : 2) + (x < 4 ? 0 : 1);
          expect(res.reconstruction.data[s * 64 + y * 8 + x]).toBeCloseTo((b * (k + 1) * 0.25 + 1) / 2, 6);
        }
  });

  it('the DDPM baseline noises the whole slice (hand-computed)', async () => {
    const model = meanModel('DDPM', null);
    const noise: VolumeNoiseFn = () => tf.ones([1, 8, 8, 1]);
    const b = DDPMScheduler.fromPreset('behrendt').schedule.float32.sqrtOneMinusAlphasCumprod[499]!;
    const res = await detectDDPM(
      model,
      { data: new Float32Array(64).fill(0.5), shape: [1, 8, 8] },
      {
        noise,
        postprocess: false,
      },
    );
    for (const v of res.reconstruction.data) expect(v).toBeCloseTo((b + 1) / 2, 6);
  });

  it('reconstructAtLevel is leak-free', async () => {
    const model = meanModel('pDDPM', 4);
    const x = tf.fill([1, 8, 8, 1], 0.25) as tf.Tensor4D;
    const n = tf.ones([1, 8, 8, 1]) as tf.Tensor4D;
    await expectNoLeaks(() => reconstructAtLevel(model, x, null, n, 500, gridBoxes(8, 8, 4)).dispose());
    tf.dispose([x, n]);
  });
});
