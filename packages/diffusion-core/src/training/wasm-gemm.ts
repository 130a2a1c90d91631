/**
 * The wasm-safe GEMM shared by the training gradients (gradients.ts) and kernels (wasm-kernels.ts).
 * Internal: not exported from the package.
 */
import * as tf from '@tensorflow/tfjs-core';

/** Right operands of {@link gemm}: data id → the `K×N` shape it was last multiplied in. */
const rightOperandShapes = new WeakMap<object, string>();

/**
 * x·y (no flags). Guards against a tfjs-backend-wasm 4.22 hazard: its GEMM caches the XNNPACK
 * operator, with the right operand packed, by the right operand's data id alone
 * (`batch_mat_mul_impl.cc`, `xnn_matmul`), and reshapes share data ids — so a reshaped view used as
 * a right operand after the same data was one in another shape is multiplied with stale, wrongly
 * shaped weights (found by the matMul gradient test: [1, n] vs [n, 1]). Such a right operand is
 * copied first. Only GEMMs that go through this function are tracked.
 */
export function gemm(x: tf.Tensor, y: tf.Tensor): tf.Tensor {
  if (tf.getBackend() !== 'wasm') return tf.matMul(x, y);
  const key = y.shape.slice(-2).join('x');
  const seen = rightOperandShapes.get(y.dataId);
  const right = seen !== undefined && seen !== key ? tf.mul(y, tf.scalar(1, y.dtype)) : y;
  rightOperandShapes.set(right.dataId, key);
  const out = tf.matMul(x, right);
  if (right !== y) right.dispose();
  return out;
}
