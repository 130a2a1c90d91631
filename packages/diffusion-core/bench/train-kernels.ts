/**
 * Benchmark of ADX's wasm training kernels. Run from packages/diffusion-core:
 *   npx tsx bench/train-kernels.ts [--quick] [--only=filter,input,stack,unet] [--cpu-unet]
 * (--cpu-unet adds the UNet step on the cpu backend: minutes.)
 *
 * 1. GFLOP/s of the conv filter gradient (Conv2DBackpropFilter, 2·B·OH·OW·KH·KW·Ci·Co FLOP) for
 *    UNet-typical shapes: the registered wasm kernel (im2col + one NN GEMM), the
 *    convolution-over-the-batch alternative, the naive im2col + transposed-GEMM orientation (the
 *    earlier prototype), and the cpu backend's own kernel.
 * 2. The forward conv2d GFLOP/s on wasm for reference.
 * 3. Training step / forward time ratio and ms per step of a small conv stack on wasm and cpu.
 * 4. The same for a small THOR-style UNet trained with ε-MSE and Adam, with live tensor counts.
 * Timings are wall-clock medians; numbers from a shared machine are noisy.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import {
  registerTrainingGradients,
  registerWasmTrainingKernels,
  unregisterWasmTrainingKernels,
  conv2dFilterGradient,
  Adam,
} from '../src/training/index.js';
import { DiffusionModelUNet } from '../src/models/monai-unet.js';
import { SeededRNG } from '../src/random/rng.js';

tf.env().set('IS_TEST', true); // no "install tfjs-node" banner
registerTrainingGradients();
registerWasmTrainingKernels();
const quick = process.argv.includes('--quick');

/** Best (minimum) wall time of `reps` runs after one warm-up: the least disturbed by other load. */
async function time(f: () => tf.Tensor | tf.Tensor[], reps: number): Promise<number> {
  const once = async (): Promise<number> => {
    const t0 = performance.now();
    const out = f();
    const outs = Array.isArray(out) ? out : [out];
    await outs[0]!.data();
    const dt = performance.now() - t0;
    tf.dispose(outs);
    return dt;
  };
  await once();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) ts.push(await once());
  return Math.min(...ts);
}

/** The prototype orientation: im2col in NHWC order, then Pᵀ·dy with transposeA (slow wasm path). */
function naiveFilterGrad(x: tf.Tensor4D, dy: tf.Tensor4D, k: number, pad: number): tf.Tensor {
  return tf.tidy(() => {
    const [B, H, W, Ci] = x.shape;
    const Co = dy.shape[3];
    const xp = tf.pad(x, [
      [0, 0],
      [pad, pad],
      [pad, pad],
      [0, 0],
    ]);
    const taps: tf.Tensor[] = [];
    for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) taps.push(tf.slice(xp, [0, i, j, 0], [B, H, W, Ci]));
    const p = tf.reshape(tf.concat(taps, 3), [B * H * W, k * k * Ci]);
    return tf.reshape(tf.matMul(p, tf.reshape(dy, [B * H * W, Co]), true, false), [k, k, Ci, Co]);
  });
}

/** The registered Conv2DBackpropFilter kernel of the active backend. */
function filterKernel(x: tf.Tensor4D, dy: tf.Tensor4D, filterShape: number[]): tf.Tensor {
  return tf
    .engine()
    .runKernel(
      'Conv2DBackpropFilter',
      { x, dy },
      { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape },
    ) as tf.Tensor;
}

async function benchFilterGrad(): Promise<void> {
  const shapes: [number, number, number, number, number][] = [
    // [B, H=W, Ci, Co, K]
    [4, 64, 32, 32, 3],
    [4, 32, 64, 64, 3],
    [4, 16, 64, 64, 3],
    [4, 16, 128, 128, 3],
    [4, 64, 32, 32, 1],
    [1, 16, 64, 64, 3],
  ];
  console.log('\nConv2DBackpropFilter, stride 1, pad same; GFLOP/s (best ms); cpu only where it takes < ~10 s');
  console.log(
    'shape [B,H,W,Ci]->Co, KxK        | wasm ADX im2col | wasm conv/batch | wasm naive TN   | cpu kernel      | wasm fwd conv',
  );
  for (const [B, S, Ci, Co, K] of quick ? shapes.slice(-1) : shapes) {
    const flop = 2 * B * S * S * K * K * Ci * Co;
    const row: string[] = [];
    for (const variant of ['wasm', 'convBatch', 'naive', 'cpu', 'fwd'] as const) {
      if (variant === 'cpu' && flop > 2e8) {
        row.push('      —        ');
        continue;
      }
      await tf.setBackend(variant === 'cpu' ? 'cpu' : 'wasm');
      await tf.ready();
      const x = tf.randomNormal([B, S, S, Ci]) as tf.Tensor4D;
      const dy = tf.randomNormal([B, S, S, Co]) as tf.Tensor4D;
      const w = tf.randomNormal([K, K, Ci, Co]) as tf.Tensor4D;
      const pad = (K - 1) / 2;
      const reps = variant === 'cpu' ? 1 : quick ? 3 : 5;
      const ms =
        variant === 'fwd'
          ? await time(() => tf.conv2d(x, w, 1, 'same'), reps)
          : variant === 'convBatch'
            ? await time(() => conv2dFilterGradient(x, dy, [K, K, Ci, Co], 1, 'same', 'NHWC', undefined, 'conv'), reps)
            : variant === 'naive'
              ? await time(() => naiveFilterGrad(x, dy, K, pad), reps)
              : await time(() => filterKernel(x, dy, [K, K, Ci, Co]), reps); // registered kernel of wasm / cpu
      row.push(`${(flop / ms / 1e6).toFixed(1).padStart(6)} (${ms.toFixed(1).padStart(6)})`);
      tf.dispose([x, dy, w]);
    }
    console.log(`[${B},${S},${S},${Ci}]->${Co}, ${K}x${K}`.padEnd(32), '|', row.join(' | '));
  }
}

async function benchInputGrad(): Promise<void> {
  console.log(
    '\nConv2DBackpropInput on wasm, 3x3 stride 1 / 2; GFLOP/s (best ms): ADX (XNNPACK conv) vs wasm original',
  );
  const shapes: [number, number, number, number, number][] = [
    [4, 64, 32, 32, 1],
    [4, 32, 64, 64, 1],
    [4, 64, 32, 32, 2],
  ];
  await tf.setBackend('wasm');
  await tf.ready();
  for (const [B, S, Ci, Co, s] of quick ? shapes.slice(1, 2) : shapes) {
    const OS = S / s;
    const flop = 2 * B * OS * OS * 9 * Ci * Co;
    const dy = tf.randomNormal([B, OS, OS, Co]);
    const w = tf.randomNormal([3, 3, Ci, Co]);
    const run = (): tf.Tensor =>
      tf
        .engine()
        .runKernel(
          'Conv2DBackpropInput',
          { dy, filter: w },
          { strides: s, pad: 'same', dataFormat: 'NHWC', inputShape: [B, S, S, Ci] },
        ) as tf.Tensor;
    const reps = quick ? 3 : 5;
    const ours = await time(run, reps);
    unregisterWasmTrainingKernels();
    const orig = await time(run, reps);
    registerWasmTrainingKernels();
    const f = (ms: number): string => `${(flop / ms / 1e6).toFixed(1)} (${ms.toFixed(1)} ms)`;
    console.log(
      `dy [${B},${OS},${OS},${Co}] -> x [${B},${S},${S},${Ci}], stride ${s}: ADX ${f(ours)}, wasm original ${f(orig)}`,
    );
    tf.dispose([dy, w]);
  }
}

/** Small UNet-like conv stack: conv-GN-SiLU ×2, avg-pool down, conv, nearest up, skip concat, conv. */
function makeStack(C: number): { vars: tf.Variable[]; forward: (x: tf.Tensor4D) => tf.Tensor4D } {
  const rng = (shape: number[], fan: number) =>
    tf.variable(tf.mul(tf.randomNormal(shape, 0, 1, 'float32', 1), 1 / Math.sqrt(fan)));
  const w1 = rng([3, 3, 1, C], 9);
  const w2 = rng([3, 3, C, C], 9 * C);
  const w3 = rng([3, 3, C, 2 * C], 9 * C);
  const w4 = rng([3, 3, 3 * C, C], 27 * C);
  const w5 = rng([1, 1, C, 1], C);
  const vars = [w1, w2, w3, w4, w5];
  const gn = (h: tf.Tensor4D): tf.Tensor4D => {
    const { mean, variance } = tf.moments(h, [1, 2, 3], true);
    return tf.mul(tf.sub(h, mean), tf.rsqrt(tf.add(variance, 1e-5)));
  };
  const silu = (h: tf.Tensor4D): tf.Tensor4D => tf.mul(h, tf.sigmoid(h));
  const forward = (x: tf.Tensor4D): tf.Tensor4D => {
    const h1 = silu(gn(tf.conv2d(x, w1, 1, 'same')));
    const h2 = silu(gn(tf.conv2d(h1, w2, 1, 'same')));
    const d = tf.avgPool(h2, 2, 2, 'valid');
    const h3 = silu(gn(tf.conv2d(d, w3, 1, 'same')));
    const u = tf.image.resizeNearestNeighbor(h3, [x.shape[1], x.shape[2]]);
    const h4 = silu(gn(tf.conv2d(tf.concat([u, h2], 3), w4, 1, 'same')));
    return tf.conv2d(h4, w5, 1, 'same');
  };
  return { vars, forward };
}

async function benchStep(): Promise<void> {
  const B = 4;
  const S = 32;
  const C = 32;
  console.log(`\nSmall conv stack (B=${B}, ${S}x${S}x1, C=${C}): forward ms, train step (fwd+bwd) ms, ratio, images/s`);
  for (const backend of ['wasm', 'cpu'] as const) {
    await tf.setBackend(backend);
    await tf.ready();
    const { vars, forward } = makeStack(C);
    const x = tf.randomNormal([B, S, S, 1]) as tf.Tensor4D;
    const target = tf.randomNormal([B, S, S, 1]);
    const reps = backend === 'cpu' ? 1 : 5;
    const fwd = await time(() => forward(x), reps);
    const before = tf.memory().numTensors;
    const step = await time(() => {
      const { value, grads } = tf.variableGrads(
        () => tf.mean(tf.squaredDifference(forward(x), target)) as tf.Scalar,
        vars,
      );
      return [value, ...Object.values(grads)];
    }, reps);
    const leaked = tf.memory().numTensors - before;
    console.log(
      `${backend.padEnd(5)} fwd ${fwd.toFixed(1)} ms, step ${step.toFixed(1)} ms, ratio ${(step / fwd).toFixed(2)}, ` +
        `${((B / step) * 1000).toFixed(1)} images/s, tensors leaked ${leaked}`,
    );
    tf.dispose([...vars, x, target]);
  }
}

/**
 * A small THOR-style UNet (MONAI DiffusionModelUNet, channels [32, 64, 64], attention on the two
 * lower levels, as the THOR fixture config) trained with ε-MSE + Adam: forward ms, full training
 * step (forward, backward, Adam update) ms, images/s, and live tensors after the steps.
 */
async function benchUNet(): Promise<void> {
  const S = 32;
  const B = 4;
  const steps = quick ? 3 : 10;
  console.log(
    `\nTHOR-style UNet [32,64,64], ${S}x${S}x1, batch ${B}: forward ms, train step ms (fwd+bwd+Adam), ratio, images/s`,
  );
  const backends = process.argv.includes('--cpu-unet') ? (['wasm', 'cpu'] as const) : (['wasm'] as const);
  for (const backend of backends) {
    await tf.setBackend(backend);
    await tf.ready();
    const model = DiffusionModelUNet.fromConfig(
      {
        inChannels: 1,
        outChannels: 1,
        numChannels: [32, 64, 64],
        attentionLevels: [false, true, true],
        numResBlocks: 1,
        numHeadChannels: 64,
        normNumGroups: 32,
      },
      { seed: 1 },
    );
    const vars = model.trainableVariables();
    const opt = new Adam(vars, { lr: 1e-4 });
    const rng = new SeededRNG(0);
    const x = rng.randn([B, S, S, 1]) as tf.Tensor4D;
    const eps = rng.randn([B, S, S, 1]);
    const t = [10, 200, 500, 900];
    const n = backend === 'cpu' ? 1 : steps;
    const fwd = await time(() => model.apply(x, t), backend === 'cpu' ? 1 : 5);
    const step = (): tf.Tensor => {
      const { value, grads } = tf.variableGrads(
        () => tf.mean(tf.squaredDifference(model.apply(x, t), eps)) as tf.Scalar,
        vars,
      );
      opt.step(grads);
      tf.dispose(Object.values(grads));
      return value;
    };
    const before = tf.memory().numTensors;
    const ms = await time(step, n);
    const after = tf.memory().numTensors;
    console.log(
      `${backend.padEnd(5)} fwd ${fwd.toFixed(1)} ms, step ${ms.toFixed(1)} ms, ratio ${(ms / fwd).toFixed(2)}, ` +
        `${((B / ms) * 1000).toFixed(1)} images/s, live tensors ${before} → ${after} after ${n + 1} steps`,
    );
    opt.dispose();
    model.dispose();
    tf.dispose([x, eps]);
  }
}

const only = process.argv
  .find((a) => a.startsWith('--only='))
  ?.slice(7)
  .split(',');
const sections: Record<string, () => Promise<void>> = {
  filter: benchFilterGrad,
  input: benchInputGrad,
  stack: benchStep,
  unet: benchUNet,
};
for (const [name, run] of Object.entries(sections)) if (!only || only.includes(name)) await run();
