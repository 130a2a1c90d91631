import { describe, expect, it } from 'vitest';
import { formatCsv, parseCsv } from './csv.js';
import {
  memoryFileSource,
  openPngSliceDataset,
  openVolumeDataset,
  splitSubjects,
  type DatasetSlice,
} from './dataset.js';
import { DatasetError, FormatError, IoArgumentError } from './errors.js';
import { readNifti } from './nifti.js';
import { buildPhantomDataset } from './phantom-dataset.js';
import { sameGeometry } from './volume.js';

const collect = async (it: AsyncIterable<DatasetSlice>) => {
  const out: DatasetSlice[] = [];
  for await (const s of it) out.push(s);
  return out;
};

describe('splitSubjects and CSV', () => {
  it('subject-level splits are deterministic, disjoint and complete', () => {
    const ids = Array.from({ length: 10 }, (_, i) => `s${i}`);
    const a = splitSubjects(ids, { train: 0.6, val: 0.2, test: 0.2 }, 1);
    const b = splitSubjects([...ids].reverse(), { train: 0.6, val: 0.2, test: 0.2 }, 1);
    expect(a).toEqual(b);
    expect([a.train.length, a.val.length, a.test.length]).toEqual([6, 2, 2]);
    expect(new Set([...a.train, ...a.val, ...a.test]).size).toBe(10);
    expect(splitSubjects(ids, { train: 0.6, val: 0.2, test: 0.2 }, 2)).not.toEqual(a);
    expect(() => splitSubjects(ids, { train: 0, val: 0, test: 0 })).toThrowError(IoArgumentError);
  });
  it('CSV round trip with quotes, commas and CRLF', () => {
    const rows = [
      { filename: 'a,b.png', label: 1 },
      { filename: 'say "hi".png', label: 0 },
    ];
    const text = formatCsv(rows);
    expect(parseCsv(text)).toEqual(rows.map((r) => ({ filename: r.filename, label: String(r.label) })));
    expect(parseCsv('filename\r\n./png/x.png\r\n')).toEqual([{ filename: './png/x.png' }]);
    expect(() => parseCsv('a\n"open', 'bad.csv')).toThrowError(FormatError);
  });
});

describe('phantom datasets through the real loaders', () => {
  const size: [number, number, number] = [24, 24, 12];
  for (const layout of ['brats', 'atlas', 'mslub', 'ixi'] as const) {
    it(`${layout}: write → load → slices → volume on the original grid`, async () => {
      const files = buildPhantomDataset({ layout, subjects: 3, seed: 1, size });
      expect(files.has('montage.png')).toBe(true);
      const source = memoryFileSource(files);
      const ds = await openVolumeDataset(source, {
        layout,
        preprocess: [
          { op: 'canonical' },
          { op: 'cropOrPad', shape: [28, 28, 12] },
          { op: 'percentile', lower: 1, upper: 99 },
        ],
        split: { train: 1, val: 1, test: 1 },
      });
      expect(ds.subjects.length).toBe(3);
      expect([...ds.splits.train, ...ds.splits.val, ...ds.splits.test].sort()).toEqual(ds.subjects);
      const id = ds.subjects[0]!;
      const subject = await ds.loadSubject(id);
      expect(subject.label).toBe(layout === 'ixi' ? 0 : 1);
      const slices = (await collect(ds.slices({ split: 'all' }))).filter((s) => s.subjectId === id);
      expect(slices.length).toBe(12);
      expect(slices.map((s) => s.sliceIndex)).toEqual(Array.from({ length: 12 }, (_, i) => i));
      for (const s of slices) {
        expect([s.image.width, s.image.height]).toEqual([28, 28]);
        expect(s.label).toBe(s.mask?.data.some((v) => v > 0.5) ? 1 : 0);
        for (const v of s.image.data) expect(v >= 0 && v <= 1).toBe(true);
      }
      if (layout !== 'ixi') expect(slices.some((s) => s.label === 1)).toBe(true);
      // a per-slice "anomaly map" (here the lesion mask itself) goes back onto the scan's own grid
      const maps = slices.map((s) => s.mask ?? s.brainMask!);
      const back = ds.slicesToVolume(subject, maps, { interpolation: 'nearest' });
      expect(sameGeometry(back, subject.raw.image)).toBe(true);
      const ref = layout === 'ixi' ? subject.raw.brainMask! : subject.raw.mask!;
      let diff = 0;
      for (let i = 0; i < back.data.length; i++)
        if ((back.data[i]! > 0.5 ? 1 : 0) !== (ref.data[i]! > 0 ? 1 : 0)) diff++;
      expect(diff).toBe(0);
      // the stored image reads back with the geometry written (int16 + scl_slope: within one quantisation step)
      const path = [...files.keys()].find((k) => k.includes(id) && !/seg|mask/.test(k))!;
      const nii = readNifti(files.get(path)!, { name: path });
      expect(nii.volume.shape).toEqual(size);
      expect(nii.header.datatype).toBe(4);
    });
  }
  it('brats: shuffling is deterministic and per split; skipEmpty drops slices without brain', async () => {
    const ds = await openVolumeDataset(
      memoryFileSource(buildPhantomDataset({ layout: 'brats', subjects: 4, seed: 2, size })),
      {
        layout: 'brats',
        sequence: 'flair',
        split: { train: 0.5, val: 0, test: 0.5 },
        seed: 3,
      },
    );
    const key = (s: DatasetSlice[]) => s.map((x) => `${x.subjectId}:${x.sliceIndex}`);
    const a = key(await collect(ds.slices({ split: 'train', shuffle: true, seed: 9 })));
    const b = key(await collect(ds.slices({ split: 'train', shuffle: true, seed: 9 })));
    const c = key(await collect(ds.slices({ split: 'train', shuffle: true, seed: 10 })));
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    expect(a.every((k) => ds.splits.train.includes(k.split(':')[0]!))).toBe(true);
    const kept = await collect(ds.slices({ split: 'test', skipEmpty: true }));
    expect(kept.every((s) => s.brainMask!.data.some((v) => v > 0))).toBe(true);
    const mid = await collect(ds.slices({ split: 'test', sliceIndices: (d) => [Math.floor(d / 2)] }));
    expect(mid.length).toBe(ds.splits.test.length);
  });
  it('THOR 2-D step: pad + resize slices, restore maps, and stack them back on the scan grid', async () => {
    const ds = await openVolumeDataset(
      memoryFileSource(buildPhantomDataset({ layout: 'atlas', subjects: 1, seed: 6, size: [20, 16, 6] })),
      {
        layout: 'atlas',
      },
    );
    const subject = await ds.loadSubject(ds.subjects[0]!);
    const slices = await collect(ds.slices({ resize: { size: 32 } }));
    expect(slices.length).toBe(6);
    for (const s of slices) {
      expect([s.image.width, s.image.height, s.mask!.width]).toEqual([32, 32, 32]);
      expect(s.restore).toBeDefined();
    }
    const maps = slices.map((s) =>
      s.restore!({ width: 32, height: 32, data: new Float32Array(32 * 32).fill(s.sliceIndex) }),
    );
    expect([maps[0]!.width, maps[0]!.height]).toEqual([20, 16]);
    const back = ds.slicesToVolume(subject, maps, { interpolation: 'nearest' });
    expect(sameGeometry(back, subject.raw.image)).toBe(true);
    expect(back.data[3 * 20 * 16 + 5]).toBeCloseTo(3, 5);
  });
  it('png-slices (THOR layout): CSV splits, masks, labels', async () => {
    const files = buildPhantomDataset({
      layout: 'png-slices',
      subjects: 5,
      seed: 4,
      size: [32, 32, 12],
      pngSize: 32,
      slicesPerSubject: 2,
    });
    const source = memoryFileSource(files);
    const all: DatasetSlice[] = [];
    const seen = new Set<string>();
    for (const split of ['train', 'val', 'test']) {
      const ds = await openPngSliceDataset(source, { split });
      for (const s of ds.subjects) {
        expect(seen.has(s)).toBe(false);
        seen.add(s);
      }
      all.push(...(await collect(ds.slices({ shuffle: true, seed: 1 }))));
    }
    expect(seen.size).toBe(5);
    expect(all.length).toBe(10);
    for (const s of all) {
      expect([s.image.width, s.image.height]).toEqual([32, 32]);
      expect(s.label).toBe(s.mask!.data.some((v) => v > 0) ? 1 : 0);
    }
    // THOR-style single-column CSV + separate mask CSV
    const train = (await openPngSliceDataset(source, { split: 'train' })).entries;
    const thor = new Map(files);
    thor.set('thor.csv', new TextEncoder().encode(formatCsv(train.map((e) => ({ filename: `./${e.filename}` })))));
    thor.set(
      'thor_mask.csv',
      new TextEncoder().encode(formatCsv(train.map((e) => ({ filename: `./${e.maskFilename!}` })))),
    );
    const t = await openPngSliceDataset(memoryFileSource(thor), { csv: 'thor.csv', maskCsv: 'thor_mask.csv' });
    const ts = await collect(t.slices());
    expect(ts.length).toBe(train.length);
    expect(ts.every((s) => s.mask !== undefined)).toBe(true);
  });
  it('ixi: the flat IXI download naming is recognised', async () => {
    const files = buildPhantomDataset({ layout: 'ixi', subjects: 2, seed: 1, size: [12, 12, 4], montage: false });
    const flat = new Map<string, Uint8Array>();
    for (const [k, v] of files)
      if (k.startsWith('t2/')) flat.set(k.replace(/^t2\/(.*)_t2\.nii\.gz$/, '$1-T2.nii.gz'), v);
    const ds = await openVolumeDataset(memoryFileSource(flat), { layout: 'ixi', sequence: 't2' });
    expect(ds.subjects).toEqual(['IXI001-Phantom-1000', 'IXI002-Phantom-1001']);
    const s = await ds.loadSubject(ds.subjects[0]!);
    expect(s.raw.brainMask).toBeUndefined();
    expect(s.label).toBe(0);
  });
  it('atlas: the real nested ATLAS v2.0 tree is discovered', async () => {
    const flat = buildPhantomDataset({ layout: 'atlas', subjects: 2, seed: 1, size: [12, 12, 4], montage: false });
    const nested = new Map<string, Uint8Array>();
    for (const [k, v] of flat) {
      const [id, file] = k.split('/') as [string, string];
      const real = file.replace(`${id}_`, `${id}_ses-1_space-MNI152NLin2009aSym_`);
      nested.set(`ATLAS_2/Training/R001/${id}/ses-1/anat/${real}`, v);
    }
    const ds = await openVolumeDataset(memoryFileSource(nested), { layout: 'atlas' });
    expect(ds.subjects).toEqual(['sub-r001s001', 'sub-r001s002']);
    const s = await ds.loadSubject('sub-r001s002');
    expect(s.raw.mask).toBeDefined();
    expect(s.raw.brainMask).toBeDefined();
    await expect(ds.loadSubject('sub-nope')).rejects.toThrowError(DatasetError);
  });
  it('bad datasets raise DatasetError / IoArgumentError', async () => {
    const empty = memoryFileSource({});
    await expect(openVolumeDataset(empty, { layout: 'brats' })).rejects.toThrowError(DatasetError);
    await expect(openVolumeDataset(empty, { layout: 'atlas', sequence: 'flair' })).rejects.toThrowError(
      IoArgumentError,
    );
    await expect(openPngSliceDataset(empty, { split: 'train' })).rejects.toThrowError(/split CSV not found/);
    const files = buildPhantomDataset({ layout: 'atlas', subjects: 2, seed: 1, size });
    for (const k of [...files.keys()]) if (k.includes('lesion_mask')) files.delete(k);
    const ds = await openVolumeDataset(memoryFileSource(files), { layout: 'atlas' });
    await expect(ds.loadSubject(ds.subjects[0]!)).rejects.toThrowError(/missing lesion mask/);
  });
});
