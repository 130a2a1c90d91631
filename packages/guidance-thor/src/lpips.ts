/**
 * LPIPS with SqueezeNet-1.1 features (Zhang et al., CVPR 2018; `lpips` 0.1.4, `net='squeeze'`,
 * `version='0.1'`, `spatial=True`), as THOR uses it for its temporal anomaly maps (thor.md §3.4).
 *
 * Architecture (torchvision `squeezenet1_1().features`, cut into LPIPS' 7 slices):
 *   slice1 = features[0:2]  conv3×3/2 (3→64) + ReLU                          → 64 ch
 *   slice2 = features[2:5]  maxpool3/2(ceil) + Fire(64,16,64,64) + Fire(128,16,64,64)   → 128
 *   slice3 = features[5:8]  maxpool3/2(ceil) + Fire(128,32,128,128) + Fire(256,32,…)  → 256
 *   slice4 = features[8:10] maxpool3/2(ceil) + Fire(256,48,192,192)                   → 384
 *   slice5 = features[10]   Fire(384,48,192,192)                                      → 384
 *   slice6 = features[11]   Fire(384,64,256,256)                                      → 512
 *   slice7 = features[12]   Fire(512,64,256,256)                                      → 512
 * Per slice: unit-normalise channels (eps 1e-10), squared difference, 1×1 linear head without bias
 * (`linK.model.1.weight`), bilinear upsample (align_corners=False) to the input size; sum slices.
 * Input: ScalingLayer (x − shift)/scale with shift (−.030, −.088, −.188), scale (.458, .448, .450).
 *
 * Parameters are registered under torchvision's keys (`features.3.squeeze.weight`, …) plus the
 * lpips head keys (`lin0.model.1.weight`, …), so `loadLpipsWeights` can take torchvision's
 * `squeezenet1_1` state dict together with lpips' `weights/v0.1/squeeze.pth`, or a full `lpips.LPIPS`
 * state dict (`net.slice2.3.squeeze.weight`, …). Those pretrained weights cannot be shipped or
 * downloaded here; with random weights LPIPS is not a perceptual metric — use it only with imported
 * weights (see the package README for the offline default).
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  ArgumentError,
  Module,
  SeededRNG,
  WeightsError,
  assertRank,
  loadStateDict,
  torchDefaultInit,
  type LoadStateDictResult,
  type TorchTensor,
} from '@adx/diffusion-core';

/** Channel counts of the 7 LPIPS slices of SqueezeNet 1.1. */
export const LPIPS_SQUEEZE_CHANNELS = [64, 128, 256, 384, 384, 512, 512] as const;

const SHIFT = [-0.03, -0.088, -0.188];
const SCALE = [0.458, 0.448, 0.45];

class Conv extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
  constructor(
    rng: SeededRNG,
    readonly inC: number,
    readonly outC: number,
    readonly k: number,
    readonly stride = 1,
    readonly pad: number | 'valid' = 0,
  ) {
    super();
    const fanIn = inC * k * k;
    this.weight = this.addParameter('weight', torchDefaultInit(rng, [k, k, inC, outC], fanIn), 'conv2d');
    this.bias = this.addParameter('bias', torchDefaultInit(rng, [outC], fanIn));
  }
  apply(x: tf.Tensor4D): tf.Tensor4D {
    const pad = this.pad === 0 ? 'valid' : this.pad;
    return tf.relu(tf.add(tf.conv2d(x, this.weight as tf.Tensor4D, this.stride, pad), this.bias)) as tf.Tensor4D;
  }
}

/** torchvision Fire module: squeeze 1×1 → ReLU → [expand1x1 → ReLU ‖ expand3x3 (pad 1) → ReLU]. */
class Fire extends Module {
  private readonly squeeze: Conv;
  private readonly expand1x1: Conv;
  private readonly expand3x3: Conv;
  constructor(rng: SeededRNG, inC: number, squeezeC: number, e1: number, e3: number) {
    super();
    this.squeeze = this.addModule('squeeze', new Conv(rng, inC, squeezeC, 1));
    this.expand1x1 = this.addModule('expand1x1', new Conv(rng, squeezeC, e1, 1));
    this.expand3x3 = this.addModule('expand3x3', new Conv(rng, squeezeC, e3, 3, 1, 1));
  }
  apply(x: tf.Tensor4D): tf.Tensor4D {
    const s = this.squeeze.apply(x);
    return tf.concat([this.expand1x1.apply(s), this.expand3x3.apply(s)], 3) as tf.Tensor4D;
  }
}

/** PyTorch MaxPool2d(3, 2, ceil_mode=True): pad bottom/right with −∞ where ceil adds a window. */
function maxPoolCeil(x: tf.Tensor4D): tf.Tensor4D {
  const [, h, w] = x.shape;
  const out = (n: number) => {
    let o = Math.ceil((n - 3) / 2) + 1;
    if ((o - 1) * 2 >= n) o -= 1;
    return o;
  };
  const ph = (out(h) - 1) * 2 + 3 - h;
  const pw = (out(w) - 1) * 2 + 3 - w;
  const padded =
    ph > 0 || pw > 0
      ? tf.pad(
          x,
          [
            [0, 0],
            [0, Math.max(ph, 0)],
            [0, Math.max(pw, 0)],
            [0, 0],
          ],
          -Infinity,
        )
      : x;
  return tf.maxPool(padded, 3, 2, 'valid');
}

/** One LPIPS linear head: `linK.model.1.weight` = Conv2d(C, 1, 1, bias=False) (Dropout at .0). */
class LinHead extends Module {
  readonly weight: tf.Variable;
  constructor(rng: SeededRNG, c: number) {
    super();
    this.weight = this.addParameter('weight', tf.abs(torchDefaultInit(rng, [1, 1, c, 1], c)), 'conv2d');
  }
}

/** A parameter-free container (torch `nn.Sequential`) holding children under given names. */
class Container extends Module {
  add<M extends Module>(name: string | number, m: M): M {
    return this.addModule(name, m);
  }
}

class LinLayer extends Module {
  readonly head: LinHead;
  constructor(rng: SeededRNG, c: number) {
    super();
    // `model.1` (index 0 is the parameter-free Dropout).
    this.head = this.addModule('model', new Container()).add(1, new LinHead(rng, c));
  }
}

export interface LpipsOptions {
  /**
   * THOR's input quirk (thor.md §3.4): `lpips_loss` maps [0,1]→[−1,1] and then calls LPIPS with
   * `normalize=True`, so the network sees 4x−3. `true` (default) reproduces the official code;
   * `false` feeds 2x−1 as LPIPS intends.
   */
  thorInputQuirk?: boolean;
}

export interface LpipsConfig {
  className: 'LpipsSqueeze';
  thorInputQuirk: boolean;
}

export class LpipsSqueeze extends Module {
  private readonly features = new Map<number, Conv | Fire>();
  private readonly lins: LinLayer[] = [];
  readonly thorInputQuirk: boolean;

  constructor(options: LpipsOptions & { seed?: number } = {}) {
    super();
    this.thorInputQuirk = options.thorInputQuirk ?? true;
    const rng = new SeededRNG(options.seed ?? 0);
    const featuresModule = this.addModule('features', new Container());
    const add = (i: number, m: Conv | Fire) => this.features.set(i, featuresModule.add(i, m));
    add(0, new Conv(rng, 3, 64, 3, 2, 0));
    add(3, new Fire(rng, 64, 16, 64, 64));
    add(4, new Fire(rng, 128, 16, 64, 64));
    add(6, new Fire(rng, 128, 32, 128, 128));
    add(7, new Fire(rng, 256, 32, 128, 128));
    add(9, new Fire(rng, 256, 48, 192, 192));
    add(10, new Fire(rng, 384, 48, 192, 192));
    add(11, new Fire(rng, 384, 64, 256, 256));
    add(12, new Fire(rng, 512, 64, 256, 256));
    LPIPS_SQUEEZE_CHANNELS.forEach((c, k) => this.lins.push(this.addModule(`lin${k}`, new LinLayer(rng, c))));
  }

  toConfig(): LpipsConfig {
    return { className: 'LpipsSqueeze', thorInputQuirk: this.thorInputQuirk };
  }

  /** The 7 slice outputs (NHWC) for an input already in LPIPS' [−1, 1] convention. */
  features7(x: tf.Tensor4D): tf.Tensor4D[] {
    const f = (i: number, t: tf.Tensor4D) => this.features.get(i)!.apply(t);
    const scaled = tf.div(tf.sub(x, tf.tensor1d(SHIFT)), tf.tensor1d(SCALE)) as tf.Tensor4D;
    const s1 = f(0, scaled);
    const s2 = f(4, f(3, maxPoolCeil(s1)));
    const s3 = f(7, f(6, maxPoolCeil(s2)));
    const s4 = f(9, maxPoolCeil(s3));
    const s5 = f(10, s4);
    const s6 = f(11, s5);
    const s7 = f(12, s6);
    return [s1, s2, s3, s4, s5, s6, s7];
  }

  /**
   * Spatial LPIPS distance map between two batches of images in [0, 1] (1 or 3 channels; grey is
   * repeated to RGB as THOR does). Returns `[N, H, W, 1]`.
   */
  distanceMap(a: tf.Tensor4D, b: tf.Tensor4D): tf.Tensor4D {
    assertRank('a', a.shape, 4);
    assertRank('b', b.shape, 4);
    if (a.shape.some((d, i) => d !== b.shape[i])) {
      throw new ArgumentError('b', `shape [${b.shape.join(', ')}] differs from a's [${a.shape.join(', ')}]`);
    }
    const c = a.shape[3];
    if (c !== 1 && c !== 3) throw new ArgumentError('a', `expected 1 or 3 channels, got ${c}`);
    const [, h, w] = a.shape;
    return tf.tidy(() => {
      const prep = (x: tf.Tensor4D) => {
        const rgb = c === 1 ? (tf.tile(x, [1, 1, 1, 3]) as tf.Tensor4D) : x;
        // normalize=True maps y → 2y − 1; THOR first maps x → 2x − 1 as well (4x − 3 overall).
        const y = this.thorInputQuirk ? tf.sub(tf.mul(rgb, 2), 1) : rgb;
        return tf.sub(tf.mul(y, 2), 1) as tf.Tensor4D;
      };
      const fa = this.features7(prep(a));
      const fb = this.features7(prep(b));
      let total: tf.Tensor4D | null = null;
      for (let k = 0; k < 7; k++) {
        const na = unitNormalize(fa[k]!);
        const nb = unitNormalize(fb[k]!);
        const d = tf.square(tf.sub(na, nb)) as tf.Tensor4D;
        const lin = tf.conv2d(d, this.lins[k]!.head.weight as tf.Tensor4D, 1, 'valid');
        const up = tf.image.resizeBilinear(lin, [h, w], false, true);
        total = total === null ? up : (tf.add(total, up) as tf.Tensor4D);
      }
      return total!;
    });
  }
}

/** lpips `normalize_tensor`: x / (‖x‖₂ over channels + 1e-10). */
function unitNormalize(x: tf.Tensor4D): tf.Tensor4D {
  const norm = tf.sqrt(tf.sum(tf.square(x), 3, true));
  return tf.div(x, tf.add(norm, 1e-10));
}

/**
 * Loads LPIPS-SqueezeNet weights from PyTorch state dicts: torchvision `squeezenet1_1` (`features.*`;
 * the `classifier.*` keys are ignored) plus lpips `squeeze.pth` (`linK.model.1.weight`), or a single
 * full `lpips.LPIPS` state dict (`net.sliceK.N.*`, `linK.model.1.weight`, `scaling_layer.*`).
 */
export function loadLpipsWeights(
  model: LpipsSqueeze,
  ...stateDicts: (Map<string, TorchTensor> | Record<string, TorchTensor>)[]
): LoadStateDictResult {
  const merged = new Map<string, TorchTensor>();
  for (const sd of stateDicts) {
    for (const [k, v] of sd instanceof Map ? sd : Object.entries(sd)) {
      const m = /^net\.slice\d+\.(\d+\..*)$/.exec(k);
      merged.set(m ? `features.${m[1]}` : k, v);
    }
  }
  if (![...merged.keys()].some((k) => k.startsWith('lin'))) {
    throw new WeightsError(
      'LPIPS weights',
      'no linear heads (lin0.model.1.weight …); pass lpips weights/v0.1/squeeze.pth too',
    );
  }
  return loadStateDict(model, merged, {
    source: 'LPIPS-SqueezeNet weights',
    ignore: (k) => k.startsWith('classifier.') || k.startsWith('scaling_layer.'),
  });
}
