/**
 * The two custom building blocks the walkthrough plugs into THOR. Both are ordinary functions /
 * classes written against the public interfaces of `@adx/guidance-thor`, so this is also the
 * template for your own:
 *
 *  - a `NoiseFn`: how ε0 and every ancestral step's fresh noise are drawn;
 *  - a `PerceptualDistance`: the P(x̂0, x) term of THOR's temporal anomaly map
 *    A_t = normmax(clip01(blur(P(x̂0, x))) ⊙ |x̂0 − x|)   (Bercea et al. 2024, thor.md §1.4).
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError, type SeededRNG } from '@adx/diffusion-core';
import { SsimDistance, type NoiseFn, type PerceptualDistance } from '@adx/guidance-thor';

/**
 * Multi-scale ("pyramid") Gaussian noise: ε = √(1−w)·ε_fine + √w·up₂(ε_coarse), where ε_coarse is
 * drawn at half resolution and upsampled by nearest neighbour. Both parts are N(0, 1) per pixel and
 * independent, so ε stays N(0, 1) per pixel (the forward process q(x_t | x_0) keeps its variance),
 * but part of the noise is spatially correlated — like AnoDDPM's simplex noise, it hides larger
 * structures than white noise does, at no cost. `w = 0` gives THOR's default Gaussian noise.
 *
 * All randomness comes from the `SeededRNG` THOR passes in, so runs are reproducible.
 */
export function pyramidNoise(coarseWeight = 0.25): NoiseFn {
  if (!(coarseWeight >= 0 && coarseWeight <= 1))
    throw new ArgumentError('coarseWeight', `must be in [0, 1], got ${coarseWeight}`);
  return (shape: [number, number, number, number], rng: SeededRNG) =>
    tf.tidy(() => {
      const [n, h, w, c] = shape;
      const fine = rng.randn(shape) as tf.Tensor4D;
      const coarse = rng.randn([n, Math.ceil(h / 2), Math.ceil(w / 2), c]) as tf.Tensor4D;
      // Nearest-neighbour ×2 upsampling, cropped back to H×W for odd sizes.
      const up = tf.slice(tf.image.resizeNearestNeighbor(coarse, [2 * coarse.shape[1], 2 * coarse.shape[2]]), 0, [
        n,
        h,
        w,
        c,
      ]);
      return tf.add(tf.mul(fine, Math.sqrt(1 - coarseWeight)), tf.mul(up, Math.sqrt(coarseWeight))) as tf.Tensor4D;
    });
}

/**
 * A perceptual distance that needs no pretrained weights: the average of
 *  - SSIM dissimilarity (1 − SSIM)/2 (the package's default P, Gaussian window σ = 1.5), and
 *  - the absolute difference of the Sobel gradient magnitudes, |‖∇a‖ − ‖∇b‖| / 4 (edges that
 *    appear or vanish in the pseudo-healthy image, e.g. a lesion's rim),
 * per pixel, in [0, 1], `[N,H,W,1]`. Channels are averaged first.
 */
export class SsimGradientDistance implements PerceptualDistance {
  readonly name = 'ssim+gradient';
  private readonly ssim = new SsimDistance();

  constructor(private readonly gradientWeight = 0.5) {
    if (!(gradientWeight >= 0 && gradientWeight <= 1))
      throw new ArgumentError('gradientWeight', `must be in [0, 1], got ${gradientWeight}`);
  }

  distanceMap(a: tf.Tensor4D, b: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const s = this.ssim.distanceMap(a, b);
      const g = tf.abs(tf.sub(sobelMagnitude(a), sobelMagnitude(b)));
      // On [0, 1] images ‖∇‖ ≤ 4·√2 for the un-normalised Sobel pair; /4 keeps typical edges < 1.
      const mixed = tf.add(tf.mul(s, 1 - this.gradientWeight), tf.mul(tf.div(g, 4), this.gradientWeight));
      return tf.clipByValue(mixed, 0, 1) as tf.Tensor4D;
    });
  }
}

/** ‖∇x‖ with 3×3 Sobel kernels on the channel mean, edge-replicated borders: `[N,H,W,1]`. */
function sobelMagnitude(x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const m = tf.mean(x, 3, true) as tf.Tensor4D;
    const padded = tf.mirrorPad(
      m,
      [
        [0, 0],
        [1, 1],
        [1, 1],
        [0, 0],
      ],
      'symmetric',
    );
    // HWIO kernels [3, 3, 1, 2]: channel 0 = ∂/∂x, channel 1 = ∂/∂y.
    const gx = [
      [-1, 0, 1],
      [-2, 0, 2],
      [-1, 0, 1],
    ];
    const k = tf.tensor4d(
      gx.flatMap((row, i) => row.flatMap((v, j) => [v, gx[j]![i]!])),
      [3, 3, 1, 2],
    );
    const grads = tf.conv2d(padded, k, 1, 'valid');
    return tf.sqrt(tf.sum(tf.square(grads), 3, true)) as tf.Tensor4D;
  });
}
