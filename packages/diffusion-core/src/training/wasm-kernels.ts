/**
 * Training kernels that `@tensorflow/tfjs-backend-wasm` 4.22 lacks, built from its own fast kernels.
 *
 * Missing on wasm and needed to train ADX's networks (checked against the wasm backend's
 * `register_all_kernels.ts` and with `tf.grad` over every layer type, see `kernels.test.ts`):
 * - `Conv2DBackpropFilter` — the filter gradient of every convolution (tfjs issue #8474);
 * - `UnsortedSegmentSum` — the gradient of `tf.gather` (class / timestep embedding tables).
 * Everything else the UNets need has a wasm kernel (`Conv2DBackpropInput`, `AvgPoolGrad`,
 * `MaxPoolGrad`, `ResizeNearestNeighborGrad`, `ResizeBilinearGrad`, `SplitV`, `PadV2`, `Slice`,
 * `Softmax`, `Sigmoid`, `Rsqrt`, `IsNan`, …). Gradient *functions* are a separate matter — see
 * `gradients.ts`.
 *
 * Tensor lifetimes: a kernel receives tensors and must return a TensorInfo whose data the backend
 * owns with reference count 1 for the engine to wrap. The bodies below run public ops inside
 * `tf.tidy`, then hand the result's data over: `backend.incRef` keeps the data alive while the
 * temporary Tensor wrapper is disposed (engine count −1, backend refcount back to 1), and the
 * engine wraps the returned TensorInfo in the kernel's output tensor.
 */
import * as tf from '@tensorflow/tfjs-core';
import { registerTrainingGradients } from './gradients.js';
import { gemm } from './wasm-gemm.js';

interface KernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: tf.KernelBackend;
  attrs?: tf.NamedAttrMap;
}

/** Wraps an input TensorInfo as a Tensor without taking ownership (inputs are Tensors in practice). */
function asTensor(info: tf.TensorInfo, backend: tf.KernelBackend): { t: tf.Tensor; owned: boolean } {
  if (info instanceof tf.Tensor) return { t: info, owned: false };
  backend.incRef(info.dataId);
  return { t: tf.engine().makeTensorFromTensorInfo(info), owned: true };
}

/** Runs `f` on the inputs as Tensors and returns its result as a backend-owned TensorInfo. */
function runWithOps(args: KernelArgs, names: string[], f: (inputs: tf.Tensor[]) => tf.Tensor): tf.TensorInfo {
  const wrapped = names.map((n) => asTensor(args.inputs[n]!, args.backend));
  try {
    const result = tf.tidy(() => f(wrapped.map((w) => w.t)));
    const info: tf.TensorInfo = { dataId: result.dataId, shape: result.shape, dtype: result.dtype };
    args.backend.incRef(result.dataId);
    result.dispose();
    return info;
  } finally {
    for (const w of wrapped) if (w.owned) w.t.dispose();
  }
}

/** Padding of tf.conv2d: 'valid', 'same', an explicit size, or explicit per-dimension NHWC pairs. */
export type Conv2DPad =
  'valid' | 'same' | number | [[number, number], [number, number], [number, number], [number, number]];

/**
 * Filter gradient of tf.conv2d (Conv2DBackpropFilter; tfjs-backend-cpu Conv2DBackpropFilter.ts):
 *   dW[kh, kw, ci, co] = Σ_{b, oh, ow} x[b, oh·s + kh − padTop, ow·s + kw − padLeft, ci] · dy[b, oh, ow, co].
 *
 * Two implementations on the wasm backend's fast kernels (compare with bench/train-kernels.ts):
 * - `'im2col'` (default): an explicit im2col matrix Pᵀ and one NN GEMM, see
 *   {@link conv2dFilterGradientIm2col};
 * - `'conv'`: the sum is itself a convolution over the batch dimension — input xᵀ[ci, h, w, b]
 *   (batch as channels, channels as batch), filter dyᵀ[oh, ow, b, co], dilation = the forward
 *   stride, output [ci, kh, kw, co] — computed by XNNPACK's convolution without im2col copies.
 *   Interleaved A/B runs on a quiet moment of the (shared) machine: within ±20 % of 'im2col' for
 *   3×3 UNet shapes (ahead at 16×16×64, behind elsewhere), 4–7× slower for 1×1 (only B input
 *   channels per filter tap), so 'im2col' is the default.
 */
export function conv2dFilterGradient(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: [number, number, number, number],
  strides: number | [number, number],
  pad: Conv2DPad,
  dataFormat: 'NHWC' | 'NCHW' = 'NHWC',
  dimRoundingMode?: 'floor' | 'round' | 'ceil',
  method: 'conv' | 'im2col' = 'im2col',
): tf.Tensor4D {
  if (method === 'im2col')
    return conv2dFilterGradientIm2col(x, dy, filterShape, strides, pad, dataFormat, dimRoundingMode);
  return tf.tidy(() => {
    const xNhwc = dataFormat === 'NCHW' ? tf.transpose(x, [0, 2, 3, 1]) : x;
    const dyNhwc = dataFormat === 'NCHW' ? tf.transpose(dy, [0, 2, 3, 1]) : dy;
    const info = tf.backend_util.computeConv2DInfo(
      xNhwc.shape,
      filterShape,
      strides,
      1,
      pad,
      dimRoundingMode,
      false,
      'channelsLast',
    );
    const [B, H, W, Ci] = xNhwc.shape;
    const { outHeight: OH, outWidth: OW, strideHeight: sh, strideWidth: sw } = info;
    const [KH, KW] = filterShape;
    const { top, left } = info.padInfo;
    // Rows read: top-padded x rows 0 … KH − 1 + (OH − 1)·sh; pad or crop the far side to exactly that.
    const needH = KH + (OH - 1) * sh;
    const needW = KW + (OW - 1) * sw;
    const cropH = Math.min(H, needH - top);
    const cropW = Math.min(W, needW - left);
    let xc: tf.Tensor4D = cropH < H || cropW < W ? tf.slice(xNhwc, [0, 0, 0, 0], [B, cropH, cropW, Ci]) : xNhwc;
    if (top > 0 || left > 0 || needH > top + cropH || needW > left + cropW) {
      xc = tf.pad(xc, [
        [0, 0],
        [top, needH - top - cropH],
        [left, needW - left - cropW],
        [0, 0],
      ]);
    }
    const xT = tf.transpose(xc, [3, 1, 2, 0]); // [Ci, needH, needW, B]
    const dyT = tf.transpose(dyNhwc, [1, 2, 0, 3]); // [OH, OW, B, Co]
    const g = tf.conv2d(xT, dyT, 1, 'valid', 'NHWC', [sh, sw]); // [Ci, KH, KW, Co]
    return tf.transpose(g, [1, 2, 0, 3]);
  });
}

/**
 * {@link conv2dFilterGradient} as one GEMM. The wasm GEMM (XNNPACK) is fast only without transpose
 * flags (measured ~40 GFLOP/s vs ~3.5 with any transpose), and the wasm Slice kernel copies row by
 * row in JS, so the im2col matrix is built in the transposed layout the GEMM wants, from few wide
 * slices ("shifted flat views"):
 *   1. xT = x as [Ci, B, H, W], zero-padded to [Ci, B, Hp, Wp] with Hp, Wp multiples of the stride;
 *   2. split into s×s stride phases [Ci, B, Hq, Wq] (Hq = Hp / s) and flatten each to [Ci, B·Hq·Wq];
 *   3. tap (kh, kw) is phase (kh mod s, kw mod s) shifted by (kh div s)·Wq + (kw div s) along the
 *      flat axis: one contiguous [Ci, L] slice, L = B·Hq·Wq − max shift;
 *   4. Pᵀ[(ci, kh, kw), j] = stack of the taps; dyq[j, co] = dy zero-padded to [B, Hq, Wq, Co] and
 *      flattened, first L rows — positions j that are not outputs (oh ≥ OH or ow ≥ OW) meet zeros;
 *   5. dW'[(ci, kh, kw), co] = Pᵀ · dyq (plain NN GEMM), permuted to [KH, KW, Ci, Co].
 * The padding positions cost (Hq·Wq)/(OH·OW) extra FLOP (≈1.1–1.3 for UNet shapes).
 */
export function conv2dFilterGradientIm2col(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: [number, number, number, number],
  strides: number | [number, number],
  pad: Conv2DPad,
  dataFormat: 'NHWC' | 'NCHW' = 'NHWC',
  dimRoundingMode?: 'floor' | 'round' | 'ceil',
): tf.Tensor4D {
  return tf.tidy(() => {
    const xNhwc = dataFormat === 'NCHW' ? tf.transpose(x, [0, 2, 3, 1]) : x;
    const dyNhwc = dataFormat === 'NCHW' ? tf.transpose(dy, [0, 2, 3, 1]) : dy;
    const info = tf.backend_util.computeConv2DInfo(
      xNhwc.shape,
      filterShape,
      strides,
      1,
      pad,
      dimRoundingMode,
      false,
      'channelsLast',
    );
    const [B, H, W, Ci] = xNhwc.shape;
    const { outHeight: OH, outWidth: OW, strideHeight: sh, strideWidth: sw } = info;
    const [KH, KW, , Co] = filterShape;
    const { top, left } = info.padInfo;
    // [Ci, B, H, W]: channel-major so that every im2col row is one contiguous slice.
    const xT = tf.transpose(xNhwc, [3, 0, 1, 2]);
    if (KH === 1 && KW === 1 && sh === 1 && sw === 1 && top === 0 && left === 0 && OH === H && OW === W) {
      const g = gemm(tf.reshape(xT, [Ci, B * H * W]), tf.reshape(dyNhwc, [B * H * W, Co]));
      return tf.reshape(g, [1, 1, Ci, Co]);
    }
    // 1. Pad (and crop, for 'valid' leftovers) to Hp = sh·Hq ≥ (OH − 1)·sh + KH rows read.
    const Hq = Math.ceil(((OH - 1) * sh + KH) / sh);
    const Wq = Math.ceil(((OW - 1) * sw + KW) / sw);
    const Hp = Hq * sh;
    const Wp = Wq * sw;
    const cropH = Math.min(H, Hp - top);
    const cropW = Math.min(W, Wp - left);
    const xc = cropH < H || cropW < W ? tf.slice(xT, [0, 0, 0, 0], [Ci, B, cropH, cropW]) : xT;
    const xp = tf.pad(xc, [
      [0, 0],
      [0, 0],
      [top, Hp - top - cropH],
      [left, Wp - left - cropW],
    ]);
    // 2. Stride phases, flattened.
    const phases = new Map<string, tf.Tensor>();
    const phase = (a: number, c: number): tf.Tensor => {
      const key = `${a},${c}`;
      let ph = phases.get(key);
      if (!ph) {
        const strided = sh === 1 && sw === 1 ? xp : tf.stridedSlice(xp, [0, 0, a, c], [Ci, B, Hp, Wp], [1, 1, sh, sw]);
        ph = tf.reshape(strided, [Ci, B * Hq * Wq]);
        phases.set(key, ph);
      }
      return ph;
    };
    // 3. Taps as shifted flat views.
    const maxShift = Math.floor((KH - 1) / sh) * Wq + Math.floor((KW - 1) / sw);
    const L = B * Hq * Wq - maxShift;
    const taps: tf.Tensor[] = [];
    for (let kh = 0; kh < KH; kh++) {
      for (let kw = 0; kw < KW; kw++) {
        const shift = Math.floor(kh / sh) * Wq + Math.floor(kw / sw);
        taps.push(tf.slice(phase(kh % sh, kw % sw), [0, shift], [Ci, L]));
      }
    }
    // 4. dy on the phase grid [L, Co].
    const dyq = tf.slice(
      tf.reshape(
        tf.pad(dyNhwc, [
          [0, 0],
          [0, Hq - OH],
          [0, Wq - OW],
          [0, 0],
        ]),
        [B * Hq * Wq, Co],
      ),
      [0, 0],
      [L, Co],
    );
    // 5. Pᵀ [(ci, kh, kw), L], one NN GEMM, then the small permutation to [KH, KW, Ci, Co].
    const pT = tf.reshape(tf.stack(taps, 1), [Ci * KH * KW, L]);
    const g = gemm(pT, dyq);
    return tf.transpose(tf.reshape(g, [Ci, KH, KW, Co]), [1, 2, 0, 3]);
  });
}

/**
 * dx of tf.conv2d (Conv2DBackpropInput) as a forward convolution, which XNNPACK runs fast (the wasm
 * backend's own Conv2DBackpropInput is a scalar loop, ~10× slower than its Conv2D):
 *   dx[i] = Σ_k dyz[i + padTop − k] · W[k] = Σ_k' dyz[i − (KH − 1 − padTop) + k'] · W[KH − 1 − k'],
 * with dyz = dy with s − 1 zeros inserted after every element (the transposed convolution), i.e. a
 * stride-1 'valid' conv2d of dyz padded by KH − 1 − padTop on top and with the spatially flipped,
 * in/out-swapped filter.
 */
export function conv2dInputGradient(
  inputShape: [number, number, number, number],
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  strides: number | [number, number],
  pad: Conv2DPad,
  dataFormat: 'NHWC' | 'NCHW' = 'NHWC',
  dimRoundingMode?: 'floor' | 'round' | 'ceil',
): tf.Tensor4D {
  return tf.tidy(() => {
    const xShape: [number, number, number, number] =
      dataFormat === 'NCHW' ? [inputShape[0], inputShape[2], inputShape[3], inputShape[1]] : inputShape;
    let g: tf.Tensor4D = dataFormat === 'NCHW' ? tf.transpose(dy, [0, 2, 3, 1]) : dy;
    const info = tf.backend_util.computeConv2DInfo(
      xShape,
      filter.shape,
      strides,
      1,
      pad,
      dimRoundingMode,
      false,
      'channelsLast',
    );
    const [B, H, W] = xShape;
    const { outHeight: OH, outWidth: OW, strideHeight: sh, strideWidth: sw } = info;
    const [KH, KW, , Co] = filter.shape;
    const { top, left } = info.padInfo;
    // Zero insertion: [B, OH, OW, Co] → [B, OH·sh, OW·sw, Co] (trailing zeros are cropped/padded below).
    if (sw > 1) {
      g = tf.reshape(tf.concat([tf.expandDims(g, 3), tf.zeros([B, OH, OW, sw - 1, Co])], 3), [B, OH, OW * sw, Co]);
    }
    if (sh > 1) {
      const Wz = g.shape[2];
      g = tf.reshape(tf.concat([tf.expandDims(g, 2), tf.zeros([B, OH, sh - 1, Wz, Co])], 2), [B, OH * sh, Wz, Co]);
    }
    // Rows needed: i − (KH − 1 − top) … for i in [0, H): padded length H + KH − 1.
    const fit = (t: tf.Tensor4D, axis: 1 | 2, before: number, total: number): tf.Tensor4D => {
      const len = t.shape[axis];
      let out = t;
      let b = before;
      if (b < 0) {
        const begin = [0, 0, 0, 0];
        const size = [...out.shape];
        begin[axis] = -b;
        size[axis] = len + b;
        out = tf.slice(out, begin, size);
        b = 0;
      }
      const cur = out.shape[axis];
      const after = total - b - cur;
      if (after < 0) {
        const size = [...out.shape];
        size[axis] = cur + after;
        out = tf.slice(out, [0, 0, 0, 0], size);
      }
      const pads: [number, number][] = [
        [0, 0],
        [0, 0],
        [0, 0],
        [0, 0],
      ];
      pads[axis] = [b, Math.max(0, after)];
      return b > 0 || after > 0 ? tf.pad(out, pads) : out;
    };
    g = fit(fit(g, 1, KH - 1 - top, H + KH - 1), 2, KW - 1 - left, W + KW - 1);
    const wFlip = tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D;
    void Co;
    const dx = tf.conv2d(g, wFlip, 1, 'valid');
    return dataFormat === 'NCHW' ? tf.transpose(dx, [0, 3, 1, 2]) : dx;
  });
}

function conv2DBackpropFilterKernel(args: KernelArgs): tf.TensorInfo {
  const a = args.attrs as unknown as {
    strides: number | [number, number];
    pad: Conv2DPad;
    dataFormat: 'NHWC' | 'NCHW';
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
    filterShape: [number, number, number, number];
  };
  return runWithOps(args, ['x', 'dy'], ([x, dy]) =>
    conv2dFilterGradient(
      x as tf.Tensor4D,
      dy as tf.Tensor4D,
      a.filterShape,
      a.strides,
      a.pad,
      a.dataFormat,
      a.dimRoundingMode,
    ),
  );
}

/**
 * out[s, …] = Σ_{i : segmentIds[i] = s} x[i, …] (tf.math.unsorted_segment_sum; ids outside
 * [0, numSegments) are dropped), as one-hot(segmentIds)ᵀ · x — one GEMM on wasm.
 */
export function unsortedSegmentSumByMatMul(x: tf.Tensor, segmentIds: tf.Tensor, numSegments: number): tf.Tensor {
  return tf.tidy(() => {
    const ids = tf.reshape(tf.cast(segmentIds, 'int32'), [segmentIds.size]);
    const n = segmentIds.size;
    const inner = x.shape.slice(segmentIds.rank);
    const innerSize = inner.reduce((p, c) => p * c, 1);
    // one-hot built already transposed ([numSegments, n]) so the GEMM runs without transpose flags.
    const oneHotT = tf.cast(
      tf.equal(tf.reshape(tf.range(0, numSegments, 1, 'int32'), [numSegments, 1]), tf.reshape(ids, [1, n])),
      'float32',
    );
    const out = gemm(oneHotT, tf.reshape(tf.cast(x, 'float32'), [n, innerSize]));
    return tf.cast(tf.reshape(out, [numSegments, ...inner]), x.dtype);
  });
}

/** Source index of output pixel `r` in tfjs' resizeNearestNeighbor (tfjs-backend-cpu ResizeNearestNeighbor.ts). */
function nearestSource(
  r: number,
  inSize: number,
  outSize: number,
  alignCorners: boolean,
  halfPixelCenters: boolean,
): number {
  const effIn = alignCorners && outSize > 1 ? inSize - 1 : inSize;
  const effOut = alignCorners && outSize > 1 ? outSize - 1 : outSize;
  const ratio = effIn / effOut;
  const frac = halfPixelCenters ? ratio * (r + 0.5) : ratio * r;
  let src = Math.min(inSize - 1, alignCorners ? Math.round(frac) : Math.floor(frac));
  if (halfPixelCenters) src = Math.max(0, src);
  return src;
}

/** M[i, r] = 1 where output row r reads input row i: the adjoint of nearest resampling along one axis. */
function nearestAdjointMatrix(
  inSize: number,
  outSize: number,
  alignCorners: boolean,
  halfPixelCenters: boolean,
): tf.Tensor2D {
  const m = new Float32Array(inSize * outSize);
  for (let r = 0; r < outSize; r++)
    m[nearestSource(r, inSize, outSize, alignCorners, halfPixelCenters) * outSize + r] = 1;
  return tf.tensor2d(m, [inSize, outSize]);
}

/**
 * dx of tf.image.resizeNearestNeighbor: dx[b, i, j, c] = Σ_{r, s : src(r) = i, src(s) = j} dy[b, r, s, c],
 * with src the forward's index map (alignCorners and halfPixelCenters honoured). Replaces the
 * backends' ResizeNearestNeighborGrad: tfjs-backend-cpu 4.22 reads dy of every batch item > 0 at
 * the wrong offset (it uses the images' batch stride) and both cpu and wasm ignore halfPixelCenters.
 * Power-of-two upsampling (the UNet case) is a block sum; other factors use two small GEMMs.
 */
export function resizeNearestGradient(
  imagesShape: [number, number, number, number],
  dy: tf.Tensor4D,
  alignCorners = false,
  halfPixelCenters = false,
): tf.Tensor4D {
  return tf.tidy(() => {
    const [B, H, W, C] = imagesShape;
    const [, OH, OW] = dy.shape;
    const fh = OH / H;
    const fw = OW / W;
    const pow2 = (f: number): boolean => Number.isInteger(f) && f >= 1 && (f & (f - 1)) === 0;
    if (!alignCorners && !halfPixelCenters && pow2(fh) && pow2(fw)) {
      return tf.sum(tf.reshape(dy, [B, H, fh, W, fw, C]), [2, 4]) as tf.Tensor4D;
    }
    const mw = nearestAdjointMatrix(W, OW, alignCorners, halfPixelCenters);
    const mh = nearestAdjointMatrix(H, OH, alignCorners, halfPixelCenters);
    const alongW = gemm(tf.expandDims(mw, 0), tf.reshape(dy, [B * OH, OW, C])); // [B·OH, W, C]
    const alongH = gemm(tf.expandDims(mh, 0), tf.reshape(alongW, [B, OH, W * C])); // [B, H, W·C]
    return tf.reshape(alongH, [B, H, W, C]);
  });
}

/**
 * dx of tf.maxPool (MaxPoolGrad): dy goes to the first maximum of each window in row-major order,
 * as tfjs-backend-cpu's maxPoolPositions does. Replaces the wasm kernel, whose result differs from
 * the cpu backend for padded windows (found by kernels.test.ts). Built tap by tap: for tap
 * (kh, kw) the window element x_k = xp[oh·s + kh, ow·s + kw] wins where x_k = y and no earlier tap
 * won; its dy is scattered back by zero insertion and a shift.
 */
export function maxPoolGradient(
  dy: tf.Tensor4D,
  x: tf.Tensor4D,
  y: tf.Tensor4D,
  filterSize: number | [number, number],
  strides: number | [number, number],
  pad: Conv2DPad,
  dimRoundingMode?: 'floor' | 'round' | 'ceil',
): tf.Tensor4D {
  return tf.tidy(() => {
    const info = tf.backend_util.computePool2DInfo(x.shape, filterSize, strides, 1, pad as 'same', dimRoundingMode);
    const [B, H, W, C] = x.shape;
    const { outHeight: OH, outWidth: OW, strideHeight: sh, strideWidth: sw, filterHeight: KH, filterWidth: KW } = info;
    const { top, left } = info.padInfo;
    const Hp = Math.max(H + top, (OH - 1) * sh + KH);
    const Wp = Math.max(W + left, (OW - 1) * sw + KW);
    const xp = tf.pad(
      x,
      [
        [0, 0],
        [top, Hp - H - top],
        [left, Wp - W - left],
        [0, 0],
      ],
      -Infinity,
    );
    let taken: tf.Tensor = tf.cast(tf.zerosLike(y), 'bool');
    let dxp: tf.Tensor = tf.zeros([B, Hp, Wp, C]);
    for (let kh = 0; kh < KH; kh++) {
      for (let kw = 0; kw < KW; kw++) {
        const xk = tf.stridedSlice(
          xp,
          [0, kh, kw, 0],
          [B, kh + (OH - 1) * sh + 1, kw + (OW - 1) * sw + 1, C],
          [1, sh, sw, 1],
        );
        const wins = tf.logicalAnd(tf.equal(xk, y), tf.logicalNot(taken));
        taken = tf.logicalOr(taken, wins);
        let g: tf.Tensor = tf.where(wins, dy, tf.zerosLike(dy));
        if (sw > 1)
          g = tf.reshape(tf.concat([tf.expandDims(g, 3), tf.zeros([B, OH, OW, sw - 1, C])], 3), [B, OH, OW * sw, C]);
        if (sh > 1)
          g = tf.reshape(tf.concat([tf.expandDims(g, 2), tf.zeros([B, OH, sh - 1, g.shape[2]!, C])], 2), [
            B,
            OH * sh,
            g.shape[2]!,
            C,
          ]);
        const gh = Math.min(g.shape[1]!, Hp - kh);
        const gw = Math.min(g.shape[2]!, Wp - kw);
        g = tf.slice(g, [0, 0, 0, 0], [B, gh, gw, C]);
        dxp = tf.add(
          dxp,
          tf.pad(g, [
            [0, 0],
            [kh, Hp - kh - gh],
            [kw, Wp - kw - gw],
            [0, 0],
          ]),
        );
      }
    }
    return tf.slice(dxp, [0, top, left, 0], [B, H, W, C]) as tf.Tensor4D;
  });
}

/**
 * Interpolation weights of tfjs' resizeBilinear along one axis (tfjs-backend-cpu ResizeBilinear.ts):
 * output r reads floor = max(0, ⌊f⌋) with weight 1 − (f − floor) and ceil = min(in − 1, ⌈f⌉) with
 * weight f − floor, f = ratio·r (or ratio·(r + ½) − ½ with halfPixelCenters). Returns M[i, r].
 */
function bilinearAdjointMatrix(
  inSize: number,
  outSize: number,
  alignCorners: boolean,
  halfPixelCenters: boolean,
): tf.Tensor2D {
  const effIn = alignCorners && outSize > 1 ? inSize - 1 : inSize;
  const effOut = alignCorners && outSize > 1 ? outSize - 1 : outSize;
  const ratio = effIn / effOut;
  const m = new Float32Array(inSize * outSize);
  for (let r = 0; r < outSize; r++) {
    const f = halfPixelCenters ? ratio * (r + 0.5) - 0.5 : ratio * r;
    const lo = Math.max(0, Math.floor(f));
    const hi = Math.min(inSize - 1, Math.ceil(f));
    const frac = f - lo;
    m[lo * outSize + r]! += 1 - frac;
    m[hi * outSize + r]! += frac;
  }
  return tf.tensor2d(m, [inSize, outSize]);
}

/**
 * dx of tf.image.resizeBilinear, dx = M_h · dy · M_wᵀ with the forward's interpolation weights
 * (two small GEMMs). Replaces the cpu backend's ResizeBilinearGrad, which in tfjs 4.22 returns
 * shape [B, W, H, C] and fails for non-square images, and the wasm one, which ignores
 * halfPixelCenters (both found by kernels.test.ts).
 */
export function resizeBilinearGradient(
  imagesShape: [number, number, number, number],
  dy: tf.Tensor4D,
  alignCorners = false,
  halfPixelCenters = false,
): tf.Tensor4D {
  return tf.tidy(() => {
    const [B, H, W, C] = imagesShape;
    const [, OH, OW] = dy.shape;
    const mw = bilinearAdjointMatrix(W, OW, alignCorners, halfPixelCenters);
    const mh = bilinearAdjointMatrix(H, OH, alignCorners, halfPixelCenters);
    const alongW = gemm(tf.expandDims(mw, 0), tf.reshape(dy, [B * OH, OW, C]));
    const alongH = gemm(tf.expandDims(mh, 0), tf.reshape(alongW, [B, OH, W * C]));
    return tf.reshape(alongH, [B, H, W, C]);
  });
}

function resizeBilinearGradKernel(args: KernelArgs): tf.TensorInfo {
  const a = args.attrs as unknown as { alignCorners: boolean; halfPixelCenters?: boolean };
  const images = args.inputs.images!;
  return runWithOps(args, ['dy'], ([dy]) =>
    resizeBilinearGradient(
      images.shape as [number, number, number, number],
      dy as tf.Tensor4D,
      a.alignCorners,
      a.halfPixelCenters ?? false,
    ),
  );
}

function resizeNearestGradKernel(args: KernelArgs): tf.TensorInfo {
  const a = args.attrs as unknown as { alignCorners: boolean; halfPixelCenters?: boolean };
  const images = args.inputs.images!;
  return runWithOps(args, ['dy'], ([dy]) =>
    resizeNearestGradient(
      images.shape as [number, number, number, number],
      dy as tf.Tensor4D,
      a.alignCorners,
      a.halfPixelCenters ?? false,
    ),
  );
}

function maxPoolGradKernel(args: KernelArgs): tf.TensorInfo {
  const a = args.attrs as unknown as {
    filterSize: number | [number, number];
    strides: number | [number, number];
    pad: Conv2DPad;
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
  };
  return runWithOps(args, ['dy', 'input', 'output'], ([dy, x, y]) =>
    maxPoolGradient(
      dy as tf.Tensor4D,
      x as tf.Tensor4D,
      y as tf.Tensor4D,
      a.filterSize,
      a.strides,
      a.pad,
      a.dimRoundingMode,
    ),
  );
}

function conv2DBackpropInputKernel(args: KernelArgs): tf.TensorInfo {
  const a = args.attrs as unknown as {
    strides: number | [number, number];
    pad: Conv2DPad;
    dataFormat: 'NHWC' | 'NCHW';
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
    inputShape: [number, number, number, number];
  };
  return runWithOps(args, ['dy', 'filter'], ([dy, filter]) =>
    conv2dInputGradient(
      a.inputShape,
      dy as tf.Tensor4D,
      filter as tf.Tensor4D,
      a.strides,
      a.pad,
      a.dataFormat,
      a.dimRoundingMode,
    ),
  );
}

function unsortedSegmentSumKernel(args: KernelArgs): tf.TensorInfo {
  const { numSegments } = args.attrs as unknown as { numSegments: number };
  return runWithOps(args, ['x', 'segmentIds'], ([x, ids]) => unsortedSegmentSumByMatMul(x!, ids!, numSegments));
}

/** Kernels the `wasm` backend lacks, which {@link registerWasmTrainingKernels} adds. */
export const WASM_TRAINING_KERNELS: readonly string[] = ['Conv2DBackpropFilter', 'UnsortedSegmentSum'];
/** Kernels the `wasm` backend has but runs slowly, which {@link registerWasmTrainingKernels} replaces. */
export const WASM_REPLACED_KERNELS: readonly string[] = [
  'Conv2DBackpropInput',
  'MaxPoolGrad',
  'ResizeNearestNeighborGrad',
  'ResizeBilinearGrad',
];

const configs: tf.KernelConfig[] = [
  {
    kernelName: 'Conv2DBackpropFilter',
    backendName: 'wasm',
    kernelFunc: conv2DBackpropFilterKernel as unknown as tf.KernelFunc,
  },
  {
    kernelName: 'UnsortedSegmentSum',
    backendName: 'wasm',
    kernelFunc: unsortedSegmentSumKernel as unknown as tf.KernelFunc,
  },
  {
    kernelName: 'Conv2DBackpropInput',
    backendName: 'wasm',
    kernelFunc: conv2DBackpropInputKernel as unknown as tf.KernelFunc,
  },
  { kernelName: 'MaxPoolGrad', backendName: 'wasm', kernelFunc: maxPoolGradKernel as unknown as tf.KernelFunc },
  {
    kernelName: 'ResizeNearestNeighborGrad',
    backendName: 'wasm',
    kernelFunc: resizeNearestGradKernel as unknown as tf.KernelFunc,
  },
  // The cpu backend's ResizeNearestNeighborGrad is wrong for batch > 1 (see resizeNearestGradient).
  {
    kernelName: 'ResizeNearestNeighborGrad',
    backendName: 'cpu',
    kernelFunc: resizeNearestGradKernel as unknown as tf.KernelFunc,
  },
  // wasm ignores halfPixelCenters; cpu returns a transposed shape (see resizeBilinearGradient).
  {
    kernelName: 'ResizeBilinearGrad',
    backendName: 'wasm',
    kernelFunc: resizeBilinearGradKernel as unknown as tf.KernelFunc,
  },
  {
    kernelName: 'ResizeBilinearGrad',
    backendName: 'cpu',
    kernelFunc: resizeBilinearGradKernel as unknown as tf.KernelFunc,
  },
];
const ours = new Set(configs.map((c) => c.kernelFunc));
const replaced = new Map<string, tf.KernelConfig>();

export interface WasmTrainingKernelOptions {
  /**
   * Replace the wasm backend's scalar-loop `Conv2DBackpropInput` with the XNNPACK-convolution
   * version ({@link conv2dInputGradient}). Default true.
   */
  replaceBackpropInput?: boolean;
}

const key = (c: tf.KernelConfig): string => `${c.backendName}/${c.kernelName}`;

/**
 * Registers the training kernels the `wasm` backend lacks (`Conv2DBackpropFilter`,
 * `UnsortedSegmentSum`), replaces its slow `Conv2DBackpropInput` (unless disabled) and its incorrect
 * `MaxPoolGrad`, `ResizeNearestNeighborGrad` and `ResizeBilinearGrad` (halfPixelCenters ignored),
 * and fixes the cpu backend's `ResizeNearestNeighborGrad` (wrong for batch > 1) and
 * `ResizeBilinearGrad` (transposed output shape). A missing kernel that some other code
 * registered meanwhile is left alone. Idempotent and explicit: importing ADX registers nothing.
 * Works before or after the backends are imported or initialised (it imports none). Also
 * registers the gradient functions ({@link registerTrainingGradients}) that tfjs-core's Node build
 * lacks. Returns `backend/kernel` names registered by this call.
 */
export function registerWasmTrainingKernels(options: WasmTrainingKernelOptions = {}): string[] {
  registerTrainingGradients();
  const added: string[] = [];
  for (const config of configs) {
    const current = tf.getKernel(config.kernelName, config.backendName);
    if (current != null && ours.has(current.kernelFunc)) continue;
    const isReplacement = config.backendName !== 'wasm' || WASM_REPLACED_KERNELS.includes(config.kernelName);
    if (isReplacement) {
      if (options.replaceBackpropInput === false && config.kernelName === 'Conv2DBackpropInput') continue;
      if (current != null) {
        replaced.set(key(config), current);
        tf.unregisterKernel(config.kernelName, config.backendName);
      }
    } else if (current != null) {
      continue;
    }
    tf.registerKernel(config);
    added.push(key(config));
  }
  return added;
}

/** Undoes {@link registerWasmTrainingKernels}: removes ADX's kernels and restores replaced ones. */
export function unregisterWasmTrainingKernels(): void {
  for (const config of configs) {
    const current = tf.getKernel(config.kernelName, config.backendName);
    if (current == null || !ours.has(current.kernelFunc)) continue;
    tf.unregisterKernel(config.kernelName, config.backendName);
    const original = replaced.get(key(config));
    if (original) {
      tf.registerKernel(original);
      // If the backend initialised while the original was unregistered, its setup never ran.
      const backend = tf.findBackend(config.backendName);
      if (backend && original.setupFunc) original.setupFunc(backend);
      replaced.delete(key(config));
    }
  }
}
