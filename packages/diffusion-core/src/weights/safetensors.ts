/**
 * safetensors read/write (https://github.com/huggingface/safetensors format):
 * 8-byte little-endian header length N, N bytes of JSON (`{name: {dtype, shape, data_offsets}}`
 * plus optional `__metadata__` of strings), then the raw little-endian tensor bytes.
 *
 * Pure byte-level code: no tfjs, no file system. Works in Node and browsers.
 */
import { WeightsError } from '../errors.js';

export type SafetensorsDtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export type TypedArrayFor<D extends SafetensorsDtype> = D extends 'F64'
  ? Float64Array
  : D extends 'F32' | 'F16' | 'BF16'
    ? Float32Array
    : D extends 'I64'
      ? BigInt64Array
      : D extends 'I32'
        ? Int32Array
        : D extends 'I16'
          ? Int16Array
          : D extends 'I8'
            ? Int8Array
            : Uint8Array;

export interface SafetensorsEntry {
  dtype: SafetensorsDtype;
  shape: number[];
  /** A fresh copy (F16 and BF16 are widened to float32). */
  data: Float64Array | Float32Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array;
}

export interface SafetensorsFile {
  tensors: Map<string, SafetensorsEntry>;
  metadata: Record<string, string>;
}

/** Bytes per element of each dtype. */
export const DTYPE_BYTES: Readonly<Record<SafetensorsDtype, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

/** Decodes an IEEE half-precision value. */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

/**
 * Parses a safetensors buffer. Every tensor is copied into a fresh, aligned typed array.
 * @param source used in error messages (a file name or description).
 */
export function readSafetensors(bytes: Uint8Array, source = 'safetensors buffer'): SafetensorsFile {
  if (bytes.byteLength < 8)
    throw new WeightsError(source, `too short for a safetensors header (${bytes.byteLength} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(view.getBigUint64(0, true));
  if (n <= 0 || 8 + n > bytes.byteLength) {
    throw new WeightsError(source, `header length ${n} exceeds the file size ${bytes.byteLength}`);
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, unknown>;
  } catch (e) {
    throw new WeightsError(source, `header is not valid JSON (${(e as Error).message})`);
  }
  const dataStart = 8 + n;
  const dataLength = bytes.byteLength - dataStart;
  const tensors = new Map<string, SafetensorsEntry>();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = (raw ?? {}) as Record<string, string>;
      continue;
    }
    const info = raw as { dtype?: string; shape?: number[]; data_offsets?: [number, number] };
    const dtype = info.dtype as SafetensorsDtype;
    if (!(dtype in DTYPE_BYTES))
      throw new WeightsError(source, `tensor '${name}' has unsupported dtype '${info.dtype}'`);
    const shape = info.shape ?? [];
    const [begin, end] = info.data_offsets ?? [NaN, NaN];
    const count = shape.reduce((a, b) => a * b, 1);
    if (!(begin >= 0 && end <= dataLength && end - begin === count * DTYPE_BYTES[dtype])) {
      throw new WeightsError(
        source,
        `tensor '${name}' has data_offsets [${begin}, ${end}] inconsistent with dtype ${dtype}, shape [${shape.join(', ')}] and data size ${dataLength}`,
      );
    }
    const slice = bytes.slice(dataStart + begin, dataStart + end); // fresh, aligned copy
    tensors.set(name, { dtype, shape: [...shape], data: decode(dtype, slice, count) });
  }
  return { tensors, metadata };
}

/**
 * Decodes `count` little-endian elements of `dtype` from `slice`, which must own its (aligned)
 * buffer exactly, e.g. the result of `bytes.slice(…)`. F16/BF16 are widened to float32.
 */
export function decodeTensorBytes(dtype: SafetensorsDtype, slice: Uint8Array, count: number): SafetensorsEntry['data'] {
  return decode(dtype, slice, count);
}

function decode(dtype: SafetensorsDtype, slice: Uint8Array, count: number): SafetensorsEntry['data'] {
  const buf = slice.buffer;
  switch (dtype) {
    case 'F64':
      return new Float64Array(buf);
    case 'F32':
      return new Float32Array(buf);
    case 'F16': {
      const u16 = new Uint16Array(buf);
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = halfToFloat(u16[i]);
      return out;
    }
    case 'BF16': {
      // bfloat16 is the upper half of a float32.
      const u16 = new Uint16Array(buf);
      const u32 = new Uint32Array(count);
      for (let i = 0; i < count; i++) u32[i] = u16[i] << 16;
      return new Float32Array(u32.buffer);
    }
    case 'I64':
      return new BigInt64Array(buf);
    case 'I32':
      return new Int32Array(buf);
    case 'I16':
      return new Int16Array(buf);
    case 'I8':
      return new Int8Array(buf);
    case 'U8':
    case 'BOOL':
      return new Uint8Array(buf);
  }
}

export interface SafetensorsInput {
  dtype?: SafetensorsDtype;
  shape: number[];
  data: Float64Array | Float32Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array;
}

function dtypeOf(data: SafetensorsInput['data']): SafetensorsDtype {
  if (data instanceof Float64Array) return 'F64';
  if (data instanceof Float32Array) return 'F32';
  if (data instanceof BigInt64Array) return 'I64';
  if (data instanceof Int32Array) return 'I32';
  if (data instanceof Int16Array) return 'I16';
  if (data instanceof Int8Array) return 'I8';
  return 'U8';
}

/**
 * Serialises tensors to safetensors bytes. Keys are written in sorted order (as the Python
 * implementation does); the header is space-padded to a multiple of 8 bytes.
 */
export function writeSafetensors(
  tensors: Map<string, SafetensorsInput> | Record<string, SafetensorsInput>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const entries = (tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors)).sort(([a], [b]) =>
    a < b ? -1 : a > b ? 1 : 0,
  );
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of entries) {
    const dtype = t.dtype ?? dtypeOf(t.data);
    if (dtype === 'F16' || dtype === 'BF16') throw new WeightsError(name, `writing ${dtype} is not supported`);
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) {
      throw new WeightsError(name, `shape [${t.shape.join(', ')}] needs ${count} values, data has ${t.data.length}`);
    }
    const nbytes = count * DTYPE_BYTES[dtype];
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + nbytes] };
    offset += nbytes;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let pos = 8 + json.length;
  for (const [, t] of entries) {
    const b = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    out.set(b, pos);
    pos += b.byteLength;
  }
  return out;
}
