/**
 * Perceptual distance maps for THOR's temporal anomaly maps (thor.md §1.4 step 2).
 *
 * THOR uses LPIPS-SqueezeNet (`lpips.ts`), whose ImageNet weights cannot be shipped or downloaded
 * here. Offline alternatives that need no pretrained weights:
 *  - `SsimDistance`: local structural dissimilarity (1 − SSIM)/2 with a Gaussian window
 *    (σ = 1.5, as skimage `structural_similarity(gaussian_weights=True)`), per pixel.
 *  - `ConstantDistance`: P ≡ 1, i.e. A_t is the max-normalised absolute residual alone.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError, assertRank, gaussianBlur2d } from '@adx/diffusion-core';

/** Anything that maps two [0,1] image batches `[N,H,W,C]` to a distance map `[N,H,W,1]`. */
export interface PerceptualDistance {
  readonly name: string;
  distanceMap(a: tf.Tensor4D, b: tf.Tensor4D): tf.Tensor4D;
}

export interface SsimDistanceOptions {
  /** Gaussian window σ (default 1.5, skimage/Wang et al.). */
  sigma?: number;
  /** Dynamic range of the images (default 1). */
  dataRange?: number;
  /** Stabilisers (default K1 = 0.01, K2 = 0.03). */
  k1?: number;
  k2?: number;
}

/**
 * Per-pixel structural dissimilarity `(1 − SSIM(a, b)) / 2 ∈ [0, 1]`, averaged over channels.
 * Local statistics use a Gaussian window (truncate 3.5σ as skimage, reflect boundaries) and
 * population (not sample) covariance.
 */
export class SsimDistance implements PerceptualDistance {
  readonly name = 'ssim';
  private readonly sigma: number;
  private readonly c1: number;
  private readonly c2: number;
  constructor(options: SsimDistanceOptions = {}) {
    const { sigma = 1.5, dataRange = 1, k1 = 0.01, k2 = 0.03 } = options;
    if (!(sigma > 0)) throw new ArgumentError('sigma', `must be > 0, got ${sigma}`);
    this.sigma = sigma;
    this.c1 = (k1 * dataRange) ** 2;
    this.c2 = (k2 * dataRange) ** 2;
  }

  distanceMap(a: tf.Tensor4D, b: tf.Tensor4D): tf.Tensor4D {
    assertRank('a', a.shape, 4);
    assertRank('b', b.shape, 4);
    return tf.tidy(() => {
      const blur = (x: tf.Tensor4D) => gaussianBlur2d(x, this.sigma, { truncate: 3.5 });
      const ma = blur(a);
      const mb = blur(b);
      const va = tf.sub(blur(tf.mul(a, a) as tf.Tensor4D), tf.mul(ma, ma));
      const vb = tf.sub(blur(tf.mul(b, b) as tf.Tensor4D), tf.mul(mb, mb));
      const cov = tf.sub(blur(tf.mul(a, b) as tf.Tensor4D), tf.mul(ma, mb));
      const num = tf.mul(tf.add(tf.mul(tf.mul(ma, mb), 2), this.c1), tf.add(tf.mul(cov, 2), this.c2));
      const den = tf.mul(tf.add(tf.add(tf.square(ma), tf.square(mb)), this.c1), tf.add(tf.add(va, vb), this.c2));
      const ssim = tf.mean(tf.div(num, den), 3, true);
      return tf.clipByValue(tf.div(tf.sub(1, ssim), 2), 0, 1) as tf.Tensor4D;
    });
  }
}

/** P ≡ 1: the temporal map reduces to the (max-normalised) absolute residual. */
export class ConstantDistance implements PerceptualDistance {
  readonly name = 'none';
  distanceMap(a: tf.Tensor4D): tf.Tensor4D {
    const [n, h, w] = a.shape;
    return tf.ones([n, h, w, 1]);
  }
}
