/**
 * Cross-backend agreement ("same numbers on cpu, wasm and webgpu"): every case runs THOR / AnoDDPM
 * on the suite's backend and compares with the same call on the cpu backend inside the test.
 * Curated for `npm run test:webgpu` (tiny UNet, 16×16 images, ≤ 9 UNet calls per run).
 *
 * Tolerances: the chain is short and starts at small t, so the sinusoidal timestep embedding sees
 * arguments ≤ 20 rad; at THOR's t ≈ 350 WGSL sin/cos deviate by ~2e-4 (see tools/webgpu-env.sh)
 * and the maps would differ by more. What remains is float32 summation order in convolutions,
 * GroupNorm, attention and the Gaussian/SSIM filters, amplified slightly by the max-normalisation
 * of each A_t. Measured max |Δ| vs cpu (this machine): wasm ≤ 1e-5, webgpu (SwiftShader)
 * ≤ 1e-4 on maps and reconstructions; the bounds below leave ~5–10× headroom.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, expect, it } from 'vitest';
import { describeBackends, expectClose, maxAbsDiff, setTestBackend, type TestBackend } from '@adx/test-utils';
import { DiffusionModelUNet, SeededRNG } from '@adx/diffusion-core';
import { anoddpm } from './anoddpm.js';
import { thor, type ThorOptions } from './thor.js';

const model = DiffusionModelUNet.fromConfig(
  {
    inChannels: 1,
    outChannels: 1,
    numChannels: [16, 16],
    attentionLevels: [false, true],
    numResBlocks: 1,
    numHeadChannels: 16,
    normNumGroups: 8,
  },
  { seed: 21 },
);
// MONAI zero-initialises the output conv (and each ResBlock's second conv), so a fresh UNet
// predicts ε̂ ≡ 0 and would make the comparison trivial: perturb every parameter.
{
  const rng = new SeededRNG(22);
  for (const [, p] of model.namedParameters()) {
    tf.tidy(() => p.variable.assign(tf.add(p.variable, tf.mul(rng.randn(p.variable.shape), 0.05))));
  }
}

interface Run {
  map: Float32Array;
  reco: Float32Array;
  score: number[];
}

async function run(method: 'thor' | 'anoddpm', options: ThorOptions): Promise<Run> {
  const x = new SeededRNG(4).rand([2, 16, 16, 1]) as tf.Tensor4D;
  const res = method === 'thor' ? await thor(model, x, options) : await anoddpm(model, x, options);
  const out = {
    map: (await res.anomalyMap.data()) as Float32Array,
    reco: (await res.reconstruction.data()) as Float32Array,
    score: Array.from(res.score),
  };
  tf.dispose([x, res.anomalyMap, res.reconstruction]);
  return out;
}

const TOL: Record<TestBackend, number> = { cpu: 0, wasm: 1e-4, webgpu: 1e-3 };

const cases: [string, 'thor' | 'anoddpm', ThorOptions][] = [
  [
    'thor, full chain t = 8 … 0, harmonisation at 4, SSIM perceptual term',
    'thor',
    { tStart: 8, harmonizationSteps: [4], mapSteps: [8, 4, 0], rng: 9 },
  ],
  [
    'thor, strided chain (stride 5 from t = 20), no perceptual term',
    'thor',
    { tStart: 20, stride: 5, harmonizationSteps: [10], mapSteps: [20, 10, 0], perceptual: 'none', rng: 9 },
  ],
  ['anoddpm, t = 8 … 0', 'anoddpm', { tStart: 8, rng: 9 }],
];

/**
 * cpu references, computed once before the model's weights are first used on another backend
 * (moving them back from webgpu would need a synchronous read, which webgpu in Node cannot do).
 */
let references: Run[] | null = null;
async function cpuReferences(backend: TestBackend): Promise<Run[]> {
  if (references) return references;
  await setTestBackend('cpu');
  try {
    const out: Run[] = [];
    for (const [, method, options] of cases) out.push(await run(method, options));
    references = out;
    return out;
  } finally {
    await setTestBackend(backend);
  }
}

describeBackends('thor / anoddpm agree with the cpu backend', (backend) => {
  let refs: Run[] = [];
  beforeAll(async () => {
    refs = await cpuReferences(backend);
  });
  for (const [i, [title, method, options]] of cases.entries()) {
    it(title, async () => {
      const ref = refs[i]!;
      const got = await run(method, options);
      const tol = TOL[backend];
      // Shown in the test output so the tolerance can be checked against what was measured.
      console.info(
        `[${backend}] ${title}: max |Δ| map ${maxAbsDiff(got.map, ref.map).toExponential(1)}, ` +
          `reconstruction ${maxAbsDiff(got.reco, ref.reco).toExponential(1)}`,
      );
      expectClose(got.map, ref.map, tol, 'anomaly map');
      expectClose(got.reco, ref.reco, tol, 'reconstruction');
      expectClose(got.score, ref.score, tol, 'score');
      expect(Math.max(...got.map)).toBeGreaterThan(0);
    });
  }
});
