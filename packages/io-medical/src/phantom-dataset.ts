/**
 * Writes phantom subjects in the on-disk layouts of the real datasets (see dataset.ts), as an in-memory map of
 * relative path → bytes. `writeDataset` in `@adx/io-medical/node` puts the same files on disk; `memoryFileSource`
 * serves them in a browser. The real loaders then run unchanged on the phantom.
 */
import { formatCsv } from './csv.js';
import { IoArgumentError } from './errors.js';
import { writeNifti } from './nifti.js';
import { generatePhantomVolume, montage, type Contrast, type LesionType, type PhantomVolume } from './phantom.js';
import { writePng } from './png.js';
import { extractSlice, percentile, prepareSlice } from './preprocess.js';
import { layoutPaths, splitSubjects, type DatasetLayout, type SplitFractions } from './dataset.js';
import { createVolume, type Volume } from './volume.js';

export interface PhantomDatasetOptions {
  layout: DatasetLayout;
  /** Number of subjects (default 6). */
  subjects?: number;
  seed?: number | string;
  /** Volume size (default [64, 64, 40]). */
  size?: [number, number, number];
  /** Fraction of healthy subjects in the lesion layouts (default 0; IXI is always healthy). */
  healthyFraction?: number;
  /** png-slices: output size (default 128), slices per subject around the middle (default 1) and split fractions. */
  pngSize?: number;
  slicesPerSubject?: number;
  split?: SplitFractions;
  /** png-slices: lesion type of the diseased subjects (default 'stroke', as ATLAS). */
  lesionType?: LesionType;
  /** Also write `montage.png`: the middle axial slice of every subject next to its lesion mask (default true). */
  montage?: boolean;
}

const LAYOUT_LESION: Record<string, LesionType | null> = { ixi: null, brats: 'tumour', atlas: 'stroke', mslub: 'ms' };

function subjectId(layout: DatasetLayout, i: number): string {
  const n = String(i + 1).padStart(3, '0');
  switch (layout) {
    case 'ixi':
      return `IXI${n}-Phantom-${1000 + i}`;
    case 'brats':
      return `BraTS2021_${String(i).padStart(5, '0')}`;
    case 'atlas':
      return `sub-r001s${n}`;
    case 'mslub':
      return `patient${String(i + 1).padStart(2, '0')}`;
    default:
      return `phantom${n}`;
  }
}

export function buildPhantomDataset(options: PhantomDatasetOptions): Map<string, Uint8Array> {
  const { layout } = options;
  const n = options.subjects ?? 6;
  if (!(Number.isInteger(n) && n >= 1)) throw new IoArgumentError('subjects', `must be a positive integer, got ${n}`);
  const size = options.size ?? [64, 64, 40];
  const seed = options.seed ?? 0;
  const files = new Map<string, Uint8Array>();
  const nii = (v: Volume, dataType: 'float32' | 'int16' | 'uint8' = 'float32') =>
    writeNifti(v, { gzip: true, dataType, sformCode: 1, qformCode: 1 });
  const name = (p: string) => p;
  const healthyCount = layout === 'ixi' ? n : Math.round((options.healthyFraction ?? 0) * n);
  const subjects: { id: string; vol: PhantomVolume }[] = [];
  for (let i = 0; i < n; i++) {
    const id = subjectId(layout, i);
    const lesion = layout === 'png-slices' ? (options.lesionType ?? 'stroke') : LAYOUT_LESION[layout];
    const healthy = i < healthyCount || !lesion;
    const contrasts: Contrast[] =
      layout === 'brats'
        ? ['t1', 't1ce', 't2', 'flair']
        : layout === 'atlas' || layout === 'png-slices'
          ? ['t1']
          : layout === 'ixi'
            ? ['t1', 't2']
            : ['t1', 't2', 'flair'];
    const vol = generatePhantomVolume({
      size,
      seed: `${String(seed)}/${layout}/${id}`,
      contrasts,
      lesions: healthy ? 'none' : [lesion!],
      skullStrip: layout !== 'atlas' && layout !== 'png-slices',
      intensityScale: 1000 * (0.8 + 0.4 * ((i * 0.618) % 1)),
    });
    subjects.push({ id, vol });
  }
  if (options.montage ?? true) {
    const tiles = subjects.flatMap(({ vol }) => {
      const k = Math.floor(size[2] / 2);
      return [extractSlice(vol.image, k, { flipVertical: true }), extractSlice(vol.mask, k, { flipVertical: true })];
    });
    files.set('montage.png', writePng(montage(tiles, 2 * Math.min(4, subjects.length))));
  }
  if (layout === 'png-slices') {
    const pngSize = options.pngSize ?? 128;
    const per = options.slicesPerSubject ?? 1;
    const records: Record<string, string | number>[] = [];
    for (const { id, vol } of subjects) {
      const mid = Math.floor(size[2] / 2);
      for (let s = 0; s < per; s++) {
        const k = Math.min(size[2] - 1, Math.max(0, mid - Math.floor(per / 2) + s));
        const img = extractSlice(vol.image, k, { flipVertical: true });
        const brain = extractSlice(vol.brainMask, k, { flipVertical: true });
        const mask = extractSlice(vol.mask, k, { flipVertical: true });
        // per-slice 98th percentile of brain voxels → 1 (clipped), as users of THOR's ATLAS data report
        const inBrain = img.data.filter((_, p) => brain.data[p]! > 0);
        const p98 = inBrain.length ? percentile(inBrain, 98) : 1;
        const norm = { ...img, data: img.data.map((v) => Math.min(1, v / (p98 || 1))) };
        const x = prepareSlice(norm, { size: pngSize, padValue: 0 }).image;
        const m = prepareSlice(mask, { size: pngSize, padValue: 0, interpolation: 'nearest' }).image;
        const fname = `png/${id}_slice${k}.png`;
        const mname = `masks/${id}_slice${k}.png`;
        files.set(fname, writePng(x));
        files.set(mname, writePng(m));
        records.push({
          filename: fname,
          mask_filename: mname,
          label: m.data.some((v) => v > 0.5) ? 1 : 0,
          subject_id: id,
          slice_index: k,
        });
      }
    }
    const splits = splitSubjects(
      subjects.map((s) => s.id),
      options.split ?? { train: 0.6, val: 0.2, test: 0.2 },
      seed,
    );
    for (const [split, ids] of Object.entries(splits)) {
      const set = new Set(ids);
      files.set(
        `splits/${split}.csv`,
        new TextEncoder().encode(
          formatCsv(
            records.filter((r) => set.has(String(r.subject_id))),
            ['filename', 'mask_filename', 'label', 'subject_id', 'slice_index'],
          ),
        ),
      );
    }
    return files;
  }
  for (const { id, vol } of subjects) {
    const seqs: Record<string, Volume | undefined> =
      layout === 'brats'
        ? { t1: vol.contrasts.t1, t1ce: vol.contrasts.t1ce, t2: vol.contrasts.t2, flair: vol.contrasts.flair }
        : layout === 'atlas'
          ? { t1: vol.contrasts.t1 }
          : layout === 'ixi'
            ? { t1: vol.contrasts.t1, t2: vol.contrasts.t2 }
            : { t1: vol.contrasts.t1, t2: vol.contrasts.t2, flair: vol.contrasts.flair };
    for (const [seq, v] of Object.entries(seqs)) files.set(name(layoutPaths(layout, id, seq).image), nii(v!, 'int16'));
    const paths = layoutPaths(layout, id, Object.keys(seqs)[0]!);
    if (paths.mask) {
      // BraTS keeps the multi-label segmentation (1 necrotic core, 2 oedema); the others a binary lesion mask
      const seg = layout === 'brats' ? vol.seg : vol.mask;
      files.set(name(paths.mask), nii(createVolume({ data: seg.data, shape: seg.shape, affine: seg.affine }), 'uint8'));
    }
    if (paths.brainMask && layout !== 'brats') files.set(name(paths.brainMask), nii(vol.brainMask, 'uint8'));
  }
  return files;
}
