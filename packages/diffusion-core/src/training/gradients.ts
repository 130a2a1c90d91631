/**
 * Gradient functions for the kernels that ADX's networks (MONAI/THOR UNet, guided-diffusion UNet,
 * Behrendt's conditioned UNet, ResNet encoders), losses and optimizers use.
 *
 * Why this exists: `@tensorflow/tfjs-core` registers its gradients only through the side-effect
 * module `dist/register_all_gradients.js`, which the union package `@tensorflow/tfjs` imports. The
 * Node entry of tfjs-core (`tf-core.node.js`) contains no gradient at all, and the ESM `dist/`
 * files cannot be loaded by Node (extensionless and directory imports). So `tf.grad` fails with
 * "gradient function not found for Sum" unless the union package is installed. These are ports of
 * tfjs-core 4.22 `src/gradients/*_grad.ts` onto its public API; they are registered only for
 * kernels that have no gradient yet, so an installed union package keeps its own.
 */
import * as tf from '@tensorflow/tfjs-core';
import { gemm } from './wasm-gemm.js';

type Saved = tf.Tensor[];
type Attrs = Record<string, unknown>;
type Dy = tf.Tensor | tf.Tensor[];
type GradMap = Record<string, () => tf.Tensor>;

const one = (dy: Dy): tf.Tensor => dy as tf.Tensor;

/** Reduces a broadcast gradient back to `shape` (tfjs-core Add_grad.ts / broadcast_util). */
function unbroadcast(res: tf.Tensor, shape: number[], outShape: number[]): tf.Tensor {
  const axes = tf.broadcast_util.getReductionAxes(shape, outShape);
  return tf.reshape(axes.length > 0 ? sumAxes(res, axes) : res, shape);
}

function binary(
  kernelName: string,
  fa: (dy: tf.Tensor, a: tf.Tensor, b: tf.Tensor, y?: tf.Tensor) => tf.Tensor,
  fb: (dy: tf.Tensor, a: tf.Tensor, b: tf.Tensor, y?: tf.Tensor) => tf.Tensor,
  saveOutput = false,
): tf.GradConfig {
  return {
    kernelName,
    inputsToSave: ['a', 'b'],
    outputsToSave: saveOutput ? [true] : undefined,
    gradFunc: (dy: Dy, saved: Saved) => {
      const [a, b, y] = saved as [tf.Tensor, tf.Tensor, tf.Tensor?];
      const outShape = tf.broadcast_util.assertAndGetBroadcastShape(a.shape, b.shape);
      return {
        a: () => unbroadcast(fa(one(dy), a, b, y), a.shape, outShape),
        b: () => unbroadcast(fb(one(dy), a, b, y), b.shape, outShape),
      };
    },
  };
}

function unary(
  kernelName: string,
  f: (dy: tf.Tensor, xOrY: tf.Tensor, attrs: Attrs) => tf.Tensor,
  save: 'x' | 'y' | 'none' = 'x',
  inputName = 'x',
): tf.GradConfig {
  return {
    kernelName,
    inputsToSave: save === 'x' ? [inputName] : undefined,
    outputsToSave: save === 'y' ? [true] : undefined,
    gradFunc: (dy: Dy, saved: Saved, attrs: Attrs) => ({
      [inputName]: () => f(one(dy), saved[0]!, attrs),
    }),
  };
}

const zeroGrad = (name: string): tf.GradConfig => unary(name, (dy) => tf.zerosLike(dy), 'none');
/** float32 view of an operand (no copy when it already is float32; never returned as a gradient as is). */
const f32 = (t: tf.Tensor): tf.Tensor => (t.dtype === 'float32' ? t : tf.cast(t, 'float32'));

/** tfjs-core gradients/min_max_grad_util.ts gradForMinAndMax. */
function minMaxGrad(dy: tf.Tensor, y: tf.Tensor, x: tf.Tensor, axes: number[]): tf.Tensor {
  if (y.rank < x.rank) y = tf.reshape(y, tf.backend_util.expandShapeToKeepDim(y.shape, axes));
  if (dy.rank < x.rank) dy = tf.reshape(dy, tf.backend_util.expandShapeToKeepDim(dy.shape, axes));
  return tf.mul(dy, tf.cast(tf.equal(x, y), dy.dtype));
}

function reduceGrad(kernelName: 'Max' | 'Min', axisAttr: string): tf.GradConfig {
  return {
    kernelName,
    inputsToSave: ['x'],
    outputsToSave: [true],
    gradFunc: (dy: Dy, saved: Saved, attrs: Attrs) => {
      const [x, y] = saved as [tf.Tensor, tf.Tensor];
      const axes = tf.util.parseAxisParam(attrs[axisAttr] as number | number[], x.shape);
      return { x: () => minMaxGrad(one(dy), y, x, axes) };
    },
  };
}

/** tfjs-core GatherV2_grad.ts (batchDims = 0), built on unsortedSegmentSum. */
function gatherGrad(x: tf.Tensor, indices: tf.Tensor, dy: tf.Tensor, axis: number): tf.Tensor {
  const paramsShape = x.shape;
  const outerShape = paramsShape.slice(0, axis);
  const innerShape = paramsShape.slice(axis + 1);
  const outerDims = outerShape.length;
  const range = (a: number, b: number): number[] => Array.from({ length: b - a }, (_, i) => a + i);
  const values = tf.reshape(dy, [...outerShape, indices.size, ...innerShape]);
  const flatIndices = tf.reshape(indices, [indices.size]);
  const perm = [outerDims, ...range(0, outerDims), ...range(outerDims + 1, outerDims + 1 + innerShape.length)];
  const grad = tf.unsortedSegmentSum(tf.transpose(values, perm), flatIndices as tf.Tensor1D, paramsShape[axis]!);
  return tf.transpose(grad, tf.backend_util.getUndoAxesPermutation(perm));
}

/** Swaps the last two axes (a reshape when one of them has size 1). */
const swapLast = (t: tf.Tensor): tf.Tensor => {
  const [r, c] = t.shape.slice(-2) as [number, number];
  if (r === 1 || c === 1) return tf.reshape(t, [...t.shape.slice(0, -2), c, r]);
  const perm = t.shape.map((_, i) => i);
  perm[t.rank - 2] = t.rank - 1;
  perm[t.rank - 1] = t.rank - 2;
  return tf.transpose(t, perm);
};

/**
 * Σ of `t` over `axes`, keeping no dims. On wasm, `Sum` over axes that are not the innermost ones
 * transposes first and is slow (wasm [16384, 32] over axis 0: 11.7 ms; [4, 4096, 96] over axis 1:
 * 58 ms; loaded machine), while the same sums as a GEMM with a matrix of ones take < 2 ms:
 * - leading axes: 1ᵀ[1, R]·T[R, I];
 * - one contiguous block of middle axes, outer size O ≤ 64: S[O, O·R]·T[O·R, I], S block-diagonal ones.
 * Other axis sets, and other backends, use `tf.sum`.
 */
function sumAxes(t: tf.Tensor, axes: number[]): tf.Tensor {
  const sorted = [...axes].sort((a, b) => a - b);
  const contiguous = sorted.every((a, i) => i === 0 || a === sorted[i - 1]! + 1);
  const last = sorted[sorted.length - 1];
  if (tf.getBackend() !== 'wasm' || sorted.length === 0 || !contiguous || last === t.rank - 1 || t.dtype !== 'float32')
    return tf.sum(t, axes);
  const first = sorted[0]!;
  const prod = (s: number[]): number => s.reduce((p, c) => p * c, 1);
  const outer = prod(t.shape.slice(0, first));
  const reduced = prod(t.shape.slice(first, last! + 1));
  const inner = prod(t.shape.slice(last! + 1));
  if (outer > 64) return tf.sum(t, axes);
  const outShape = [...t.shape.slice(0, first), ...t.shape.slice(last! + 1)];
  return tf.tidy(() => {
    const s = new Float32Array(outer * outer * reduced);
    for (let o = 0; o < outer; o++)
      s.fill(1, o * outer * reduced + o * reduced, o * outer * reduced + (o + 1) * reduced);
    const ones = tf.tensor2d(s, [outer, outer * reduced]);
    return tf.reshape(gemm(ones, tf.reshape(t, [outer * reduced, inner])), outShape);
  });
}

/**
 * op(x)·op(y), op = transpose where the flag is set, as a GEMM without transpose flags on the cpu
 * and wasm backends: the wasm GEMM (XNNPACK) has a fast path only for untransposed operands and
 * runs transposed ones in a generic loop (bench/train.ts; [4096, 64]·[64, 64]ᵀ 18.6 ms with
 * transposeB vs 3.2 ms with an explicit transpose, xᵀ·dy 60.8 vs 1.5 ms). Each transposed operand
 * is materialised, or — when that is cheaper, counted in elements copied — the product is
 * computed transposed, (op(y)ᵀ·op(x)ᵀ)ᵀ, which copies the other operand and the output instead.
 * GPU backends keep the flags (their kernels read transposed operands at no cost).
 *
 * Right operands go through {@link gemm}.
 */
function matMulNoFlags(x: tf.Tensor, y: tf.Tensor, transposeX = false, transposeY = false): tf.Tensor {
  if (!transposeX && !transposeY) return gemm(x, y);
  const backend = tf.getBackend();
  if (backend !== 'cpu' && backend !== 'wasm') return tf.matMul(x, y, transposeX, transposeY);
  return tf.tidy(() => {
    const rows = transposeX ? x.shape[x.rank - 1]! : x.shape[x.rank - 2]!;
    const cols = transposeY ? y.shape[y.rank - 2]! : y.shape[y.rank - 1]!;
    const outBatch = tf.broadcast_util
      .assertAndGetBroadcastShape(x.shape.slice(0, -2), y.shape.slice(0, -2))
      .reduce((p, c) => p * c, 1);
    // Swapping the axes of an [m, 1] or [1, n] matrix is a reshape: no copy.
    const cost = (t: tf.Tensor, flagged: boolean, wantTransposed: boolean): number => {
      const needs = flagged !== wantTransposed;
      const [r, c] = t.shape.slice(-2) as [number, number];
      return needs && r > 1 && c > 1 ? t.size : 0;
    };
    const direct = cost(x, transposeX, false) + cost(y, transposeY, false);
    // (op(y)ᵀ·op(x)ᵀ)ᵀ: operands wanted transposed, plus one copy of the output.
    const flipped =
      cost(x, transposeX, true) + cost(y, transposeY, true) + (rows > 1 && cols > 1 ? outBatch * rows * cols : 0);
    if (direct <= flipped) return gemm(transposeX ? swapLast(x) : x, transposeY ? swapLast(y) : y);
    return swapLast(gemm(transposeY ? y : swapLast(y), transposeX ? x : swapLast(x)));
  });
}

function gradConfigs(): tf.GradConfig[] {
  const run = (name: string, inputs: tf.NamedTensorMap, attrs: Attrs): tf.Tensor =>
    tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap) as tf.Tensor;
  return [
    binary(
      'Add',
      (dy) => dy,
      (dy) => dy,
    ),
    binary(
      'Sub',
      (dy) => dy,
      (dy) => tf.neg(dy),
    ),
    binary(
      'Multiply',
      (dy, _a, b) => tf.mul(dy, f32(b)),
      (dy, a) => tf.mul(dy, f32(a)),
    ),
    binary(
      'RealDiv',
      (dy, _a, b) => tf.div(dy, f32(b)),
      (dy, a, b) => tf.neg(tf.div(tf.mul(dy, f32(a)), f32(tf.square(b)))),
    ),
    binary(
      'SquaredDifference',
      (dy, a, b) => tf.mul(dy, tf.mul(2, tf.sub(a, b))),
      (dy, a, b) => tf.mul(dy, tf.mul(2, tf.sub(b, a))),
    ),
    binary(
      'Pow',
      (dy, a, b) => tf.mul(dy, tf.mul(f32(b), tf.pow(a, tf.sub(f32(b), 1)))),
      (dy, a, _b, y) => tf.mul(dy, tf.mul(y!, tf.where(tf.greater(a, 0), tf.log(a), tf.zerosLike(a)))),
      true,
    ),
    binary(
      'Maximum',
      (dy, a, b) => tf.mul(dy, f32(tf.greaterEqual(a, b))),
      (dy, a, b) => tf.mul(dy, f32(tf.less(a, b))),
    ),
    binary(
      'Minimum',
      (dy, a, b) => tf.mul(dy, f32(tf.lessEqual(a, b))),
      (dy, a, b) => tf.mul(dy, f32(tf.greater(a, b))),
    ),
    unary('Neg', (dy) => tf.neg(dy), 'none'),
    unary('Square', (dy, x) => tf.mul(dy, tf.mul(f32(x), 2))),
    unary('Sqrt', (dy, x) => tf.div(dy, tf.mul(tf.sqrt(f32(x)), 2))),
    unary('Rsqrt', (dy, x) => tf.neg(tf.div(dy, tf.mul(tf.pow(x, 1.5), 2)))),
    unary('Reciprocal', (dy, x) => tf.div(dy, tf.neg(tf.square(x)))),
    unary('Exp', (dy, y) => tf.mul(dy, y), 'y'),
    unary('Expm1', (dy, x) => tf.mul(dy, tf.exp(x))),
    unary('Log', (dy, x) => tf.div(dy, f32(x))),
    unary('Log1p', (dy, x) => tf.div(dy, tf.add(x, 1))),
    unary('Sigmoid', (dy, y) => tf.mul(dy, tf.mul(y, tf.sub(1, y))), 'y'),
    unary('Tanh', (dy, y) => tf.mul(tf.sub(1, tf.square(y)), dy), 'y'),
    unary('Softplus', (dy, x) => tf.mul(dy, tf.sigmoid(x))),
    unary('Relu', (dy, x) => tf.mul(dy, f32(tf.step(x)))),
    unary('Relu6', (dy, x) => tf.mul(dy, f32(tf.mul(tf.lessEqual(x, 6), tf.step(x))))),
    unary('LeakyRelu', (dy, x, a) => tf.where(tf.greater(x, 0), dy, tf.mul(dy, a.alpha as number))),
    unary('Elu', (dy, y) => run('EluGrad', { dy, y }, {}), 'y'),
    unary('Abs', (dy, x) => tf.mul(dy, tf.step(f32(x), -1))),
    unary('Erf', (dy, x) => tf.mul(dy, tf.mul(tf.exp(tf.neg(tf.square(x))), 2 / Math.sqrt(Math.PI)))),
    unary('Cos', (dy, x) => tf.mul(tf.neg(tf.sin(f32(x))), dy)),
    unary('Sin', (dy, x) => tf.mul(tf.cos(f32(x)), dy)),
    unary('ClipByValue', (dy, x, a) =>
      tf.where(
        tf.logicalAnd(tf.greaterEqual(x, a.clipValueMin as number), tf.lessEqual(x, a.clipValueMax as number)),
        dy,
        tf.zerosLike(dy),
      ),
    ),
    unary('Cast', (dy) => dy.clone(), 'none'),
    unary('Identity', (dy) => tf.cast(dy, 'float32'), 'none'),
    unary('Reshape', (dy, x) => tf.reshape(dy, x.shape)),
    unary('ExpandDims', (dy, x) => tf.reshape(dy, x.shape), 'x', 'input'),
    unary(
      'Transpose',
      (dy, _x, a) => tf.transpose(dy, tf.backend_util.getUndoAxesPermutation(a.perm as number[])),
      'none',
    ),
    unary('Reverse', (dy, _x, a) => tf.reverse(dy, tf.util.parseAxisParam(a.dims as number[], dy.shape)), 'none'),
    ...['Step', 'Floor', 'Round', 'Sign', 'IsNan', 'ZerosLike', 'OnesLike', 'Ceil'].map(zeroGrad),
    unary('Sum', (dy, x, a) => {
      const axes = tf.util.parseAxisParam(a.axis as number[], x.shape);
      const shape = x.shape.slice();
      for (const ax of axes) shape[ax] = 1;
      return tf.mul(tf.reshape(dy, shape), tf.ones(x.shape, 'float32'));
    }),
    unary('Mean', (dy, x, a) => {
      const axes = tf.util.parseAxisParam(a.axis as number[], x.shape);
      const reduceShape = tf.backend_util.computeOutAndReduceShapes(x.shape, axes)[1];
      const shape = x.shape.slice();
      for (const ax of axes) shape[ax] = 1;
      return tf.div(tf.mul(tf.reshape(dy, shape), tf.ones(x.shape, 'float32')), tf.util.sizeFromShape(reduceShape));
    }),
    reduceGrad('Max', 'reductionIndices'),
    reduceGrad('Min', 'axis'),
    unary(
      'Softmax',
      (dy, y, a) => {
        const dyTimesY = tf.mul(dy, y);
        return tf.sub(dyTimesY, tf.mul(tf.sum(dyTimesY, [a.dim as number], true), y));
      },
      'y',
      'logits',
    ),
    unary('LogSoftmax', (dy, y, a) => tf.sub(dy, tf.mul(tf.sum(dy, a.axis as number, true), tf.exp(y))), 'y', 'logits'),
    unary('PadV2', (dy, x, a) =>
      tf.slice(
        dy,
        (a.paddings as [number, number][]).map((p) => p[0]),
        x.shape,
      ),
    ),
    unary('MirrorPad', (dy, x, a) =>
      tf.slice(
        dy,
        (a.paddings as [number, number][]).map((p) => p[0]),
        x.shape,
      ),
    ),
    unary('Slice', (dy, x, a) => {
      const [begin, size] = tf.slice_util.parseSliceParams(x, a.begin as number[], a.size as number[]);
      return tf.pad(
        dy,
        x.shape.map((s, i) => [begin[i]!, s - begin[i]! - size[i]!] as [number, number]),
      );
    }),
    unary('Tile', (dy, x, a) => {
      // Sum of the tiled copies; reshape [r0, s0, r1, s1, …] and reduce the r axes.
      const reps = a.reps as number[];
      const split: number[] = [];
      reps.forEach((r, i) => split.push(r, x.shape[i]!));
      return tf.sum(
        tf.reshape(dy, split),
        reps.map((_, i) => 2 * i),
      );
    }),
    unary(
      'BroadcastTo',
      (dy, _x, a) => {
        const inShape = a.inputShape as number[];
        const outShape = a.shape as number[];
        const lead = outShape.length - inShape.length;
        const axes: number[] = [];
        outShape.forEach((s, i) => {
          if (i < lead || (inShape[i - lead] === 1 && s !== 1)) axes.push(i);
        });
        return tf.reshape(axes.length > 0 ? sumAxes(dy, axes) : dy, inShape);
      },
      'none',
    ),
    unary('AvgPool', (dy, x, a) =>
      run('AvgPoolGrad', { dy, input: x }, { filterSize: a.filterSize, strides: a.strides, pad: a.pad }),
    ),
    {
      kernelName: 'MaxPool',
      inputsToSave: ['x'],
      outputsToSave: [true],
      gradFunc: (dy: Dy, saved: Saved, a: Attrs) => ({
        x: () =>
          run(
            'MaxPoolGrad',
            { dy: one(dy), input: saved[0]!, output: saved[1]! },
            { filterSize: a.filterSize, strides: a.strides, pad: a.pad, dimRoundingMode: a.dimRoundingMode },
          ),
      }),
    },
    unary(
      'ResizeNearestNeighbor',
      (dy, images, a) => run('ResizeNearestNeighborGrad', { dy, images }, a),
      'x',
      'images',
    ),
    unary('ResizeBilinear', (dy, images, a) => run('ResizeBilinearGrad', { dy, images }, a), 'x', 'images'),
    {
      kernelName: 'Conv2D',
      inputsToSave: ['x', 'filter'],
      gradFunc: (dy: Dy, saved: Saved, a: Attrs) => {
        const [x, filter] = saved as [tf.Tensor4D, tf.Tensor4D];
        const dil = a.dilations as number | [number, number];
        if (!tf.backend_util.tupleValuesAreOne(dil)) {
          throw new Error(`Error in gradient of conv2D: dilation rates greater than 1 are not supported, got ${dil}`);
        }
        const common = { strides: a.strides, pad: a.pad, dataFormat: a.dataFormat, dimRoundingMode: a.dimRoundingMode };
        return {
          x: () => run('Conv2DBackpropInput', { dy: one(dy), filter }, { ...common, inputShape: x.shape }),
          filter: () => run('Conv2DBackpropFilter', { x, dy: one(dy) }, { ...common, filterShape: filter.shape }),
        };
      },
    },
    {
      kernelName: 'Conv2DBackpropInput',
      inputsToSave: ['dy', 'filter'],
      gradFunc: (ddx: Dy, saved: Saved, a: Attrs) => {
        const [dy, filter] = saved as [tf.Tensor4D, tf.Tensor4D];
        const common = { strides: a.strides, pad: a.pad, dataFormat: a.dataFormat, dimRoundingMode: a.dimRoundingMode };
        return {
          dy: () => run('Conv2D', { x: one(ddx), filter }, { ...common, dilations: 1 }),
          filter: () => run('Conv2DBackpropFilter', { x: one(ddx), dy }, { ...common, filterShape: filter.shape }),
        };
      },
    },
    {
      kernelName: 'BatchMatMul',
      inputsToSave: ['a', 'b'],
      gradFunc: (dy: Dy, saved: Saved, attrs: Attrs) => {
        const [a, b] = saved as [tf.Tensor, tf.Tensor];
        const g = one(dy);
        const tA = attrs.transposeA as boolean;
        const tB = attrs.transposeB as boolean;
        // tfjs-core BatchMatMul_grad.ts; reduce broadcast batch dims (tfjs-core omits this step).
        const red = (t: tf.Tensor, shape: number[]): tf.Tensor => {
          if (t.rank === shape.length && t.shape.every((s, i) => s === shape[i])) return t;
          const lead = t.rank - shape.length;
          const axes: number[] = [];
          for (let i = 0; i < t.rank - 2; i++) if (i < lead || shape[i - lead] === 1) axes.push(i);
          return tf.reshape(sumAxes(t, axes), shape);
        };
        // mm(x, y, tx, ty) = op(x)·op(y) with op = transpose when the flag is set.
        const mm = matMulNoFlags;
        if (!tA && !tB)
          return {
            a: () => red(mm(g, b, false, true), a.shape),
            b: () => red(mm(a, g, true, false), b.shape),
          };
        if (!tA && tB)
          return {
            a: () => red(mm(g, b, false, false), a.shape),
            b: () => red(mm(g, a, true, false), b.shape),
          };
        if (tA && !tB)
          return {
            a: () => red(mm(b, g, false, true), a.shape),
            b: () => red(mm(a, g, false, false), b.shape),
          };
        return {
          a: () => red(mm(b, g, true, true), a.shape),
          b: () => red(mm(g, a, true, true), b.shape),
        };
      },
    },
    {
      kernelName: 'Concat',
      saveAllInputs: true,
      gradFunc: (dy: Dy, saved: Saved, a: Attrs) => {
        const axis = tf.util.parseAxisParam(a.axis as number, saved[0]!.shape)[0]!;
        const g = one(dy);
        // Split a [outer, concat, inner] view: the wasm Slice kernel copies rank ≤ 4 by rows but
        // falls back to a per-element loop for rank 5+ (e.g. nearest upsampling built from concat).
        const outer = g.shape.slice(0, axis).reduce((p, c) => p * c, 1);
        const inner = g.shape.slice(axis + 1).reduce((p, c) => p * c, 1);
        const sizes = saved.map((t) => t.shape[axis]!);
        const parts = tf
          .split(tf.reshape(g, inner === 1 ? [outer, g.shape[axis]!] : [outer, g.shape[axis]!, inner]), sizes, 1)
          .map((t, i) => tf.reshape(t, saved[i]!.shape));
        return Object.fromEntries(parts.map((t, i) => [String(i), () => t])) as GradMap;
      },
    },
    {
      kernelName: 'SplitV',
      gradFunc: (dy: Dy, _saved: Saved, a: Attrs) => ({ x: () => tf.concat(dy as tf.Tensor[], a.axis as number) }),
    },
    {
      kernelName: 'Pack',
      saveAllInputs: true,
      gradFunc: (dy: Dy, _saved: Saved, a: Attrs) => {
        const parts = tf.unstack(one(dy), a.axis as number);
        return Object.fromEntries(parts.map((t, i) => [String(i), () => t])) as GradMap;
      },
    },
    {
      kernelName: 'Unpack',
      gradFunc: (dy: Dy, _saved: Saved, a: Attrs) => ({ value: () => tf.stack(dy as tf.Tensor[], a.axis as number) }),
    },
    {
      kernelName: 'AddN',
      saveAllInputs: true,
      gradFunc: (dy: Dy, saved: Saved) =>
        Object.fromEntries(saved.map((_, i) => [String(i), () => one(dy).clone()])) as GradMap,
    },
    {
      kernelName: 'Select',
      inputsToSave: ['condition'],
      gradFunc: (dy: Dy, saved: Saved) => {
        const [c] = saved as [tf.Tensor];
        const g = one(dy);
        return {
          condition: () => f32(tf.zerosLike(c)),
          t: () => tf.mul(g, tf.cast(c, g.dtype)),
          e: () => tf.mul(g, tf.cast(tf.logicalNot(c), g.dtype)),
        };
      },
    },
    {
      kernelName: 'GatherV2',
      inputsToSave: ['x', 'indices'],
      gradFunc: (dy: Dy, saved: Saved, a: Attrs) => {
        const [x, indices] = saved as [tf.Tensor, tf.Tensor];
        if ((a.batchDims as number | undefined) && a.batchDims !== 0) {
          throw new Error('gradient of gather with batchDims > 0 is not supported by ADX');
        }
        const axis = tf.util.parseAxisParam(a.axis as number, x.shape)[0]!;
        return { x: () => gatherGrad(x, indices, one(dy), axis), indices: () => indices };
      },
    },
    {
      // tfjs-core FusedBatchNorm_grad.ts (tf.batchNorm; BatchNorm2d in eval mode), with broadcasting
      // in place of its rank-4 tile.
      kernelName: 'FusedBatchNorm',
      inputsToSave: ['x', 'mean', 'variance', 'scale'],
      gradFunc: (dy: Dy, saved: Saved, a: Attrs) => {
        const [x, mean, variance, scale] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor | undefined];
        const g = one(dy);
        const s = scale ?? tf.scalar(1);
        const toMean = (t: tf.Tensor): tf.Tensor => {
          const axes = tf.broadcast_util.getReductionAxes(mean.shape, x.shape);
          return tf.reshape(axes.length > 0 ? tf.sum(t, axes) : t, mean.shape);
        };
        const rstd = tf.rsqrt(tf.add(variance, a.varianceEpsilon as number));
        const xMinusMean = tf.sub(x, mean);
        const dyScaled = tf.mul(g, s);
        return {
          x: () => tf.mul(tf.mul(g, rstd), s),
          mean: () => toMean(tf.neg(tf.mul(rstd, dyScaled))),
          variance: () => toMean(tf.mul(tf.mul(tf.mul(tf.pow(rstd, 3), -0.5), xMinusMean), dyScaled)),
          scale: () => toMean(tf.mul(g, tf.mul(xMinusMean, rstd))),
          offset: () => toMean(g),
        };
      },
    },
    {
      kernelName: 'Cumsum',
      inputsToSave: ['x'],
      gradFunc: (dy: Dy, saved: Saved, a: Attrs) => {
        const x = saved[0]!;
        const perm = tf.backend_util.getAxesPermutation([a.axis as number], x.rank);
        return {
          x: () => {
            const out = tf.cumsum(one(dy), a.axis as number, a.exclusive as boolean, !(a.reverse as boolean));
            return perm != null ? tf.transpose(out, perm) : out;
          },
        };
      },
    },
  ];
}

/** Kernel names {@link registerTrainingGradients} provides a gradient for. */
export const TRAINING_GRADIENT_KERNELS: readonly string[] = gradConfigs().map((c) => c.kernelName);

/**
 * Registers gradient functions for the kernels ADX trains through, for every backend, where
 * tfjs-core has none registered (see the module comment). Idempotent; returns the kernel names
 * it registered in this call.
 */
export function registerTrainingGradients(): string[] {
  const added: string[] = [];
  for (const config of gradConfigs()) {
    if (tf.getGradient(config.kernelName) != null) continue;
    tf.registerGradient(config);
    added.push(config.kernelName);
  }
  return added;
}
