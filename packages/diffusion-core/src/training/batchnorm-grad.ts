/**
 * Gradient of `FusedBatchNorm` (tf.batchNorm), which `registerTrainingGradients` (gradients.ts)
 * does not provide yet and the cDDPM ResNet encoder needs when it is trained jointly. A port of
 * tfjs-core 4.22 `src/gradients/FusedBatchNorm_grad.ts` onto the public API (broadcasting over the
 * leading axes instead of explicit tiling). With y = (x − μ)·γ/√(σ² + ε) + β:
 *   ∂x = dy·γ/√(σ²+ε),  ∂μ = Σ −dy·γ/√(σ²+ε),  ∂σ² = Σ −½(σ²+ε)^{−3/2}(x − μ)·dy·γ,
 *   ∂γ = Σ dy·(x − μ)/√(σ²+ε),  ∂β = Σ dy      (sums over every axis the parameter broadcasts on).
 * In training μ and σ² come from `tf.moments(x)`, whose own gradients carry the rest of ∂x.
 */
import * as tf from '@tensorflow/tfjs-core';

function reduceTo(t: tf.Tensor, shape: number[], xShape: number[]): tf.Tensor {
  const axes = tf.backend_util.getReductionAxes(shape, xShape);
  return tf.reshape(axes.length > 0 ? tf.sum(t, axes) : t, shape);
}

const config: tf.GradConfig = {
  kernelName: 'FusedBatchNorm',
  inputsToSave: ['x', 'mean', 'variance', 'scale'],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
    const g = dy as tf.Tensor;
    const [x, mean, variance, scale] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor | undefined];
    const eps = attrs.varianceEpsilon as number;
    const s = scale ?? tf.scalar(1);
    const rstd = tf.rsqrt(tf.add(variance, eps));
    const xMinusMean = tf.sub(x, mean);
    const dyScaled = tf.mul(g, s);
    return {
      x: () => tf.mul(dyScaled, rstd),
      mean: () => reduceTo(tf.neg(tf.mul(dyScaled, rstd)), mean.shape, x.shape),
      variance: () =>
        reduceTo(tf.mul(tf.mul(tf.mul(tf.pow(rstd, 3), -0.5), xMinusMean), dyScaled), variance.shape, x.shape),
      scale: () => reduceTo(tf.mul(g, tf.mul(xMinusMean, rstd)), (scale ?? mean).shape, x.shape),
      offset: () => reduceTo(g, mean.shape, x.shape),
    };
  },
};

/** Registers the `FusedBatchNorm` gradient unless one is registered already; returns whether it did. */
export function registerBatchNormGradient(): boolean {
  if (tf.getGradient('FusedBatchNorm') != null) return false;
  tf.registerGradient(config);
  return true;
}
