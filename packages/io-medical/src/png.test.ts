import { encode } from 'fast-png';
import { describe, expect, it } from 'vitest';
import { FormatError, UnsupportedError } from './errors.js';
import { readPng, writePng } from './png.js';

describe('PNG greyscale I/O', () => {
  const img = { width: 5, height: 3, data: Float32Array.from({ length: 15 }, (_, i) => i / 14) };
  it('8-bit round trip: value = round(v · 255) / 255', () => {
    const back = readPng(writePng(img), { name: 'a.png' });
    expect(back.bitDepth).toBe(8);
    expect([back.width, back.height]).toEqual([5, 3]);
    for (let i = 0; i < 15; i++) expect(back.stored[i]).toBe(Math.round((i / 14) * 255));
    for (let i = 0; i < 15; i++) expect(back.data[i]).toBeCloseTo(Math.round((i / 14) * 255) / 255, 7);
  });
  it('16-bit round trip and raw scale', () => {
    const back = readPng(writePng(img, { bitDepth: 16 }));
    expect(back.bitDepth).toBe(16);
    for (let i = 0; i < 15; i++) expect(back.stored[i]).toBe(Math.round((i / 14) * 65535));
    const raw = readPng(
      writePng({ width: 2, height: 1, data: new Float32Array([1000, 65535]) }, { bitDepth: 16, scale: 'raw' }),
      { scale: 'raw' },
    );
    expect(Array.from(raw.data)).toEqual([1000, 65535]);
  });
  it('clips out-of-range values', () => {
    const back = readPng(writePng({ width: 3, height: 1, data: new Float32Array([-1, 0.5, 7]) }));
    expect(Array.from(back.stored)).toEqual([0, 128, 255]);
  });
  it('RGB is converted to luminance with PIL L weights', () => {
    const rgb = encode({ width: 2, height: 1, channels: 3, depth: 8, data: new Uint8Array([255, 0, 0, 10, 200, 30]) });
    const back = readPng(rgb);
    // PIL: L = R·299/1000 + G·587/1000 + B·114/1000
    expect(Array.from(back.stored)).toEqual([
      Math.round(255 * 0.299),
      Math.round((10 * 299 + 200 * 587 + 30 * 114) / 1000),
    ]);
  });
  it('bad input: signature, corrupt data, bit depth', () => {
    expect(() => readPng(new Uint8Array(20), { name: 'x.png' })).toThrowError(FormatError);
    const good = writePng(img);
    const cut = good.slice(0, 40);
    expect(() => readPng(cut, { name: 'cut.png' })).toThrowError(/cut\.png/);
    const one = encode({ width: 8, height: 1, channels: 1, depth: 1, data: new Uint8Array([0b10101010]) });
    expect(() => readPng(one, { name: 'bw.png' })).toThrowError(UnsupportedError);
  });
});
