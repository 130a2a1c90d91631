import { copyFile, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import {
  brainMaskFromNonzero,
  createVolume,
  extractSlices,
  mapToOriginal,
  preprocessSubject,
  stackSlices,
  generatePhantomVolume,
  nodeFileSource,
  openVolumeDataset,
  readDicomSeriesDir,
  readNiftiFile,
  readPngFile,
  sameGeometry,
  writeDataset,
  writeFileAtomic,
  writeNiftiFile,
  writePngFile,
} from './node.js';
import { fixtureUrl } from '../test/helpers.js';

const dirs: string[] = [];
const tmp = async () => {
  const d = await mkdtemp(join(tmpdir(), 'adx-io-'));
  dirs.push(d);
  return d;
};
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('node entry', () => {
  it('atomic writes leave no temporary files and replace existing content', async () => {
    const d = await tmp();
    const p = join(d, 'sub', 'a.txt');
    await writeFileAtomic(p, 'one');
    await writeFileAtomic(p, 'two');
    expect(await readdir(join(d, 'sub'))).toEqual(['a.txt']);
  });
  it('NIfTI and PNG files: write → read with gzip chosen by extension', async () => {
    const d = await tmp();
    const p = generatePhantomVolume({ size: [16, 16, 8], seed: 1, contrasts: ['t1'] });
    await writeNiftiFile(join(d, 'x.nii.gz'), p.image);
    await writeNiftiFile(join(d, 'x.nii'), p.image);
    const a = await readNiftiFile(join(d, 'x.nii.gz'));
    const b = await readNiftiFile(join(d, 'x.nii'));
    expect(a.volume.data).toEqual(p.image.data);
    expect(b.volume.data).toEqual(p.image.data);
    expect(sameGeometry(a.volume, p.image)).toBe(true);
    await writePngFile(join(d, 'x.png'), { width: 2, height: 1, data: new Float32Array([0, 1]) });
    expect(Array.from((await readPngFile(join(d, 'x.png'))).stored)).toEqual([0, 255]);
    await expect(readNiftiFile(join(d, 'x.png'))).rejects.toThrowError(/x\.png: sizeof_hdr/);
  });
  it('DICOM folder → one volume per series; non-DICOM files are skipped', async () => {
    const d = await tmp();
    await copyFile(fileURLToPath(fixtureUrl('io/dicom/CT_small.dcm')), join(d, 'ct.dcm'));
    await writeFile(join(d, 'notes.txt'), 'not dicom');
    const series = await readDicomSeriesDir(d);
    expect(series.size).toBe(1);
    const v = [...series.values()][0]!;
    expect(v.shape).toEqual([128, 128, 1]);
  });
  it('README example: NIfTI → declared slice pipeline → map written back on the scan grid', async () => {
    const d = await tmp();
    const scan = join(d, 'scan.nii.gz');
    await writeNiftiFile(
      scan,
      generatePhantomVolume({ seed: 1, size: [32, 32, 20], contrasts: ['t2'], skullStrip: true }).image,
    );
    const { volume } = await readNiftiFile(scan);
    const subject = preprocessSubject({ image: volume, brainMask: brainMaskFromNonzero(volume) }, [
      { op: 'canonical' },
      { op: 'resample', spacing: [8, 8, 8] },
      { op: 'cropOrPad', shape: [24, 24, 12] },
      { op: 'percentile', lower: 1, upper: 99 },
    ]);
    const slices = extractSlices(subject.image, { axis: 2 });
    expect(slices.length).toBe(12);
    const maps = slices.map((s) => ({ ...s, data: s.data.map((v) => Math.abs(v - 0.5)) }));
    const map = mapToOriginal(stackSlices(maps, subject.image), subject);
    await writeNiftiFile(join(d, 'anomaly-map.nii.gz'), map);
    const back = await readNiftiFile(join(d, 'anomaly-map.nii.gz'));
    expect(sameGeometry(back.volume, volume)).toBe(true);
    expect(back.volume.data.some((v) => v > 0)).toBe(true);
  });
  it('writeDataset(brats) on disk runs through the real loader via nodeFileSource', async () => {
    const d = await tmp();
    const paths = await writeDataset(d, { layout: 'brats', subjects: 2, seed: 5, size: [16, 16, 8] });
    expect(paths).toContain('BraTS2021_00000/BraTS2021_00000_seg.nii.gz');
    const ds = await openVolumeDataset(nodeFileSource(d), { layout: 'brats', sequence: 't1ce' });
    expect(ds.subjects).toEqual(['BraTS2021_00000', 'BraTS2021_00001']);
    const s = await ds.loadSubject(ds.subjects[1]!);
    expect(s.label).toBe(1);
    expect(
      createVolume({ data: s.raw.image.data, shape: s.raw.image.shape, affine: s.raw.image.affine }).shape,
    ).toEqual([16, 16, 8]);
  });
});
