/** gzip detection, checked decompression (CRC-32 and ISIZE verified) and compression via fflate. */
import { Gunzip, gunzipSync, gzipSync } from 'fflate';
import { FormatError } from './errors.js';

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

let crcTable: Uint32Array | null = null;

/** CRC-32 (IEEE 802.3, as in gzip RFC 1952). */
export function crc32(bytes: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = crcTable[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** Inflates a gzip member; a truncated or corrupt stream raises a FormatError naming the file. */
export function gunzipChecked(bytes: Uint8Array, file: string): Uint8Array {
  if (bytes.length < 18) throw new FormatError('gzip', file, 'gzip stream', `only ${bytes.length} bytes (truncated)`);
  let out: Uint8Array;
  try {
    out = gunzipSync(bytes);
  } catch (e) {
    throw new FormatError('gzip', file, 'gzip stream', `corrupt or truncated (${(e as Error).message})`);
  }
  const n = bytes.length;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const crc = dv.getUint32(n - 8, true);
  const isize = dv.getUint32(n - 4, true);
  if (isize !== out.length % 2 ** 32) {
    // gunzipSync stops after the first member; multi-member files (pigz --independent, bgzip) go through the
    // streaming inflater, which continues across members. Only the total is known then, so no CRC check.
    const multi = gunzipMembers(bytes);
    if (multi && multi.length > out.length) return multi;
    throw new FormatError(
      'gzip',
      file,
      'gzip ISIZE',
      `trailer says ${isize} bytes, inflated ${out.length} (corrupt data)`,
    );
  }
  if (crc32(out) !== crc) {
    throw new FormatError('gzip', file, 'gzip CRC-32', 'checksum mismatch (corrupt data)');
  }
  return out;
}

function gunzipMembers(bytes: Uint8Array): Uint8Array | null {
  const parts: Uint8Array[] = [];
  try {
    const g = new Gunzip((chunk) => parts.push(chunk));
    g.push(bytes, true);
  } catch {
    return null;
  }
  const total = parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function gzip(bytes: Uint8Array, level: 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 = 6): Uint8Array {
  return gzipSync(bytes, { level });
}
