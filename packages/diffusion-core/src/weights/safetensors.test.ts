import { describe, expect, it } from 'vitest';
import { readSafetensorsFile } from '@adx/test-utils';
import { readSafetensors, writeSafetensors, halfToFloat } from './safetensors.js';
import { WeightsError } from '../errors.js';

const fixture = (p: string) => new URL(`../../test-fixtures/parity/${p}`, import.meta.url);

describe('safetensors', () => {
  it('reads the official parity weights (F32 and I64)', () => {
    const f = readSafetensorsFile(fixture('thor_unet/io.safetensors'));
    const x = f.tensors.get('x')!;
    expect(x.dtype).toBe('F32');
    expect(x.shape).toEqual([2, 1, 32, 32]);
    const t = f.tensors.get('timesteps')!;
    expect(t.dtype).toBe('I64');
    expect(Array.from(t.data as BigInt64Array, Number)).toEqual([10, 700]);
  });

  it('round-trips every dtype it writes, with metadata and 8-byte header padding', () => {
    const bytes = writeSafetensors(
      {
        b: { shape: [3], data: new Float64Array([1.5, -2, 3e-300]) },
        a: { shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) },
        c: { shape: [2], data: new BigInt64Array([5n, -7n]) },
        d: { shape: [1], data: new Uint8Array([9]) },
      },
      { format: 'pt' },
    );
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const back = readSafetensors(bytes);
    expect(back.metadata).toEqual({ format: 'pt' });
    expect([...back.tensors.keys()]).toEqual(['a', 'b', 'c', 'd']);
    expect(Array.from(back.tensors.get('a')!.data as Float32Array)).toEqual([1, 2, 3, 4]);
    expect(Array.from(back.tensors.get('b')!.data as Float64Array)).toEqual([1.5, -2, 3e-300]);
    expect(Array.from(back.tensors.get('c')!.data as BigInt64Array)).toEqual([5n, -7n]);
    expect(back.tensors.get('d')!.dtype).toBe('U8');
  });

  it('decodes half precision', () => {
    expect(halfToFloat(0x3c00)).toBe(1);
    expect(halfToFloat(0xc000)).toBe(-2);
    expect(halfToFloat(0x0001)).toBe(2 ** -24);
    expect(halfToFloat(0x7c00)).toBe(Infinity);
  });

  it('rejects truncated and corrupt buffers with a WeightsError naming the source', () => {
    expect(() => readSafetensors(new Uint8Array(4), 'w.safetensors')).toThrow(WeightsError);
    const good = writeSafetensors({ a: { shape: [4], data: new Float32Array(4) } });
    expect(() => readSafetensors(good.subarray(0, good.length - 2), 'w.safetensors')).toThrow(
      /w\.safetensors: tensor 'a'/,
    );
    const bad = good.slice();
    bad[8] = 0x7b + 1; // break the JSON
    expect(() => readSafetensors(bad, 'x.st')).toThrow(/x\.st: header is not valid JSON/);
  });
});
