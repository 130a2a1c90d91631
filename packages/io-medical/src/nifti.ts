/**
 * NIfTI-1 and NIfTI-2 reading (`.nii`, `.nii.gz`, both byte orders) and NIfTI-1 writing.
 *
 * The header layout follows the official `nifti1.h` / `nifti2.h`. Reading follows nibabel 5.0 so that the values
 * match `nib.load(path)`: scaling `float64(stored) * scl_slope + scl_inter` with slope 0 / non-finite meaning "no
 * scaling" (`Nifti1Header.get_slope_inter`), the qform from the quaternion (`get_qform`, `quat2mat`, qfac from
 * pixdim[0]), and the affine choice of `get_best_affine` (sform if sform_code > 0, else qform if qform_code > 0,
 * else the pixdim-only Analyze fallback `shape_zoom_affine`). The header is parsed here rather than with
 * nifti-reader-js because that package is ESM-only (the CJS build could not `require` it) and its affine choice
 * prefers the qform in some cases where nibabel uses the sform.
 */
import { affineZooms, det3, identityAffine, mat2quat, polarOrthogonal, quat2mat, type Affine } from './affine.js';
import { FormatError, IoArgumentError, UnsupportedError } from './errors.js';
import { gunzipChecked, gzip, isGzip } from './gzip.js';
import { createVolume, numel, type Volume, type VoxelArray } from './volume.js';

/** NIfTI datatype codes (nifti1.h `NIFTI_TYPE_*`) that io-medical reads. */
export const NIFTI_TYPES = {
  uint8: 2,
  int16: 4,
  int32: 8,
  float32: 16,
  float64: 64,
  int8: 256,
  uint16: 512,
  uint32: 768,
  int64: 1024,
  uint64: 1280,
} as const;

export type NiftiTypeName = keyof typeof NIFTI_TYPES;

const TYPE_BY_CODE = new Map<number, { name: NiftiTypeName; bytes: number }>([
  [2, { name: 'uint8', bytes: 1 }],
  [4, { name: 'int16', bytes: 2 }],
  [8, { name: 'int32', bytes: 4 }],
  [16, { name: 'float32', bytes: 4 }],
  [64, { name: 'float64', bytes: 8 }],
  [256, { name: 'int8', bytes: 1 }],
  [512, { name: 'uint16', bytes: 2 }],
  [768, { name: 'uint32', bytes: 4 }],
  [1024, { name: 'int64', bytes: 8 }],
  [1280, { name: 'uint64', bytes: 8 }],
]);

const UNSUPPORTED_NAMES: Record<number, string> = {
  1: 'binary',
  32: 'complex64',
  128: 'rgb24',
  1536: 'float128',
  1792: 'complex128',
  2048: 'complex256',
  2304: 'rgba32',
};

/** Raw header fields as stored (names from nifti1.h / nifti2.h; float32 fields widened to float64). */
export interface NiftiHeader {
  version: 1 | 2;
  littleEndian: boolean;
  sizeof_hdr: number;
  magic: string;
  datatype: number;
  bitpix: number;
  dim: number[];
  pixdim: number[];
  vox_offset: number;
  scl_slope: number;
  scl_inter: number;
  cal_min: number;
  cal_max: number;
  intent_code: number;
  intent_p1: number;
  intent_p2: number;
  intent_p3: number;
  intent_name: string;
  slice_code: number;
  slice_start: number;
  slice_end: number;
  slice_duration: number;
  toffset: number;
  dim_info: number;
  qform_code: number;
  sform_code: number;
  quatern_b: number;
  quatern_c: number;
  quatern_d: number;
  qoffset_x: number;
  qoffset_y: number;
  qoffset_z: number;
  srow_x: number[];
  srow_y: number[];
  srow_z: number[];
  xyzt_units: number;
  /** Bytes of `descrip` with trailing NULs removed (latin-1), as numpy shows an `S80` field. */
  descrip: string;
  aux_file: string;
  extensions: { ecode: number; esize: number; data: Uint8Array }[];
}

export interface NiftiImage {
  header: NiftiHeader;
  /** Stored values in host byte order, file order (first index fastest). int64/uint64 are widened to float64. */
  stored: VoxelArray;
  /** Scaled values (`stored * slope + inter`) with the best affine and pixdim spacing. */
  volume: Volume<Float32Array | Float64Array>;
  /** Slope and intercept actually applied (nibabel rule). */
  scaling: { slope: number; inter: number };
  qformAffine: Affine;
  sformAffine: Affine;
  affineSource: 'sform' | 'qform' | 'pixdim';
  warnings: string[];
}

export interface ReadNiftiOptions {
  /** File name used in error messages. */
  name?: string;
  /** Precision of the scaled volume (default float32; use float64 for bit-exact comparison with nibabel). */
  precision?: 'float32' | 'float64';
}

function text(bytes: Uint8Array, off: number, len: number, untilNul = false): string {
  let end = off + len;
  if (untilNul) {
    const z = bytes.indexOf(0, off);
    if (z >= 0 && z < end) end = z;
  } else {
    while (end > off && bytes[end - 1] === 0) end--;
  }
  let s = '';
  for (let i = off; i < end; i++) s += String.fromCharCode(bytes[i]!);
  return s;
}

/** True if the bytes (possibly gzip) start with a NIfTI-1 or NIfTI-2 header. */
export function isNifti(bytes: Uint8Array): boolean {
  try {
    const b = isGzip(bytes) ? gunzipChecked(bytes, '<buffer>') : bytes;
    if (b.length < 348) return false;
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const s = dv.getInt32(0, true);
    const sb = dv.getInt32(0, false);
    return s === 348 || sb === 348 || s === 540 || sb === 540;
  } catch {
    return false;
  }
}

/** Parses the header of uncompressed NIfTI bytes. */
export function parseNiftiHeader(bytes: Uint8Array, name = '<buffer>'): NiftiHeader {
  if (bytes.length < 4) throw new FormatError('nifti', name, 'sizeof_hdr', `file has only ${bytes.length} bytes`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let le = true;
  let version: 1 | 2;
  const s = dv.getInt32(0, true);
  const sb = dv.getInt32(0, false);
  if (s === 348 || sb === 348) {
    version = 1;
    le = s === 348;
  } else if (s === 540 || sb === 540) {
    version = 2;
    le = s === 540;
  } else {
    throw new FormatError(
      'nifti',
      name,
      'sizeof_hdr',
      `is ${s} (expected 348 for NIfTI-1 or 540 for NIfTI-2): not a NIfTI file`,
    );
  }
  const hdrLen = version === 1 ? 348 : 540;
  if (bytes.length < hdrLen) {
    throw new FormatError(
      'nifti',
      name,
      'header',
      `truncated: ${bytes.length} bytes, the NIfTI-${version} header needs ${hdrLen}`,
    );
  }
  const i16 = (o: number) => dv.getInt16(o, le);
  const i32 = (o: number) => dv.getInt32(o, le);
  const f32 = (o: number) => dv.getFloat32(o, le);
  const f64 = (o: number) => dv.getFloat64(o, le);
  const i64 = (o: number) => Number(dv.getBigInt64(o, le));
  let h: Omit<NiftiHeader, 'extensions'>;
  if (version === 1) {
    const magic = text(bytes, 344, 4);
    if (magic !== 'n+1' && magic !== 'ni1') {
      throw new FormatError(
        'nifti',
        name,
        'magic',
        `is ${JSON.stringify(magic)}, expected "n+1" (single file NIfTI-1)`,
      );
    }
    h = {
      version,
      littleEndian: le,
      sizeof_hdr: 348,
      magic,
      dim_info: bytes[39]!,
      dim: Array.from({ length: 8 }, (_, i) => i16(40 + 2 * i)),
      intent_p1: f32(56),
      intent_p2: f32(60),
      intent_p3: f32(64),
      intent_code: i16(68),
      datatype: i16(70),
      bitpix: i16(72),
      slice_start: i16(74),
      pixdim: Array.from({ length: 8 }, (_, i) => f32(76 + 4 * i)),
      vox_offset: f32(108),
      scl_slope: f32(112),
      scl_inter: f32(116),
      slice_end: i16(120),
      slice_code: bytes[122]!,
      xyzt_units: bytes[123]!,
      cal_max: f32(124),
      cal_min: f32(128),
      slice_duration: f32(132),
      toffset: f32(136),
      descrip: text(bytes, 148, 80),
      aux_file: text(bytes, 228, 24),
      qform_code: i16(252),
      sform_code: i16(254),
      quatern_b: f32(256),
      quatern_c: f32(260),
      quatern_d: f32(264),
      qoffset_x: f32(268),
      qoffset_y: f32(272),
      qoffset_z: f32(276),
      srow_x: Array.from({ length: 4 }, (_, i) => f32(280 + 4 * i)),
      srow_y: Array.from({ length: 4 }, (_, i) => f32(296 + 4 * i)),
      srow_z: Array.from({ length: 4 }, (_, i) => f32(312 + 4 * i)),
      intent_name: text(bytes, 328, 16),
    };
  } else {
    const magic = text(bytes, 4, 8, true);
    if (magic !== 'n+2' && magic !== 'ni2') {
      throw new FormatError(
        'nifti',
        name,
        'magic',
        `is ${JSON.stringify(magic)}, expected "n+2" (single file NIfTI-2)`,
      );
    }
    h = {
      version,
      littleEndian: le,
      sizeof_hdr: 540,
      magic,
      datatype: i16(12),
      bitpix: i16(14),
      dim: Array.from({ length: 8 }, (_, i) => i64(16 + 8 * i)),
      intent_p1: f64(80),
      intent_p2: f64(88),
      intent_p3: f64(96),
      pixdim: Array.from({ length: 8 }, (_, i) => f64(104 + 8 * i)),
      vox_offset: i64(168),
      scl_slope: f64(176),
      scl_inter: f64(184),
      cal_max: f64(192),
      cal_min: f64(200),
      slice_duration: f64(208),
      toffset: f64(216),
      slice_start: i64(224),
      slice_end: i64(232),
      descrip: text(bytes, 240, 80),
      aux_file: text(bytes, 320, 24),
      qform_code: i32(344),
      sform_code: i32(348),
      quatern_b: f64(352),
      quatern_c: f64(360),
      quatern_d: f64(368),
      qoffset_x: f64(376),
      qoffset_y: f64(384),
      qoffset_z: f64(392),
      srow_x: Array.from({ length: 4 }, (_, i) => f64(400 + 8 * i)),
      srow_y: Array.from({ length: 4 }, (_, i) => f64(432 + 8 * i)),
      srow_z: Array.from({ length: 4 }, (_, i) => f64(464 + 8 * i)),
      slice_code: i32(496),
      xyzt_units: i32(500),
      intent_code: i32(504),
      intent_name: text(bytes, 508, 16),
      dim_info: bytes[524]!,
    };
  }
  // Extensions: 4 bytes after the header; extension[0] != 0 means a list of (esize, ecode, data) up to vox_offset.
  const extensions: NiftiHeader['extensions'] = [];
  if (bytes.length >= hdrLen + 4 && bytes[hdrLen] !== 0) {
    let off = hdrLen + 4;
    const end = Math.min(h.vox_offset > 0 ? h.vox_offset : bytes.length, bytes.length);
    while (off + 8 <= end) {
      const esize = i32(off);
      const ecode = i32(off + 4);
      if (esize < 8 || off + esize > end) break;
      extensions.push({ ecode, esize, data: bytes.slice(off + 8, off + esize) });
      off += esize;
    }
  }
  return { ...h, extensions };
}

/** nibabel `get_qform()`: rotation from the quaternion (b, c, d, a = sqrt(1 - b² - c² - d²)), zooms, qfac. */
export function qformAffine(h: NiftiHeader): Affine {
  const b = h.quatern_b;
  const c = h.quatern_c;
  const d = h.quatern_d;
  const w2 = 1.0 - (b * b + c * c + d * d);
  const a = w2 < 0 ? 0 : Math.sqrt(w2);
  const r = quat2mat([a, b, c, d]);
  const vox = [h.pixdim[1]!, h.pixdim[2]!, h.pixdim[3]!];
  const qfac = h.pixdim[0] === -1 ? -1 : 1;
  vox[2] = vox[2]! * qfac;
  const out = identityAffine();
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) out[i]![j] = r[i]![j]! * vox[j]!;
  out[0]![3] = h.qoffset_x;
  out[1]![3] = h.qoffset_y;
  out[2]![3] = h.qoffset_z;
  return out;
}

export function sformAffine(h: NiftiHeader): Affine {
  return [h.srow_x.slice(), h.srow_y.slice(), h.srow_z.slice(), [0, 0, 0, 1]];
}

/** nibabel `shape_zoom_affine(shape, zooms, x_flip=True)`: the Analyze fallback affine. */
export function pixdimAffine(h: NiftiHeader): Affine {
  const n = h.dim[0]!;
  const shape = [1, 2, 3].map((i) => (i <= n ? h.dim[i]! : 1));
  const zooms = [1, 2, 3].map((i) => (i <= n ? h.pixdim[i]! : 1));
  zooms[0] = -zooms[0]!;
  const a = identityAffine();
  for (let i = 0; i < 3; i++) {
    a[i]![i] = zooms[i]!;
    a[i]![3] = (-(shape[i]! - 1) / 2) * zooms[i]!;
  }
  return a;
}

/** nibabel's slope/intercept rule: slope 0 or non-finite → no scaling; non-finite intercept → 0. */
export function niftiScaling(h: NiftiHeader): { slope: number; inter: number } {
  if (!Number.isFinite(h.scl_slope) || h.scl_slope === 0) return { slope: 1, inter: 0 };
  return { slope: h.scl_slope, inter: Number.isFinite(h.scl_inter) ? h.scl_inter : 0 };
}

function readStored(bytes: Uint8Array, off: number, n: number, code: number, le: boolean): VoxelArray {
  const dv = new DataView(bytes.buffer, bytes.byteOffset + off, bytes.byteLength - off);
  switch (code) {
    case 2:
      return bytes.slice(off, off + n);
    case 256:
      return new Int8Array(bytes.slice(off, off + n).buffer);
    case 4: {
      const out = new Int16Array(n);
      for (let i = 0; i < n; i++) out[i] = dv.getInt16(2 * i, le);
      return out;
    }
    case 512: {
      const out = new Uint16Array(n);
      for (let i = 0; i < n; i++) out[i] = dv.getUint16(2 * i, le);
      return out;
    }
    case 8: {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = dv.getInt32(4 * i, le);
      return out;
    }
    case 768: {
      const out = new Uint32Array(n);
      for (let i = 0; i < n; i++) out[i] = dv.getUint32(4 * i, le);
      return out;
    }
    case 16: {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, le);
      return out;
    }
    case 64: {
      const out = new Float64Array(n);
      for (let i = 0; i < n; i++) out[i] = dv.getFloat64(8 * i, le);
      return out;
    }
    case 1024: {
      const out = new Float64Array(n);
      for (let i = 0; i < n; i++) out[i] = Number(dv.getBigInt64(8 * i, le));
      return out;
    }
    default: {
      const out = new Float64Array(n);
      for (let i = 0; i < n; i++) out[i] = Number(dv.getBigUint64(8 * i, le));
      return out;
    }
  }
}

/**
 * Reads a `.nii` or `.nii.gz` (gzip detected from the magic bytes). Errors name the file and the header field:
 * wrong magic / sizeof_hdr, corrupt gzip, inconsistent `dim`, unsupported `datatype`, data shorter than the header
 * says.
 */
export function readNifti(input: Uint8Array | ArrayBuffer, options: ReadNiftiOptions = {}): NiftiImage {
  const name = options.name ?? '<buffer>';
  let bytes = input instanceof Uint8Array ? input : new Uint8Array(input);
  if (isGzip(bytes)) bytes = gunzipChecked(bytes, name);
  const h = parseNiftiHeader(bytes, name);
  const warnings: string[] = [];
  if (h.magic === 'ni1' || h.magic === 'ni2') {
    throw new UnsupportedError(
      name,
      'magic',
      `"${h.magic}" is a .hdr/.img pair; only single-file NIfTI (n+1, n+2) is supported`,
    );
  }
  const ndim = h.dim[0]!;
  if (!(ndim >= 1 && ndim <= 7)) throw new FormatError('nifti', name, 'dim[0]', `is ${ndim}, must be 1..7`);
  const shape: number[] = [];
  for (let i = 1; i <= ndim; i++) {
    const d = h.dim[i]!;
    if (!(d >= 1))
      throw new FormatError('nifti', name, `dim[${i}]`, `is ${d}, must be ≥ 1 for the ${ndim} dimensions in dim[0]`);
    shape.push(d);
  }
  const type = TYPE_BY_CODE.get(h.datatype);
  if (!type) {
    const known = UNSUPPORTED_NAMES[h.datatype];
    throw new UnsupportedError(
      name,
      'datatype',
      `${h.datatype}${known ? ` (${known})` : ''} is not supported (supported: ${[...TYPE_BY_CODE.values()].map((t) => t.name).join(', ')})`,
    );
  }
  if (h.bitpix !== type.bytes * 8)
    warnings.push(`bitpix ${h.bitpix} does not match datatype ${type.name}; using ${type.bytes * 8}`);
  const offset = Math.floor(h.vox_offset);
  if (offset < h.sizeof_hdr) {
    if (h.vox_offset === 0 && h.magic.startsWith('n+')) {
      throw new FormatError(
        'nifti',
        name,
        'vox_offset',
        `is 0 for a single-file image (must be ≥ ${h.sizeof_hdr + 4})`,
      );
    }
  }
  const n = numel(shape);
  const need = offset + n * type.bytes;
  if (bytes.length < need) {
    throw new FormatError(
      'nifti',
      name,
      'data',
      `truncated: dim [${shape.join(', ')}] of ${type.name} needs ${n * type.bytes} bytes from vox_offset ${offset}, file has ${Math.max(0, bytes.length - offset)}`,
    );
  }
  const stored = readStored(bytes, offset, n, h.datatype, h.littleEndian);
  const scaling = niftiScaling(h);
  const precision = options.precision ?? 'float32';
  const scaled = precision === 'float64' ? new Float64Array(n) : new Float32Array(n);
  const { slope, inter } = scaling;
  for (let i = 0; i < n; i++) scaled[i] = stored[i]! * slope + inter;
  const q = qformAffine(h);
  const s = sformAffine(h);
  let affine: Affine;
  let affineSource: NiftiImage['affineSource'];
  if (h.sform_code !== 0) {
    affine = s;
    affineSource = 'sform';
  } else if (h.qform_code !== 0) {
    affine = q;
    affineSource = 'qform';
  } else {
    affine = pixdimAffine(h);
    affineSource = 'pixdim';
  }
  const volShape = shape.slice(0, 4);
  if (shape.length > 4) {
    if (shape.slice(4).some((d) => d !== 1)) {
      throw new UnsupportedError(name, 'dim', `${ndim}-D data with dim[5..] > 1 is not supported`);
    }
  }
  const spacing = [1, 2, 3, 4]
    .slice(0, Math.max(3, volShape.length))
    .map((i) => (i <= ndim ? Math.abs(h.pixdim[i]!) : 1));
  while (volShape.length < 3) volShape.push(1);
  const volume = createVolume({
    data: scaled,
    shape: volShape,
    affine,
    spacing,
    metadata: {
      format: 'nifti',
      niftiVersion: h.version,
      file: name,
      descrip: h.descrip,
      qformCode: h.qform_code,
      sformCode: h.sform_code,
      xyztUnits: h.xyzt_units,
      onDiskDatatype: type.name,
    },
  });
  return { header: h, stored, volume, scaling, qformAffine: q, sformAffine: s, affineSource, warnings };
}

export interface WriteNiftiOptions {
  /** On-disk type (default float32). int16/uint8 are scaled with scl_slope/scl_inter unless values fit exactly. */
  dataType?: 'float32' | 'int16' | 'uint8';
  /** gzip the result (`.nii.gz`). */
  gzip?: boolean;
  descrip?: string;
  /** Codes written for the qform and sform (default: the volume's metadata codes, else 1 = scanner). */
  qformCode?: number;
  sformCode?: number;
}

/**
 * nibabel `Nifti1Header.set_qform`: quaternion, qfac and zooms of an affine. The rotation is made orthogonal by
 * polar decomposition; qfac = -1 when the determinant is negative (third column flipped).
 */
export function affineToQform(affine: Affine): {
  b: number;
  c: number;
  d: number;
  qfac: number;
  zooms: number[];
  offset: number[];
} {
  const zooms = affineZooms(affine).map((z) => (z === 0 ? 1 : z));
  const r = [0, 1, 2].map((i) => [0, 1, 2].map((j) => affine[i]![j]! / zooms[j]!));
  let qfac = 1;
  if (det3(r) <= 0) {
    qfac = -1;
    for (let i = 0; i < 3; i++) r[i]![2] = -r[i]![2]!;
  }
  const pr = polarOrthogonal(r) ?? r;
  const [, b, c, d] = mat2quat(pr);
  return { b, c, d, qfac, zooms, offset: [affine[0]![3]!, affine[1]![3]!, affine[2]![3]!] };
}

/** Writes a Volume as single-file NIfTI-1 (vox_offset 352, little endian), with matching qform and sform. */
export function writeNifti(volume: Volume, options: WriteNiftiOptions = {}): Uint8Array {
  const dataType = options.dataType ?? 'float32';
  const code = NIFTI_TYPES[dataType];
  const bytesPer = dataType === 'float32' ? 4 : dataType === 'int16' ? 2 : 1;
  const shape = volume.shape;
  const n = numel(shape);
  if (volume.data.length !== n)
    throw new IoArgumentError('volume.data', `length ${volume.data.length} ≠ numel(shape) ${n}`);
  let slope = 1;
  let inter = 0;
  if (dataType !== 'float32') {
    const [lo, hi] = dataType === 'int16' ? [-32768, 32767] : [0, 255];
    let min = Infinity;
    let max = -Infinity;
    let allInt = true;
    for (let i = 0; i < n; i++) {
      const v = volume.data[i]!;
      if (!Number.isFinite(v))
        throw new IoArgumentError('volume.data', `non-finite value at ${i} cannot be stored as ${dataType}`);
      if (v < min) min = v;
      if (v > max) max = v;
      if (allInt && v !== Math.round(v)) allInt = false;
    }
    if (!(allInt && min >= lo && max <= hi) && n > 0) {
      // Map [min, max] onto the type's range (nibabel's float→int scaling, slope/intercept form).
      if (max === min) {
        slope = 1;
        inter = min;
      } else {
        slope = (max - min) / (hi - lo);
        inter = min - lo * slope;
      }
      slope = Math.fround(slope);
      inter = Math.fround(inter);
    }
  }
  const buf = new Uint8Array(352 + n * bytesPer);
  const dv = new DataView(buf.buffer);
  dv.setInt32(0, 348, true);
  buf[38] = 'r'.charCodeAt(0); // regular
  const dims = [shape.length, ...shape];
  while (dims.length < 8) dims.push(1);
  dims.forEach((d, i) => dv.setInt16(40 + 2 * i, d, true));
  dv.setInt16(70, code, true);
  dv.setInt16(72, bytesPer * 8, true);
  const q = affineToQform(volume.affine);
  const pix = [q.qfac, ...volume.spacing.slice(0, shape.length)];
  for (let i = 1; i <= 3; i++) if (pix[i] === undefined) pix[i] = q.zooms[i - 1]!;
  while (pix.length < 8) pix.push(1);
  pix.forEach((p, i) => dv.setFloat32(76 + 4 * i, p, true));
  dv.setFloat32(108, 352, true);
  dv.setFloat32(112, slope, true);
  dv.setFloat32(116, inter, true);
  buf[123] = 2 | 8; // mm, sec
  const descrip = (options.descrip ?? 'written by @adx/io-medical').slice(0, 79);
  for (let i = 0; i < descrip.length; i++) buf[148 + i] = descrip.charCodeAt(i) & 0xff;
  const md = volume.metadata;
  const qcode = options.qformCode ?? (typeof md.qformCode === 'number' && md.qformCode > 0 ? md.qformCode : 1);
  const scode = options.sformCode ?? (typeof md.sformCode === 'number' && md.sformCode > 0 ? md.sformCode : 1);
  dv.setInt16(252, qcode, true);
  dv.setInt16(254, scode, true);
  dv.setFloat32(256, q.b, true);
  dv.setFloat32(260, q.c, true);
  dv.setFloat32(264, q.d, true);
  dv.setFloat32(268, q.offset[0]!, true);
  dv.setFloat32(272, q.offset[1]!, true);
  dv.setFloat32(276, q.offset[2]!, true);
  for (let r = 0; r < 3; r++)
    for (let c = 0; c < 4; c++) dv.setFloat32(280 + 16 * r + 4 * c, volume.affine[r]![c]!, true);
  buf.set([0x6e, 0x2b, 0x31, 0x00], 344); // "n+1\0"
  // extension flag bytes 348..351 stay 0
  const off = 352;
  const data = volume.data;
  if (dataType === 'float32') {
    for (let i = 0; i < n; i++) dv.setFloat32(off + 4 * i, data[i]!, true);
  } else if (dataType === 'int16') {
    for (let i = 0; i < n; i++)
      dv.setInt16(off + 2 * i, Math.max(-32768, Math.min(32767, Math.round((data[i]! - inter) / slope))), true);
  } else {
    for (let i = 0; i < n; i++) buf[off + i] = Math.max(0, Math.min(255, Math.round((data[i]! - inter) / slope)));
  }
  return options.gzip ? gzip(buf) : buf;
}
