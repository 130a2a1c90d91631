import { deflateSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { dicomRescaled, dicomSeriesToVolume, readDicom } from './dicom.js';
import { FormatError, UnsupportedError } from './errors.js';
import { axcodes } from './affine.js';
import { expectStats, fixtureBytes, fixtureJson, stats, type Stats } from '../test/helpers.js';

interface DicomReading {
  file: string;
  transfer_syntax_uid: string;
  transfer_syntax_name: string;
  is_little_endian: boolean;
  is_implicit_vr: boolean;
  is_compressed: boolean;
  elements: Record<string, { value: unknown; raw: unknown }>;
  number_of_frames: number;
  pixel_data_element_length_bytes: number;
  pixel_array_warnings: string[];
  pixel_array_readable: boolean;
  pixel_array_error?: { type: string; message: string };
  pixel_array?: { shape: number[]; stats: Stats };
  rescaled?: { slope_used: number; intercept_used: number; stats: Stats };
  dose_scaled?: { stats: Stats };
  pixels?: { index: number[]; value: number; rescaled: number }[];
  first_16_values_row_major?: number[];
}

const index = fixtureJson<{ produced: string[] }>('io/dicom/_index.json');

describe('readDicom reproduces pydicom 2.3.1 readings', () => {
  for (const file of index.produced) {
    const ref = fixtureJson<DicomReading>(`io/dicom/${file.replace('.dcm', '.json')}`);
    const bytes = fixtureBytes(`io/dicom/${file}`);
    if (!ref.pixel_array_readable) {
      it(`${file}: unreadable pixel data raises a FormatError naming PixelData`, () => {
        let err: unknown;
        try {
          readDicom(bytes, { name: file });
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(FormatError);
        expect((err as FormatError).field).toBe('PixelData');
        expect((err as Error).message).toContain(file);
        expect((err as Error).message).toContain(`${ref.pixel_data_element_length_bytes}`);
        expect((err as Error).message).toContain('8192');
      });
      continue;
    }
    it(`${file}: transfer syntax, elements, pixels, rescale`, () => {
      const img = readDicom(bytes, { name: file });
      expect(img.transferSyntaxUID).toBe(ref.transfer_syntax_uid);
      expect(img.transferSyntaxName).toBe(ref.transfer_syntax_name);
      expect(img.littleEndian).toBe(ref.is_little_endian);
      expect(img.implicitVR).toBe(ref.is_implicit_vr);
      expect(img.compressed).toBe(ref.is_compressed);
      const e = ref.elements;
      expect(img.rows).toBe(e.Rows!.value);
      expect(img.columns).toBe(e.Columns!.value);
      expect(img.bitsAllocated).toBe(e.BitsAllocated!.value);
      expect(img.bitsStored).toBe(e.BitsStored!.value);
      expect(img.highBit).toBe(e.HighBit!.value);
      expect(img.pixelRepresentation).toBe(e.PixelRepresentation!.value);
      expect(img.photometricInterpretation).toBe(e.PhotometricInterpretation!.value);
      expect(img.numberOfFrames).toBe(ref.number_of_frames);
      expect(img.pixelDataLength).toBe(ref.pixel_data_element_length_bytes);
      if (e.ImagePositionPatient) expect(img.imagePositionPatient).toEqual(e.ImagePositionPatient.value);
      if (e.ImageOrientationPatient) expect(img.imageOrientationPatient).toEqual(e.ImageOrientationPatient.value);
      if (e.PixelSpacing) expect(img.pixelSpacing).toEqual(e.PixelSpacing.value);
      if (e.SliceThickness) expect(img.sliceThickness).toEqual(e.SliceThickness.value ?? undefined);
      if (e.GridFrameOffsetVector) expect(img.gridFrameOffsetVector).toEqual(e.GridFrameOffsetVector.value);
      expect(img.rescaleSlope).toBe(ref.rescaled!.slope_used);
      expect(img.rescaleIntercept).toBe(ref.rescaled!.intercept_used);
      expect(img.warnings.length).toBe(ref.pixel_array_warnings.length);
      expectStats(stats(img.pixels), ref.pixel_array!.stats, 1e-12, 'pixel_array');
      expectStats(stats(dicomRescaled(img)), ref.rescaled!.stats, 1e-12, 'rescaled');
      expect(Array.from(img.pixels.slice(0, 16))).toEqual(ref.first_16_values_row_major);
      const shape = ref.pixel_array!.shape;
      for (const p of ref.pixels!) {
        const [f, r, c] = p.index.length === 3 ? p.index : [0, ...p.index];
        const i = (f! * shape[shape.length - 2]! + r!) * shape[shape.length - 1]! + c!;
        expect(img.pixels[i], `pixel ${p.index}`).toBe(p.value);
        expect(dicomRescaled(img)[i]).toBe(p.rescaled);
      }
      if (ref.dose_scaled) {
        const scale = Number(img.string('x3004000e'));
        expect(scale).toBe(e.DoseGridScaling!.value);
        expectStats(stats(Array.from(img.pixels, (v) => v * scale)), ref.dose_scaled.stats, 1e-12, 'dose');
      }
    });
  }
});

/** Re-encodes an Explicit VR Little Endian Part-10 file with a new transfer syntax, optionally deflating the body. */
function reencode(bytes: Uint8Array, uid: string, deflate: boolean): Uint8Array {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let off = 132;
  const meta: Uint8Array[] = [];
  while (off < bytes.length && dv.getUint16(off, true) === 0x0002) {
    const elem = dv.getUint16(off + 2, true);
    const vr = String.fromCharCode(bytes[off + 4]!, bytes[off + 5]!);
    const long = ['OB', 'OW', 'UN', 'SQ', 'UT', 'OF'].includes(vr);
    const len = long ? dv.getUint32(off + 8, true) : dv.getUint16(off + 6, true);
    const head = long ? 12 : 8;
    if (elem === 0x0010) {
      const v = uid.length % 2 ? uid + '\0' : uid;
      const el = new Uint8Array(8 + v.length);
      el.set(bytes.subarray(off, off + 6));
      new DataView(el.buffer).setUint16(6, v.length, true);
      for (let i = 0; i < v.length; i++) el[8 + i] = v.charCodeAt(i);
      meta.push(el);
    } else if (elem !== 0x0000) {
      meta.push(bytes.slice(off, off + head + len));
    }
    off += head + len;
  }
  const metaLen = meta.reduce((a, m) => a + m.length, 0);
  const group = new Uint8Array(12);
  group.set([0x02, 0x00, 0x00, 0x00, 0x55, 0x4c, 0x04, 0x00]);
  new DataView(group.buffer).setUint32(8, metaLen, true);
  const body = deflate ? deflateSync(bytes.subarray(off)) : bytes.subarray(off);
  const out = new Uint8Array(132 + 12 + metaLen + body.length);
  out.set(bytes.subarray(0, 132));
  out.set(group, 132);
  let p = 144;
  for (const m of meta) {
    out.set(m, p);
    p += m.length;
  }
  out.set(body, p);
  return out;
}

describe('readDicom: other transfer syntaxes and errors', () => {
  const mr = fixtureBytes('io/dicom/MR_small.dcm');
  const ref = readDicom(mr, { name: 'MR_small.dcm' });
  it('Deflated Explicit VR Little Endian decodes to the same pixels (fflate inflater)', () => {
    const img = readDicom(reencode(mr, '1.2.840.10008.1.2.1.99', true), { name: 'deflated.dcm' });
    expect(img.transferSyntaxName).toBe('Deflated Explicit VR Little Endian');
    expect(Array.from(img.pixels)).toEqual(Array.from(ref.pixels));
  });
  it('JPEG syntaxes raise an UnsupportedError naming the syntax', () => {
    expect(() => readDicom(reencode(mr, '1.2.840.10008.1.2.4.50', false), { name: 'jpeg.dcm' })).toThrowError(
      UnsupportedError,
    );
    expect(() => readDicom(reencode(mr, '1.2.840.10008.1.2.4.90', false), { name: 'jpeg.dcm' })).toThrowError(
      /JPEG 2000.*1\.2\.840\.10008\.1\.2\.4\.90/,
    );
  });
  it('Bits Stored < Bits Allocated: values are masked and sign-extended (PS3.5 8.1.1)', () => {
    const b = mr.slice();
    // (0028,0101) US 2 = 16 in Explicit VR Little Endian → patch to 12 bits
    let at = -1;
    for (let i = 132; i < b.length - 10; i++) {
      if (
        b[i] === 0x28 &&
        b[i + 1] === 0 &&
        b[i + 2] === 0x01 &&
        b[i + 3] === 0x01 &&
        b[i + 4] === 0x55 &&
        b[i + 5] === 0x53
      ) {
        at = i;
        break;
      }
    }
    expect(at).toBeGreaterThan(0);
    b[at + 8] = 12;
    const img = readDicom(b, { name: 'bits12.dcm' });
    expect(img.bitsStored).toBe(12);
    for (let i = 0; i < img.pixels.length; i++) {
      const u = ref.pixels[i]! & 0xfff;
      const expected = u >= 0x800 ? u - 0x1000 : u;
      if (img.pixels[i] !== expected) throw new Error(`pixel ${i}: ${img.pixels[i]} vs ${expected}`);
    }
    expect(ref.pixels.some((v) => v >= 0x800)).toBe(true); // MR_small has values above 2047: sign extension is exercised
  });
  it('not a DICOM file', () => {
    expect(() => readDicom(new Uint8Array(300).fill(7), { name: 'junk.dcm' })).toThrowError(/junk\.dcm/);
  });
});

describe('dicomSeriesToVolume', () => {
  it('multi-frame RT Dose: 10×10×15 volume, 5 mm frame spacing, LPS → RAS affine', () => {
    const img = readDicom(fixtureBytes('io/dicom/rtdose.dcm'), { name: 'rtdose.dcm' });
    const v = dicomSeriesToVolume([img]);
    expect(v.shape).toEqual([10, 10, 15]);
    expect(v.spacing).toEqual([10, 10, 5]);
    expect(v.origin).toEqual([-189.43125, -199.43125, -761.87]);
    expect(axcodes(v.affine)).toEqual(['L', 'P', 'S']);
    // voxel (c, r, f) = pixel_array[f, r, c]
    expect(v.data[(14 * 10 + 0) * 10 + 0]).toBe(1249000);
    expect(v.data[(0 * 10 + 9) * 10 + 0]).toBe(795000);
  });
  it('sorts a shuffled series along the normal and checks consistency', () => {
    const base = readDicom(fixtureBytes('io/dicom/CT_small.dcm'), { name: 'CT_small.dcm' });
    const ipp = base.imagePositionPatient!;
    const iop = base.imageOrientationPatient!;
    const n = [
      iop[1]! * iop[5]! - iop[2]! * iop[4]!,
      iop[2]! * iop[3]! - iop[0]! * iop[5]!,
      iop[0]! * iop[4]! - iop[1]! * iop[3]!,
    ];
    const slices = [2, 0, 1].map((k) => ({
      ...base,
      file: `s${k}.dcm`,
      imagePositionPatient: ipp.map((p, i) => p + 1.5 * k * n[i]!),
      pixels: base.pixels.map((v) => v + 1000 * k),
    }));
    const v = dicomSeriesToVolume(slices);
    expect(v.shape).toEqual([128, 128, 3]);
    expect(v.spacing[2]).toBeCloseTo(1.5, 10);
    for (let k = 0; k < 3; k++) expect(v.data[k * 128 * 128]).toBe(base.pixels[0]! + 1000 * k - 1024);
    expect(() => dicomSeriesToVolume([base, { ...base, rows: 64 }])).toThrowError(/Rows\/Columns/);
  });
});
