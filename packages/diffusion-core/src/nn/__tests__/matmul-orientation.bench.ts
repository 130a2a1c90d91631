/**
 * Micro-benchmark of matMul orientations used by Linear and attention (not a test; run with
 * `npx tsx src/nn/__tests__/matmul-orientation.bench.ts [cpu|wasm]` from packages/diffusion-core).
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';

async function time(label: string, f: () => tf.Tensor, reps = 20): Promise<void> {
  for (let i = 0; i < 2; i++) {
    const y = f();
    await y.data();
    y.dispose();
  }
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) {
    const y = f();
    await y.data();
    y.dispose();
  }
  console.log(`${tf.getBackend()}  ${label.padEnd(52)} ${((performance.now() - t0) / reps).toFixed(2)} ms`);
}

async function main(): Promise<void> {
  const backend = process.argv[2] ?? 'wasm';
  tf.env().set('IS_TEST', true);
  await tf.setBackend(backend);
  await tf.ready();
  // Linear: tokens [M, in] × weight; M = 32·32·2 tokens, 64 → 192 (a qkv projection)
  const x = tf.randomNormal([2048, 64]);
  const wIO = tf.randomNormal([64, 192]);
  const wOI = tf.transpose(wIO);
  await time('linear x·W, W [in,out]            (ADX)', () => tf.matMul(x, wIO));
  await time('linear x·Wᵀ, W [out,in] transposeB', () => tf.matMul(x, wOI, false, true));
  // attention scores for 1 batch × 2 heads, T = 1024 tokens (32×32 map), ch = 32
  const q = tf.randomNormal([2, 1024, 32]);
  const k = tf.randomNormal([2, 1024, 32]);
  const kT = tf.transpose(k, [0, 2, 1]);
  await time('scores q·kᵀ transposeB (batched)', () => tf.matMul(q, k, false, true));
  await time('scores q·(kᵀ materialised)', () => tf.tidy(() => tf.matMul(q, tf.transpose(k, [0, 2, 1]))));
  await time('scores q·kT (kT precomputed)', () => tf.matMul(q, kT));
  await time('scores (k·qᵀ)ᵀ transposeA/B', () => tf.matMul(k, q, false, true));
  // whole attention, B = 4 (2 images × 2 heads): one batched call vs rank-2 calls per slice (ADX on cpu/wasm)
  const [q4, k4, v4] = [0, 1, 2].map(() => tf.randomNormal([4, 1024, 32]) as tf.Tensor3D);
  await time('attention batched 3D, transposeB', () =>
    tf.tidy(() => tf.matMul(tf.softmax(tf.matMul(q4!, k4!, false, true)), v4!)),
  );
  await time('attention per slice 2D, kᵀ materialised     (ADX)', () =>
    tf.tidy(() => {
      const ks = tf.unstack(k4!);
      const vs = tf.unstack(v4!);
      return tf.stack(
        tf
          .unstack(q4!)
          .map((qi, i) =>
            tf.matMul(
              tf.softmax(tf.matMul(qi as tf.Tensor2D, tf.transpose(ks[i]!) as tf.Tensor2D)),
              vs[i] as tf.Tensor2D,
            ),
          ),
      );
    }),
  );
  const w = tf.softmax(tf.randomNormal([2, 1024, 1024]));
  const v = tf.randomNormal([2, 1024, 32]);
  const vT = tf.transpose(v, [0, 2, 1]);
  await time('out w·v (batched)', () => tf.matMul(w, v));
  await time('out w·(vᵀ)ᵀ transposeB', () => tf.matMul(w, vT, false, true));
  await time('out (vᵀ·wᵀ)ᵀ transposeB, then transpose', () =>
    tf.tidy(() => tf.transpose(tf.matMul(vT, w, false, true), [0, 2, 1])),
  );
}

void main();
