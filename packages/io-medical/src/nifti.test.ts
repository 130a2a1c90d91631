import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { axcodes, ioOrientation } from './affine.js';
import { FormatError, UnsupportedError } from './errors.js';
import { gzip } from './gzip.js';
import { readNifti, writeNifti } from './nifti.js';
import { createVolume, toCanonical, voxel } from './volume.js';
import {
  expectMatrixNear,
  expectNear,
  expectStats,
  fixtureBytes,
  fixtureJson,
  fixtureUrl,
  stats,
  type Stats,
} from '../test/helpers.js';

interface NiftiReading {
  file: string;
  nifti_version: number;
  shape: number[];
  on_disk_dtype: string;
  endianness: string;
  zooms: number[];
  header_on_disk: Record<string, unknown>;
  extensions: { ecode: number; esize_on_disk: number }[];
  data_offset_bytes: number;
  scaling_applied_by_nibabel: { slope: number; inter: number };
  qform_affine: number[][] | null;
  sform_affine: number[][] | null;
  affine: number[][];
  affine_source: string;
  axcodes: string[];
  stored_value_stats: Stats;
  scaled_float64_stats: Stats;
  first_16_stored_values_in_file_order: number[];
  voxels: { index: number[]; stored: number; scaled: number }[];
  canonical_ras: {
    io_orientation: number[][];
    shape: number[];
    affine: number[][];
    axcodes: string[];
    scaled_float64_stats: Stats;
    voxels: { index: number[]; scaled: number }[];
  };
}

const dir = fixtureUrl('io/nifti/');
const readings = readdirSync(dir)
  .filter((f) => f.endsWith('.json') && !f.startsWith('_'))
  .map((f) => fixtureJson<NiftiReading>(`io/nifti/${f}`));

const HEADER_FIELDS = [
  'sizeof_hdr',
  'magic',
  'datatype',
  'bitpix',
  'dim',
  'pixdim',
  'vox_offset',
  'scl_slope',
  'scl_inter',
  'cal_min',
  'cal_max',
  'intent_code',
  'slice_code',
  'dim_info',
  'qform_code',
  'sform_code',
  'quatern_b',
  'quatern_c',
  'quatern_d',
  'qoffset_x',
  'qoffset_y',
  'qoffset_z',
  'srow_x',
  'srow_y',
  'srow_z',
  'xyzt_units',
  'descrip',
] as const;

describe('readNifti reproduces nibabel 5.0 readings', () => {
  expect(readings.length).toBe(11);
  for (const ref of readings) {
    describe(ref.file, () => {
      const img = readNifti(fixtureBytes(`io/nifti/${ref.file}`), { name: ref.file, precision: 'float64' });
      it('header fields, extensions, dtype, byte order, offset', () => {
        const h = img.header as unknown as Record<string, unknown>;
        for (const f of HEADER_FIELDS) expect(h[f], f).toEqual(ref.header_on_disk[f]);
        expect(img.header.version).toBe(ref.nifti_version);
        expect(img.header.littleEndian).toBe(ref.endianness === 'little');
        expect(img.volume.metadata.onDiskDatatype).toBe(ref.on_disk_dtype);
        expect(img.header.extensions.map((e) => ({ ecode: e.ecode, esize_on_disk: e.esize }))).toEqual(ref.extensions);
        expect(Math.floor(img.header.vox_offset)).toBe(ref.data_offset_bytes);
        expect(img.scaling).toEqual(
          ref.scaling_applied_by_nibabel.slope === 1 && ref.scaling_applied_by_nibabel.inter === 0
            ? { slope: 1, inter: 0 }
            : { slope: ref.scaling_applied_by_nibabel.slope, inter: ref.scaling_applied_by_nibabel.inter },
        );
      });
      it('shape, zooms, affines, axcodes', () => {
        expect(img.volume.shape).toEqual(ref.shape);
        expect(img.volume.spacing).toEqual(ref.zooms);
        // nibabel returns None for a qform / sform whose code is 0
        if (ref.qform_affine) expectMatrixNear(img.qformAffine, ref.qform_affine, 1e-9, 'qform');
        else expect(img.header.qform_code).toBe(0);
        if (ref.sform_affine) expect(img.sformAffine).toEqual(ref.sform_affine);
        else expect(img.header.sform_code).toBe(0);
        expect(img.volume.affine).toEqual(ref.affine_source === 'qform' ? img.qformAffine : ref.affine);
        expectMatrixNear(img.volume.affine, ref.affine, 1e-9, 'affine');
        expect(img.affineSource).toBe(ref.affine_source);
        expect(axcodes(img.volume.affine)).toEqual(ref.axcodes);
      });
      it('stored and scaled statistics, voxels, file order', () => {
        expectStats(stats(img.stored), ref.stored_value_stats, 1e-12, 'stored');
        expectStats(stats(img.volume.data), ref.scaled_float64_stats, 1e-11, 'scaled');
        expect(Array.from(img.stored.slice(0, 16))).toEqual(ref.first_16_stored_values_in_file_order);
        for (const v of ref.voxels) {
          expect(voxel({ ...img.volume, data: img.stored }, v.index), `stored ${v.index}`).toBe(v.stored);
          expectNear(voxel(img.volume, v.index), v.scaled, 1e-15, 0, `scaled ${v.index}`);
        }
      });
      it('canonical RAS (as_closest_canonical)', () => {
        const c = ref.canonical_ras;
        expect(ioOrientation(img.volume.affine)).toEqual(c.io_orientation);
        const can = toCanonical(img.volume);
        expect(can.shape).toEqual(c.shape);
        expectMatrixNear(can.affine, c.affine, 1e-9, 'canonical affine');
        expect(axcodes(can.affine)).toEqual(c.axcodes);
        expectStats(stats(can.data), c.scaled_float64_stats, 1e-11, 'canonical');
        for (const v of c.voxels) expectNear(voxel(can, v.index), v.scaled, 1e-15, 0, `canonical ${v.index}`);
      });
    });
  }
});

describe('writeNifti round trips', () => {
  const ref = readNifti(fixtureBytes('io/nifti/synthetic_float32_4x5x6.nii'));
  it('float32, gzip and plain, keeps data, affine, zooms and codes', () => {
    for (const gz of [false, true]) {
      const bytes = writeNifti(ref.volume, { gzip: gz });
      const back = readNifti(bytes, { name: 'rt.nii' });
      expect(back.volume.shape).toEqual(ref.volume.shape);
      expect(Array.from(back.volume.data)).toEqual(Array.from(ref.volume.data));
      expect(back.volume.affine).toEqual(ref.volume.affine);
      expect(back.volume.spacing).toEqual(ref.volume.spacing);
      expect(back.header.sform_code).toBe(2);
      expect(back.header.qform_code).toBe(1);
      // the qform written from the affine describes the same geometry (float32 quaternion precision)
      expectMatrixNear(back.qformAffine, ref.volume.affine, 1e-5, 'written qform');
    }
  });
  it('int16 and uint8 with automatic scl_slope/scl_inter', () => {
    const data = new Float32Array(4 * 5 * 6).map((_, i) => i * 0.37 - 5);
    const v = createVolume({ data, shape: [4, 5, 6], spacing: [1, 2, 3], origin: [1, 2, 3] });
    const i16 = readNifti(writeNifti(v, { dataType: 'int16' }));
    const u8 = readNifti(writeNifti(v, { dataType: 'uint8' }));
    expect(i16.header.datatype).toBe(4);
    expect(u8.header.datatype).toBe(2);
    const range = 119 * 0.37;
    for (let i = 0; i < data.length; i++) {
      expectNear(i16.volume.data[i]!, data[i]!, 0, range / 65535 + 1e-5);
      expectNear(u8.volume.data[i]!, data[i]!, 0, range / 255 + 1e-5);
    }
    expect(i16.volume.affine).toEqual(v.affine);
    const ints = createVolume({ data: new Float32Array([0, 1, 2, 255, 3, 4]), shape: [3, 2, 1] });
    const exact = readNifti(writeNifti(ints, { dataType: 'uint8' }));
    expect(exact.header.scl_slope).toBe(1);
    expect(Array.from(exact.stored)).toEqual([0, 1, 2, 255, 3, 4]);
  });
  it('oblique LPS affine with negative determinant survives (qfac -1)', () => {
    const affine = [
      [-0.9, 0.1, 0, 10],
      [-0.1, -0.9, 0, 20],
      [0, 0, 2.5, -5],
      [0, 0, 0, 1],
    ];
    const v = createVolume({ data: new Float32Array(8), shape: [2, 2, 2], affine });
    const back = readNifti(writeNifti(v, { qformCode: 1, sformCode: 0 }));
    expect(back.affineSource).toBe('qform');
    expectMatrixNear(back.volume.affine, affine, 1e-5, 'qform-only affine');
  });
});

describe('gzip variants', () => {
  it('multi-member gzip (pigz --independent, bgzip) reads the whole file', () => {
    const plain = fixtureBytes('io/nifti/synthetic_float32_4x5x6.nii');
    const multi = new Uint8Array([...gzip(plain.subarray(0, 300)), ...gzip(plain.subarray(300))]);
    const a = readNifti(multi, { name: 'multi.nii.gz' });
    const b = readNifti(plain);
    expect(Array.from(a.volume.data)).toEqual(Array.from(b.volume.data));
  });
});

describe('readNifti rejects bad input with typed errors', () => {
  const good = fixtureBytes('io/nifti/synthetic_float32_4x5x6.nii');
  const gz = fixtureBytes('io/nifti/synthetic_float32_4x5x6.nii.gz');
  const expectErr = (bytes: Uint8Array, cls: typeof FormatError | typeof UnsupportedError, field: RegExp) => {
    let err: unknown;
    try {
      readNifti(bytes, { name: 'bad.nii' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(cls);
    expect((err as Error).message).toContain('bad.nii');
    expect((err as FormatError).field).toMatch(field);
  };
  it('wrong sizeof_hdr / magic', () => {
    const a = good.slice();
    a[0] = 1;
    expectErr(a, FormatError, /sizeof_hdr/);
    const b = good.slice();
    b[345] = 'x'.charCodeAt(0);
    expectErr(b, FormatError, /magic/);
  });
  it('truncated data and truncated header', () => {
    expectErr(good.slice(0, good.length - 10), FormatError, /data/);
    expectErr(good.slice(0, 200), FormatError, /header/);
  });
  it('truncated and corrupt gzip', () => {
    expectErr(gz.slice(0, gz.length - 30), FormatError, /gzip/);
    const c = gz.slice();
    c[c.length - 6] ^= 0xff; // CRC byte
    expectErr(c, FormatError, /gzip/);
  });
  it('inconsistent dims and unsupported datatype', () => {
    const a = good.slice();
    new DataView(a.buffer).setInt16(40, 9, true);
    expectErr(a, FormatError, /dim\[0\]/);
    const b = good.slice();
    new DataView(b.buffer).setInt16(44, 0, true);
    expectErr(b, FormatError, /dim\[2\]/);
    const c = good.slice();
    new DataView(c.buffer).setInt16(70, 128, true);
    expectErr(c, UnsupportedError, /datatype/);
    expectErr(gzip(c), UnsupportedError, /datatype/);
  });
});
