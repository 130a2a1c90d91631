/**
 * DICOM single files and series → Volume. dicom-parser splits the file into elements; pixel decoding, Rescale
 * Slope/Intercept, signedness (Pixel Representation), Bits Stored masking, RLE Lossless (PS3.5 Annex G) and slice
 * sorting along the orientation normal are done here. Deflate uses fflate as dicom-parser's `inflater`, so the
 * browser needs no zlib. JPEG-family transfer syntaxes raise an UnsupportedError naming the syntax.
 */
import * as dicomParserNs from 'dicom-parser';
import { inflateSync } from 'fflate';
import { affineFromGeometry, type Affine } from './affine.js';
import { FormatError, IoArgumentError, UnsupportedError } from './errors.js';
import { createVolume, type Volume, type VoxelArray } from './volume.js';

type DicomParserModule = typeof import('dicom-parser');
type DataSet = import('dicom-parser').DataSet;

/** dicom-parser ships UMD: its exports are the namespace (CJS, bundlers) or the `default` export (Node ESM). */
function parserModule(): DicomParserModule {
  const ns = dicomParserNs as unknown as DicomParserModule & { default?: DicomParserModule };
  if (typeof ns.parseDicom === 'function') return ns;
  if (ns.default && typeof ns.default.parseDicom === 'function') return ns.default;
  throw new Error('dicom-parser did not load (parseDicom missing)');
}

export const TRANSFER_SYNTAXES: Record<string, string> = {
  '1.2.840.10008.1.2': 'Implicit VR Little Endian',
  '1.2.840.10008.1.2.1': 'Explicit VR Little Endian',
  '1.2.840.10008.1.2.1.99': 'Deflated Explicit VR Little Endian',
  '1.2.840.10008.1.2.2': 'Explicit VR Big Endian',
  '1.2.840.10008.1.2.5': 'RLE Lossless',
  '1.2.840.10008.1.2.4.50': 'JPEG Baseline (Process 1)',
  '1.2.840.10008.1.2.4.51': 'JPEG Extended (Process 2 & 4)',
  '1.2.840.10008.1.2.4.57': 'JPEG Lossless, Non-Hierarchical (Process 14)',
  '1.2.840.10008.1.2.4.70': 'JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 [Selection Value 1])',
  '1.2.840.10008.1.2.4.80': 'JPEG-LS Lossless Image Compression',
  '1.2.840.10008.1.2.4.81': 'JPEG-LS Lossy (Near-Lossless) Image Compression',
  '1.2.840.10008.1.2.4.90': 'JPEG 2000 Image Compression (Lossless Only)',
  '1.2.840.10008.1.2.4.91': 'JPEG 2000 Image Compression',
  '1.2.840.10008.1.2.4.201': 'High-Throughput JPEG 2000 Image Compression (Lossless Only)',
  '1.2.840.10008.1.2.4.203': 'High-Throughput JPEG 2000 Image Compression',
};

const NATIVE = new Set(['1.2.840.10008.1.2', '1.2.840.10008.1.2.1', '1.2.840.10008.1.2.1.99', '1.2.840.10008.1.2.2']);
const RLE = '1.2.840.10008.1.2.5';

export interface DicomImage {
  file: string;
  transferSyntaxUID: string;
  transferSyntaxName: string;
  littleEndian: boolean;
  implicitVR: boolean;
  compressed: boolean;
  rows: number;
  columns: number;
  numberOfFrames: number;
  samplesPerPixel: number;
  photometricInterpretation: string;
  bitsAllocated: number;
  bitsStored: number;
  highBit: number;
  pixelRepresentation: number;
  /** Absent Rescale Slope → 1, absent Rescale Intercept → 0 (as pydicom's convention in the fixtures). */
  rescaleSlope: number;
  rescaleIntercept: number;
  imagePositionPatient?: number[];
  imageOrientationPatient?: number[];
  pixelSpacing?: number[];
  sliceThickness?: number;
  gridFrameOffsetVector?: number[];
  modality?: string;
  seriesInstanceUID?: string;
  instanceNumber?: number;
  pixelDataLength: number;
  /** Stored pixel values, `[frame][row][column]` row-major (column fastest). */
  pixels: VoxelArray;
  warnings: string[];
  /** String value of any element, by keyword tag 'xGGGGEEEE'. */
  string(tag: string): string | undefined;
}

function numbers(ds: DataSet, tag: string): number[] | undefined {
  const s = ds.string(tag);
  if (s === undefined || s.trim() === '') return undefined;
  return s.split('\\').map((p) => Number(p.trim()));
}

function num(ds: DataSet, tag: string): number | undefined {
  const v = numbers(ds, tag);
  return v ? v[0] : undefined;
}

/** PackBits decoding of one RLE segment (PS3.5 G.3.1). */
function decodeRleSegment(src: Uint8Array, out: Uint8Array, file: string): void {
  let i = 0;
  let o = 0;
  while (o < out.length && i < src.length) {
    const n = (src[i++]! << 24) >> 24;
    if (n >= 0) {
      const len = n + 1;
      if (i + len > src.length)
        throw new FormatError('dicom', file, 'PixelData (RLE segment)', 'literal run past segment end');
      out.set(src.subarray(i, i + Math.min(len, out.length - o)), o);
      i += len;
      o += len;
    } else if (n !== -128) {
      const len = 1 - n;
      out.fill(src[i++]!, o, Math.min(out.length, o + len));
      o += len;
    }
  }
  if (o < out.length)
    throw new FormatError('dicom', file, 'PixelData (RLE segment)', `decoded ${o} of ${out.length} bytes`);
}

/** Decodes one RLE Lossless frame into little-endian bytes of `bytesPerSample` per pixel (1 sample per pixel). */
function decodeRleFrame(frame: Uint8Array, pixels: number, bytesPerSample: number, file: string): Uint8Array {
  const dv = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const nseg = dv.getUint32(0, true);
  if (nseg !== bytesPerSample) {
    throw new FormatError('dicom', file, 'PixelData (RLE header)', `${nseg} segments, expected ${bytesPerSample}`);
  }
  const offsets = Array.from({ length: nseg }, (_, s) => dv.getUint32(4 + 4 * s, true));
  const out = new Uint8Array(pixels * bytesPerSample);
  const seg = new Uint8Array(pixels);
  for (let s = 0; s < nseg; s++) {
    const end = s + 1 < nseg ? offsets[s + 1]! : frame.length;
    decodeRleSegment(frame.subarray(offsets[s]!, end), seg, file);
    // segment 0 holds the most significant bytes
    const byteIndex = bytesPerSample - 1 - s;
    for (let p = 0; p < pixels; p++) out[p * bytesPerSample + byteIndex] = seg[p]!;
  }
  return out;
}

function toPixels(
  raw: Uint8Array,
  le: boolean,
  n: number,
  bitsAllocated: number,
  bitsStored: number,
  signed: boolean,
  file: string,
): VoxelArray {
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const mask = bitsStored >= 32 ? 0xffffffff : 2 ** bitsStored - 1;
  const signBit = 2 ** (bitsStored - 1);
  const fix = (v: number): number => {
    if (bitsStored === bitsAllocated) return v;
    const u = v & mask;
    return signed && u >= signBit ? u - 2 * signBit : u;
  };
  let out: VoxelArray;
  if (bitsAllocated === 8) {
    out = signed ? new Int8Array(n) : new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = fix(raw[i]!);
  } else if (bitsAllocated === 16) {
    out = signed ? new Int16Array(n) : new Uint16Array(n);
    for (let i = 0; i < n; i++) out[i] = fix(dv.getUint16(2 * i, le));
  } else if (bitsAllocated === 32) {
    out = signed ? new Int32Array(n) : new Uint32Array(n);
    for (let i = 0; i < n; i++) out[i] = fix(dv.getUint32(4 * i, le));
  } else {
    throw new UnsupportedError(file, 'BitsAllocated', `${bitsAllocated} is not supported (8, 16 or 32)`);
  }
  return out;
}

/**
 * Parses one DICOM file and decodes its pixels. Errors: not DICOM / unreadable → FormatError; pixel data shorter
 * than Rows × Columns × Frames × BitsAllocated/8 → FormatError naming 'PixelData' and both lengths (pydicom raises
 * a ValueError for the same file); excess padding is dropped with a warning; JPEG family → UnsupportedError.
 */
export function readDicom(input: Uint8Array | ArrayBuffer, options: { name?: string } = {}): DicomImage {
  const file = options.name ?? '<buffer>';
  const bytes = input instanceof Uint8Array ? input : new Uint8Array(input);
  const dp = parserModule();
  const inflater = (arr: Uint8Array, position: number) => {
    // Deflated Explicit VR Little Endian: raw deflate of everything after the file meta group.
    const inflated = inflateSync(arr.subarray(position));
    const full = new Uint8Array(position + inflated.length);
    full.set(arr.subarray(0, position), 0);
    full.set(inflated, position);
    return full;
  };
  const message = (e: unknown) =>
    typeof e === 'string' ? e : e instanceof Error ? e.message : String((e as { exception?: string }).exception ?? e);
  let ds: DataSet;
  try {
    ds = dp.parseDicom(bytes, { inflater } as never);
  } catch (e) {
    // A file cut inside the pixel data still has a readable header: parse up to (7FE0,0010) so the error below can
    // name the PixelData length, as pydicom does.
    try {
      ds = dp.parseDicom(bytes, { inflater, untilTag: 'x7fe00010' } as never);
      if (!ds.elements.x7fe00010) throw e;
    } catch {
      throw new FormatError('dicom', file, 'dataset', `cannot parse: ${message(e)}`);
    }
  }
  const warnings: string[] = [];
  const ts = ds.string('x00020010')?.replace(/\0/g, '').trim() ?? '1.2.840.10008.1.2';
  const tsName = TRANSFER_SYNTAXES[ts] ?? 'unknown';
  const rows = ds.uint16('x00280010');
  const columns = ds.uint16('x00280011');
  if (!rows || !columns) throw new FormatError('dicom', file, 'Rows/Columns', 'missing: the file has no image');
  const bitsAllocated = ds.uint16('x00280100') ?? 16;
  const bitsStored = ds.uint16('x00280101') ?? bitsAllocated;
  const highBit = ds.uint16('x00280102') ?? bitsStored - 1;
  const pixelRepresentation = ds.uint16('x00280103') ?? 0;
  const samplesPerPixel = ds.uint16('x00280002') ?? 1;
  const frames = num(ds, 'x00280008') ?? 1;
  const el = ds.elements.x7fe00010;
  if (!el) throw new FormatError('dicom', file, 'PixelData', 'element (7FE0,0010) is missing');
  const little = ts !== '1.2.840.10008.1.2.2';
  const base = {
    file,
    transferSyntaxUID: ts,
    transferSyntaxName: tsName,
    littleEndian: little,
    implicitVR: ts === '1.2.840.10008.1.2',
    compressed: !NATIVE.has(ts),
    rows,
    columns,
    numberOfFrames: frames,
    samplesPerPixel,
    photometricInterpretation: ds.string('x00280004')?.trim() ?? '',
    bitsAllocated,
    bitsStored,
    highBit,
    pixelRepresentation,
    rescaleSlope: num(ds, 'x00281053') ?? 1,
    rescaleIntercept: num(ds, 'x00281052') ?? 0,
    imagePositionPatient: numbers(ds, 'x00200032'),
    imageOrientationPatient: numbers(ds, 'x00200037'),
    pixelSpacing: numbers(ds, 'x00280030'),
    sliceThickness: num(ds, 'x00180050'),
    gridFrameOffsetVector: numbers(ds, 'x3004000c'),
    modality: ds.string('x00080060')?.trim(),
    seriesInstanceUID: ds.string('x0020000e')?.trim(),
    instanceNumber: num(ds, 'x00200013'),
    // encapsulated data: dicom-parser's length includes the 8-byte sequence delimiter; pydicom's does not
    pixelDataLength: el.hadUndefinedLength ? el.length - 8 : Math.min(el.length, ds.byteArray.length - el.dataOffset),
    warnings,
    string: (tag: string) => ds.string(tag),
  };
  if (samplesPerPixel !== 1) {
    throw new UnsupportedError(
      file,
      'SamplesPerPixel',
      `${samplesPerPixel} (colour) images are not supported; expected 1 (greyscale)`,
    );
  }
  const n = rows * columns * frames;
  const bytesPerSample = bitsAllocated / 8;
  const expected = n * bytesPerSample;
  let raw: Uint8Array;
  if (NATIVE.has(ts)) {
    const available = Math.min(el.length, ds.byteArray.length - el.dataOffset);
    if (available < expected) {
      throw new FormatError(
        'dicom',
        file,
        'PixelData',
        `length ${available} bytes does not match the expected ${expected} bytes (Rows ${rows} × Columns ${columns} × Frames ${frames} × ${bytesPerSample}): truncated or corrupt`,
      );
    }
    if (available > expected) {
      warnings.push(`pixel data has ${available - expected} bytes of excess padding, removed from the end`);
    }
    raw = ds.byteArray.subarray(el.dataOffset, el.dataOffset + expected);
  } else if (ts === RLE) {
    raw = new Uint8Array(expected);
    const fragments = el.fragments ?? [];
    const frameBytes = rows * columns * bytesPerSample;
    for (let f = 0; f < frames; f++) {
      let enc: Uint8Array;
      if (frames === 1) enc = dp.readEncapsulatedPixelDataFromFragments(ds, el, 0, fragments.length) as Uint8Array;
      else if (el.basicOffsetTable && el.basicOffsetTable.length > 0)
        enc = dp.readEncapsulatedImageFrame(ds, el, f) as Uint8Array;
      else if (fragments.length === frames) enc = dp.readEncapsulatedPixelDataFromFragments(ds, el, f, 1) as Uint8Array;
      else
        throw new UnsupportedError(
          file,
          'PixelData',
          'multi-frame RLE without a basic offset table and one fragment per frame',
        );
      // RLE output is little-endian here; reorder to match `toPixels(..., le=true)`
      raw.set(decodeRleFrame(enc, rows * columns, bytesPerSample, file), f * frameBytes);
    }
  } else {
    throw new UnsupportedError(
      file,
      'TransferSyntaxUID',
      `${tsName} (${ts}) is not supported: decode it to an uncompressed or RLE syntax first (for example with dcmdjpeg or gdcmconv --raw)`,
    );
  }
  const pixels = toPixels(
    raw,
    ts === RLE ? true : little,
    n,
    bitsAllocated,
    bitsStored,
    pixelRepresentation === 1,
    file,
  );
  return { ...base, pixels };
}

/** Rescaled values `stored * RescaleSlope + RescaleIntercept` (float64). */
export function dicomRescaled(img: DicomImage): Float64Array {
  const out = new Float64Array(img.pixels.length);
  for (let i = 0; i < out.length; i++) out[i] = img.pixels[i]! * img.rescaleSlope + img.rescaleIntercept;
  return out;
}

function cross(a: number[], b: number[]): number[] {
  return [a[1]! * b[2]! - a[2]! * b[1]!, a[2]! * b[0]! - a[0]! * b[2]!, a[0]! * b[1]! - a[1]! * b[0]!];
}

function dot(a: number[], b: number[]): number {
  return a[0]! * b[0]! + a[1]! * b[1]! + a[2]! * b[2]!;
}

/**
 * Builds a Volume (RAS+ world, like NIfTI) from one multi-frame file or a series of single-frame files. Slices are
 * sorted by Image Position (Patient) projected on the normal row × column of Image Orientation (Patient); slice
 * spacing is the median of successive distances (multi-frame: Grid Frame Offset Vector). DICOM's LPS coordinates
 * are converted to RAS by negating x and y. Voxel order: column fastest, then row, then slice.
 */
export function dicomSeriesToVolume(images: DicomImage[], options: { rescale?: boolean } = {}): Volume<Float32Array> {
  if (images.length === 0) throw new IoArgumentError('images', 'is empty');
  const first = images[0]!;
  for (const im of images) {
    if (im.rows !== first.rows || im.columns !== first.columns) {
      throw new FormatError(
        'dicom',
        im.file,
        'Rows/Columns',
        `${im.rows}×${im.columns} differs from ${first.file} (${first.rows}×${first.columns}) in the same series`,
      );
    }
  }
  const iop = first.imageOrientationPatient ?? [1, 0, 0, 0, 1, 0];
  const rowDir = iop.slice(0, 3);
  const colDir = iop.slice(3, 6);
  const normal = cross(rowDir, colDir);
  const [rowSpacing, colSpacing] = first.pixelSpacing ?? [1, 1];
  type Slice = { pos: number[]; data: VoxelArray; offset: number; img: DicomImage };
  const slices: Slice[] = [];
  const frameLen = first.rows * first.columns;
  for (const im of images) {
    const ipp = im.imagePositionPatient ?? [0, 0, 0];
    for (let f = 0; f < im.numberOfFrames; f++) {
      const gfo = im.gridFrameOffsetVector?.[f] ?? (im.numberOfFrames > 1 ? f * (im.sliceThickness ?? 1) : 0);
      slices.push({ pos: ipp.map((p, i) => p + gfo * normal[i]!), data: im.pixels, offset: f * frameLen, img: im });
    }
  }
  slices.sort((a, b) => dot(a.pos, normal) - dot(b.pos, normal));
  let spacing = first.sliceThickness ?? 1;
  if (slices.length > 1) {
    const d = slices.slice(1).map((s, i) => dot(s.pos, normal) - dot(slices[i]!.pos, normal));
    d.sort((a, b) => a - b);
    const med = d[Math.floor(d.length / 2)]!;
    if (med <= 0)
      throw new FormatError(
        'dicom',
        first.file,
        'ImagePositionPatient',
        'slices share the same position along the normal',
      );
    spacing = med;
  }
  const data = new Float32Array(frameLen * slices.length);
  slices.forEach((s, k) => {
    const slope = options.rescale === false ? 1 : s.img.rescaleSlope;
    const inter = options.rescale === false ? 0 : s.img.rescaleIntercept;
    for (let p = 0; p < frameLen; p++) data[k * frameLen + p] = s.data[s.offset + p]! * slope + inter;
  });
  const origin = slices[0]!.pos;
  const lps: Affine = affineFromGeometry(
    [0, 1, 2].map((r) => [rowDir[r]!, colDir[r]!, normal[r]!]),
    [colSpacing!, rowSpacing!, spacing],
    origin,
  );
  const ras = lps.map((row, r) => (r < 2 ? row.map((v) => -v) : row.slice()));
  return createVolume({
    data,
    shape: [first.columns, first.rows, slices.length],
    affine: ras,
    spacing: [colSpacing!, rowSpacing!, spacing],
    metadata: {
      format: 'dicom',
      modality: first.modality,
      seriesInstanceUID: first.seriesInstanceUID,
      files: images.map((i) => i.file),
    },
  });
}
