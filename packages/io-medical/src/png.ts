/**
 * 8/16-bit greyscale PNG read/write with fast-png (pure JS, Node and browsers), as THOR's slice datasets use
 * (IXI/ATLAS: 8-bit; wrist X-rays: 16-bit). Colour PNGs are converted to luminance with PIL's 'L' weights
 * (299/587/114 per mille), matching `Image.open(p).convert('L')`.
 */
import { convertIndexedToRgb, decode, encode, hasPngSignature } from 'fast-png';
import { FormatError, IoArgumentError, UnsupportedError } from './errors.js';
import type { Image2D } from './image2d.js';

export interface PngImage extends Image2D {
  /** Bit depth on disk (8 or 16). */
  bitDepth: number;
  /** Stored integer values (after colour → grey conversion), row-major. */
  stored: Uint8Array | Uint16Array;
}

export interface ReadPngOptions {
  name?: string;
  /**
   * 'unit' (default): values / (2^bitDepth - 1) in [0, 1], like torchvision `to_tensor` on an 8-bit image.
   * 'raw': stored integer values as floats (THOR's wrist pipeline divides 16-bit values by 65536 itself).
   */
  scale?: 'unit' | 'raw';
}

export function readPng(input: Uint8Array | ArrayBuffer, options: ReadPngOptions = {}): PngImage {
  const name = options.name ?? '<buffer>';
  const bytes = input instanceof Uint8Array ? input : new Uint8Array(input);
  if (!hasPngSignature(bytes))
    throw new FormatError('png', name, 'signature', 'missing PNG signature (not a PNG file)');
  let png;
  try {
    png = decode(bytes);
  } catch (e) {
    throw new FormatError('png', name, 'data', `cannot decode: ${(e as Error).message}`);
  }
  const { width, height } = png;
  let channels = png.channels;
  let data = png.data as Uint8Array | Uint16Array;
  if (png.palette) {
    data = convertIndexedToRgb(png) as Uint8Array;
    channels = data.length / (width * height);
  }
  const depth = png.palette ? 8 : png.depth;
  if (depth !== 8 && depth !== 16) {
    throw new UnsupportedError(name, 'bit depth', `${png.depth}-bit PNGs are not supported (8 or 16)`);
  }
  if (data.length !== width * height * channels) {
    throw new FormatError('png', name, 'data', `decoded ${data.length} samples, expected ${width * height * channels}`);
  }
  const n = width * height;
  const stored = depth === 16 ? new Uint16Array(n) : new Uint8Array(n);
  if (channels <= 2) {
    for (let i = 0; i < n; i++) stored[i] = data[i * channels]!;
  } else {
    // PIL convert('L'): L = R * 299/1000 + G * 587/1000 + B * 114/1000 (rounded)
    for (let i = 0; i < n; i++) {
      const r = data[i * channels]!;
      const g = data[i * channels + 1]!;
      const b = data[i * channels + 2]!;
      stored[i] = Math.round((r * 299 + g * 587 + b * 114) / 1000);
    }
  }
  const max = depth === 16 ? 65535 : 255;
  const out = new Float32Array(n);
  const unit = (options.scale ?? 'unit') === 'unit';
  for (let i = 0; i < n; i++) out[i] = unit ? stored[i]! / max : stored[i]!;
  return { data: out, width, height, bitDepth: depth, stored };
}

export interface WritePngOptions {
  bitDepth?: 8 | 16;
  /** 'unit' (default): data in [0, 1] is scaled to the full integer range; 'raw': data are integer values. */
  scale?: 'unit' | 'raw';
}

/** Encodes a greyscale image; values are clipped to the type range and rounded. */
export function writePng(image: Image2D, options: WritePngOptions = {}): Uint8Array {
  const depth = options.bitDepth ?? 8;
  if (depth !== 8 && depth !== 16) throw new IoArgumentError('bitDepth', `must be 8 or 16, got ${String(depth)}`);
  const { width, height } = image;
  if (image.data.length !== width * height) {
    throw new IoArgumentError('image.data', `length ${image.data.length} ≠ width ${width} × height ${height}`);
  }
  const max = depth === 16 ? 65535 : 255;
  const unit = (options.scale ?? 'unit') === 'unit';
  const data = depth === 16 ? new Uint16Array(width * height) : new Uint8Array(width * height);
  for (let i = 0; i < data.length; i++) {
    const v = unit ? image.data[i]! * max : image.data[i]!;
    data[i] = Math.max(0, Math.min(max, Math.round(Number.isFinite(v) ? v : 0)));
  }
  return encode({ width, height, data, depth, channels: 1 });
}
