/**
 * Sorting helpers for the ranking metrics. Float32 scores (the common case: maps come from float32
 * tensors) are sorted with a 3-pass LSD radix sort on their order-preserving uint32 keys; float64
 * scores with a 4-pass (16-bit digit) LSD radix sort on 64-bit keys. Both O(n), stable, exact.
 */

/** Order-preserving map float32 bits -> uint32 (negative: flip all bits; positive: flip sign bit). */
function toKey(bits: number): number {
  return (bits & 0x80000000 ? ~bits : bits | 0x80000000) >>> 0;
}

function fromKey(key: number): number {
  return (key & 0x80000000 ? key & 0x7fffffff : ~key) >>> 0;
}

/** Sorts float32 values ascending in place (radix sort, 11-bit digits). NaN must have been rejected. */
export function radixSortFloat32(values: Float32Array): Float32Array {
  const n = values.length;
  if (n < 2) return values;
  const bits = new Uint32Array(values.buffer, values.byteOffset, n);
  let src = new Uint32Array(n);
  for (let i = 0; i < n; i++) src[i] = toKey(bits[i]!);
  let dst = new Uint32Array(n);
  const count = new Uint32Array(2048);
  for (let shift = 0; shift < 32; shift += 11) {
    count.fill(0);
    for (let i = 0; i < n; i++) count[(src[i]! >>> shift) & 0x7ff]!++;
    let sum = 0;
    for (let b = 0; b < 2048; b++) {
      const c = count[b]!;
      count[b] = sum;
      sum += c;
    }
    for (let i = 0; i < n; i++) {
      const k = src[i]!;
      dst[count[(k >>> shift) & 0x7ff]!++] = k;
    }
    const t = src;
    src = dst;
    dst = t;
  }
  for (let i = 0; i < n; i++) bits[i] = fromKey(src[i]!);
  return values;
}

/** Sorts float64 values ascending in place (LSD radix sort on order-preserving 64-bit keys). */
export function radixSortFloat64(values: Float64Array): Float64Array {
  const n = values.length;
  if (n < 2) return values;
  if (n < 256) return values.sort();
  // Little-endian words: [lo, hi] per value.
  const words = new Uint32Array(values.buffer, values.byteOffset, 2 * n);
  let hi = new Uint32Array(n);
  let lo = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const h = words[2 * i + 1]!;
    const l = words[2 * i]!;
    if (h & 0x80000000) {
      hi[i] = ~h >>> 0;
      lo[i] = ~l >>> 0;
    } else {
      hi[i] = (h | 0x80000000) >>> 0;
      lo[i] = l;
    }
  }
  let hi2 = new Uint32Array(n);
  let lo2 = new Uint32Array(n);
  const count = new Uint32Array(65536);
  for (let pass = 0; pass < 4; pass++) {
    const src = pass < 2 ? lo : hi;
    const shift = (pass & 1) * 16;
    count.fill(0);
    for (let i = 0; i < n; i++) count[(src[i]! >>> shift) & 0xffff]!++;
    if (count[(src[0]! >>> shift) & 0xffff] === n) continue; // all digits equal: pass is a no-op
    let sum = 0;
    for (let b = 0; b < 65536; b++) {
      const c = count[b]!;
      count[b] = sum;
      sum += c;
    }
    for (let i = 0; i < n; i++) {
      const d = count[(src[i]! >>> shift) & 0xffff]!++;
      hi2[d] = hi[i]!;
      lo2[d] = lo[i]!;
    }
    [hi, hi2] = [hi2, hi];
    [lo, lo2] = [lo2, lo];
  }
  for (let i = 0; i < n; i++) {
    const h = hi[i]!;
    if (h & 0x80000000) {
      words[2 * i + 1] = h & 0x7fffffff;
      words[2 * i] = lo[i]!;
    } else {
      words[2 * i + 1] = ~h >>> 0;
      words[2 * i] = ~lo[i]! >>> 0;
    }
  }
  return values;
}

/** True when every value is exactly representable in float32 (so the radix path is exact). */
export function isExactFloat32(values: ArrayLike<number>): boolean {
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (Math.fround(v) !== v) return false;
  }
  return true;
}

/**
 * Splits scores by label (label > 0 is positive) and sorts both groups ascending.
 * Returns float32 arrays when the scores are float32-exact, float64 otherwise.
 */
export function splitAndSort(
  yTrue: ArrayLike<number>,
  yScore: ArrayLike<number>,
): { pos: Float32Array | Float64Array; neg: Float32Array | Float64Array } {
  const n = yScore.length;
  let nPos = 0;
  for (let i = 0; i < n; i++) if (yTrue[i]! > 0) nPos++;
  const useF32 = yScore instanceof Float32Array || isExactFloat32(yScore);
  const Ctor = useF32 ? Float32Array : Float64Array;
  const pos = new Ctor(nPos);
  const neg = new Ctor(n - nPos);
  let p = 0;
  let q = 0;
  for (let i = 0; i < n; i++) {
    if (yTrue[i]! > 0) pos[p++] = yScore[i]!;
    else neg[q++] = yScore[i]!;
  }
  if (useF32) {
    radixSortFloat32(pos as Float32Array);
    radixSortFloat32(neg as Float32Array);
  } else {
    radixSortFloat64(pos as Float64Array);
    radixSortFloat64(neg as Float64Array);
  }
  return { pos, neg };
}

/**
 * Walks the distinct score values in DECREASING order (scikit-learn's `_binary_clf_curve` order),
 * calling `visit(threshold, tps, fps)` with the cumulative true/false positive counts of all samples
 * with score >= threshold. Equal scores (including -0 and +0) form one threshold, as in NumPy.
 */
export function walkDistinctDescending(
  pos: ArrayLike<number>,
  neg: ArrayLike<number>,
  visit: (threshold: number, tps: number, fps: number) => void,
): void {
  let i = pos.length - 1;
  let j = neg.length - 1;
  let tps = 0;
  let fps = 0;
  while (i >= 0 || j >= 0) {
    const a = i >= 0 ? pos[i]! : -Infinity;
    const b = j >= 0 ? neg[j]! : -Infinity;
    const t = a >= b ? a : b;
    while (i >= 0 && pos[i] === t) {
      tps++;
      i--;
    }
    while (j >= 0 && neg[j] === t) {
      fps++;
      j--;
    }
    visit(t, tps, fps);
  }
}
