/**
 * Cross-backend agreement ("same numbers on cpu, wasm and webgpu"): each case runs
 * detectWithClassifierGuidance with the official tiny networks of the parity fixtures (32×32) on
 * the suite's backend and compares with the same call on the cpu backend inside the test.
 * Curated for `npm run test:webgpu` (L = 2 on `ddim100`: ≤ 4 UNet passes and 2 classifier
 * gradients per case; timesteps ≤ 20, so WGSL sin/cos of the timestep embedding stay accurate).
 *
 * Tolerances: float32 summation order in convolutions, GroupNorm, attention and the autodiff of
 * the classifier, amplified by s·√(1−ᾱ_t) in the guided steps. Measured max |Δ| vs cpu are in the
 * package README; the bounds below leave headroom.
 */
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeBackends, maxAbsDiff, setTestBackend, testBackends, type TestBackend } from '@adx/test-utils';
import { SeededRNG } from '@adx/diffusion-core';
import { classifierLogProbGradient, detectWithClassifierGuidance, type ClassifierGuidanceOptions } from './wolleb.js';
import { officialClassifier, officialUNet } from './__tests__/fixtures.js';

const unet = officialUNet();
const classifier = officialClassifier();
afterAll(() => {
  unet.dispose();
  classifier.dispose();
});

interface Run {
  map: Float32Array;
  healthy: Float32Array;
  score: number[];
}

async function run(options: ClassifierGuidanceOptions): Promise<Run> {
  const x = new SeededRNG(4).rand([1, 32, 32, 1]) as tf.Tensor4D;
  const r = await detectWithClassifierGuidance(unet, classifier, x, options);
  const out = {
    map: (await r.anomalyMap.data()) as Float32Array,
    healthy: (await r.healthy.data()) as Float32Array,
    score: Array.from(r.score),
  };
  tf.dispose([x, r.anomalyMap, r.healthy]);
  return out;
}

const TOL: Record<TestBackend, number> = { cpu: 0, wasm: 1e-4, webgpu: 2e-3 };

const cases: [string, ClassifierGuidanceOptions][] = [
  ['clean DDIM, L = 2 on ddim100, s = 10', { noiseLevel: 2, classifierScale: 10, timestepRespacing: 'ddim100' }],
  [
    'officialIndexing (seeded 0.01-std pre-noise), L = 2 on ddim100, s = 10',
    { noiseLevel: 2, classifierScale: 10, timestepRespacing: 'ddim100', officialIndexing: true, rng: 5 },
  ],
  [
    'DDPM variant (mean shift Σ·s·g, seeded noise), L = 2, s = 10',
    { noiseLevel: 2, classifierScale: 10, sampler: 'ddpm', rng: 5 },
  ],
];

async function gradient(): Promise<Float32Array> {
  const x = new SeededRNG(6).randn([2, 32, 32, 1]) as tf.Tensor4D;
  const g = classifierLogProbGradient(classifier, x, [3, 20], 0);
  const out = (await g.data()) as Float32Array;
  tf.dispose([x, g]);
  return out;
}

/** One webgpu step compiles many shaders on SwiftShader: generous per-test timeout. */
const TIMEOUT = 300_000;

describeBackends(
  'detectWithClassifierGuidance agrees with the cpu backend',
  (backend) => {
    // The cpu references are computed before any network weight touches the suite's backend: reading
    // webgpu tensors back on the cpu backend would need a synchronous GPU read, which Node lacks.
    const ref: { gradient?: Float32Array; runs: Run[] } = { runs: [] };
    beforeAll(async () => {
      await setTestBackend('cpu');
      try {
        ref.gradient = await gradient();
        for (const [, options] of cases) ref.runs.push(await run(options));
      } finally {
        await setTestBackend(backend);
      }
    }, TIMEOUT);

    it(
      'guidance gradient ∇ₓ log p(healthy | x_t, t)',
      async () => {
        const got = await gradient();
        let scale = 0;
        for (const v of ref.gradient!) scale = Math.max(scale, Math.abs(v));
        expect(scale).toBeGreaterThan(0);
        console.info(
          `[${backend}] gradient: max |Δ| / max |g| = ${(maxAbsDiff(got, ref.gradient!) / scale).toExponential(2)}`,
        );
        expect(maxAbsDiff(got, ref.gradient!) / scale).toBeLessThanOrEqual(TOL[backend]);
      },
      TIMEOUT,
    );

    cases.forEach(([title, options], i) => {
      it(
        title,
        async () => {
          const want = ref.runs[i]!;
          const got = await run(options);
          expect(got.map.length).toBe(32 * 32);
          console.info(
            `[${backend}] ${title}: max |Δ| healthy ${maxAbsDiff(got.healthy, want.healthy).toExponential(2)}, map ${maxAbsDiff(got.map, want.map).toExponential(2)}`,
          );
          expect(maxAbsDiff(got.healthy, want.healthy)).toBeLessThanOrEqual(TOL[backend]);
          expect(maxAbsDiff(got.map, want.map)).toBeLessThanOrEqual(TOL[backend]);
          expect(Math.abs(got.score[0]! - want.score[0]!)).toBeLessThanOrEqual(TOL[backend]);
          // the map is not trivially zero (the guidance moved the image)
          expect(want.score[0]).toBeGreaterThan(0);
        },
        TIMEOUT,
      );
    });
  },
  // cpu against itself would compare nothing: wasm by default, webgpu with ADX_TEST_BACKENDS=webgpu
  testBackends(['wasm']),
);
