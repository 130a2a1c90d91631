/**
 * Dataset layouts and loaders. A `FileSource` abstracts where files come from (Node file system via
 * `@adx/io-medical/node`, an in-memory map in browsers and tests), so the same loaders run everywhere.
 *
 * Layouts (paths relative to the dataset root):
 * - `ixi`   : `{t1,t2}/<id>_<seq>.nii.gz`, `mask/<id>_mask.nii.gz` (Behrendt et al.'s preprocessed `Train/ixi`); healthy.
 *             The flat IXI download (`IXI002-Guys-0828-T2.nii.gz`, no masks) is recognised too.
 * - `brats` : `<id>/<id>_{t1,t1ce,t2,flair,seg}.nii.gz` (BraTS 2020/2021 folders); skull-stripped, brain mask =
 *             nonzero voxels of the image unless `<id>/<id>_mask.nii.gz` exists; weak slice labels from `seg > 0`.
 * - `atlas` : `<id>/<id>_T1w.nii.gz`, `<id>/<id>_label-L_desc-T1lesion_mask.nii.gz` (ATLAS v2.0 naming), optional
 *             `<id>/<id>_desc-brain_mask.nii.gz`; the real nested ATLAS v2.0 tree
 *             (`R001/sub-r001s001/ses-1/anat/sub-r001s001_ses-1_space-MNI152NLin2009aSym_T1w.nii.gz`) is found too.
 * - `mslub` : `{t1,t2,flair}/<id>_<seq>.nii.gz`, `seg/<id>_seg.nii.gz`, `mask/<id>_mask.nii.gz` (Behrendt's `Test/MSLUB`).
 * - `png-slices`: THOR's layout: `png/<name>.png`, optional `masks/<name>.png`, and `splits/<split>.csv` with a
 *             `filename` column (paths relative to the root) and optional `mask_filename`, `label`, `subject_id`,
 *             `slice_index` columns.
 */
import { parseCsv } from './csv.js';
import { DatasetError, IoArgumentError } from './errors.js';
import type { Image2D } from './image2d.js';
import { readNifti } from './nifti.js';
import { readPng } from './png.js';
import {
  brainMaskFromNonzero,
  extractSlice,
  mapToOriginal,
  prepareSlice,
  preprocessSubject,
  stackSlices,
  type PreprocessStep,
  type PreprocessedSubject,
} from './preprocess.js';
import { createRng, shuffled } from './rng.js';
import type { Volume } from './volume.js';

export interface FileSource {
  readFile(path: string): Promise<Uint8Array>;
  /** Names (not paths) of the entries of a folder; [] when it does not exist. */
  listDir(path: string): Promise<string[]>;
  exists(path: string): Promise<boolean>;
}

/** A FileSource over an in-memory map of relative paths → bytes (browser uploads, tests, `buildPhantomDataset`). */
export function memoryFileSource(files: Map<string, Uint8Array> | Record<string, Uint8Array>): FileSource {
  const map = files instanceof Map ? files : new Map(Object.entries(files));
  const norm = (p: string) => p.replace(/^\.\//, '').replace(/\/+$/, '');
  return {
    async readFile(path) {
      const b = map.get(norm(path));
      if (!b) throw new DatasetError(path, 'file not found');
      return b;
    },
    async listDir(path) {
      const prefix = norm(path) === '' ? '' : `${norm(path)}/`;
      const names = new Set<string>();
      for (const k of map.keys()) if (k.startsWith(prefix)) names.add(k.slice(prefix.length).split('/')[0]!);
      return [...names].sort();
    },
    async exists(path) {
      const p = norm(path);
      if (map.has(p)) return true;
      for (const k of map.keys()) if (k.startsWith(`${p}/`)) return true;
      return false;
    },
  };
}

export type VolumeLayout = 'ixi' | 'brats' | 'atlas' | 'mslub';
export type DatasetLayout = VolumeLayout | 'png-slices';

/** Sequences available per layout (the first is the default). */
export const LAYOUT_SEQUENCES: Record<VolumeLayout, string[]> = {
  ixi: ['t2', 't1'],
  brats: ['t2', 't1', 't1ce', 'flair'],
  atlas: ['t1'],
  mslub: ['t2', 't1', 'flair'],
};

/** The files of one subject in a dataset layout (image; lesion mask and brain mask where the layout has them). */
export interface SubjectFiles {
  image: string;
  mask?: string;
  brainMask?: string;
}

/** Paths of a subject's files in a layout. */
export function layoutPaths(layout: VolumeLayout, id: string, sequence: string): SubjectFiles {
  switch (layout) {
    case 'ixi':
      return { image: `${sequence}/${id}_${sequence}.nii.gz`, brainMask: `mask/${id}_mask.nii.gz` };
    case 'brats':
      return {
        image: `${id}/${id}_${sequence}.nii.gz`,
        mask: `${id}/${id}_seg.nii.gz`,
        brainMask: `${id}/${id}_mask.nii.gz`,
      };
    case 'atlas':
      return {
        image: `${id}/${id}_T1w.nii.gz`,
        mask: `${id}/${id}_label-L_desc-T1lesion_mask.nii.gz`,
        brainMask: `${id}/${id}_desc-brain_mask.nii.gz`,
      };
    case 'mslub':
      return {
        image: `${sequence}/${id}_${sequence}.nii.gz`,
        mask: `seg/${id}_seg.nii.gz`,
        brainMask: `mask/${id}_mask.nii.gz`,
      };
  }
}

/** Finds files whose name ends with `suffix` up to `depth` folders below `dir` (relative paths, sorted). */
async function walk(source: FileSource, dir: string, suffix: string, depth: number): Promise<string[]> {
  const out: string[] = [];
  for (const name of await source.listDir(dir)) {
    const path = dir ? `${dir}/${name}` : name;
    if (name.endsWith(suffix)) out.push(path);
    else if (depth > 0 && !name.includes('.')) out.push(...(await walk(source, path, suffix, depth - 1)));
  }
  return out.sort();
}

async function discoverSubjects(
  source: FileSource,
  layout: VolumeLayout,
  sequence: string,
): Promise<Map<string, SubjectFiles>> {
  const out = new Map<string, SubjectFiles>();
  if (layout === 'ixi' || layout === 'mslub') {
    const names = await source.listDir(sequence);
    for (const n of names.filter((n) => n.endsWith(`_${sequence}.nii.gz`))) {
      const id = n.replace(/_[^_]+\.nii\.gz$/, '');
      out.set(id, layoutPaths(layout, id, sequence));
    }
    if (layout === 'ixi' && out.size === 0) {
      // the IXI download itself: one flat folder of IXI<nnn>-<site>-<id>-<T1|T2|PD>.nii.gz (no brain masks)
      const suffix = `-${sequence.toUpperCase()}.nii.gz`;
      for (const n of (await source.listDir('')).filter((n) => n.startsWith('IXI') && n.endsWith(suffix))) {
        const id = n.slice(0, -suffix.length);
        out.set(id, { image: n, brainMask: `mask/${id}_mask.nii.gz` });
      }
    }
  } else if (layout === 'atlas') {
    // ATLAS v2.0 nests files as <site>/<sub>/ses-1/anat/<sub>_ses-1_space-..._T1w.nii.gz; accept up to 7 folder levels.
    for (const image of await walk(source, '', '_T1w.nii.gz', 7)) {
      const id = image.split('/').pop()!.split('_')[0]!;
      const stem = image.slice(0, -'_T1w.nii.gz'.length);
      out.set(id, {
        image,
        mask: `${stem}_label-L_desc-T1lesion_mask.nii.gz`,
        brainMask: `${stem}_desc-brain_mask.nii.gz`,
      });
    }
  } else {
    for (const d of await source.listDir('')) {
      const paths = layoutPaths(layout, d, sequence);
      if (await source.exists(paths.image)) out.set(d, paths);
    }
  }
  return new Map([...out.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export interface SplitFractions {
  train: number;
  val: number;
  test: number;
}

/**
 * Subject-level split: ids are sorted, shuffled with the seed, then cut into train / val / test by the fractions
 * (rounded; test takes the rest). The same ids and seed always give the same split.
 */
export function splitSubjects(
  ids: readonly string[],
  fractions: SplitFractions,
  seed: number | string = 0,
): Record<'train' | 'val' | 'test', string[]> {
  const total = fractions.train + fractions.val + fractions.test;
  if (!(total > 0) || [fractions.train, fractions.val, fractions.test].some((f) => f < 0)) {
    throw new IoArgumentError('fractions', 'must be non-negative with a positive sum');
  }
  const order = shuffled([...ids].sort(), createRng(seed));
  const nTrain = Math.round((fractions.train / total) * order.length);
  const nVal = Math.min(order.length - nTrain, Math.round((fractions.val / total) * order.length));
  return { train: order.slice(0, nTrain), val: order.slice(nTrain, nTrain + nVal), test: order.slice(nTrain + nVal) };
}

export interface DatasetSlice {
  image: Image2D;
  mask?: Image2D;
  brainMask?: Image2D;
  /** 1 when the slice contains lesion voxels (weak label), else 0. */
  label: 0 | 1;
  subjectId: string;
  sliceIndex: number;
  /** Present when the slices were resized (`SliceIterationOptions.resize`): maps a model-grid map back to the slice grid. */
  restore?: (map: Image2D) => Image2D;
}

export interface LoadedSubject {
  subjectId: string;
  /** Volumes as read from disk (scaled NIfTI values, original grid). */
  raw: { image: Volume; mask?: Volume; brainMask?: Volume };
  /** After the declared pipeline; `mapToOriginal` resamples maps back to `raw.image`'s grid. */
  preprocessed: PreprocessedSubject;
  /** 1 if the (preprocessed) mask has lesion voxels. */
  label: 0 | 1;
}

export interface VolumeDatasetOptions {
  layout: VolumeLayout;
  /** Sequence to load (default: the layout's first, see LAYOUT_SEQUENCES). */
  sequence?: string;
  /** Declared preprocessing pipeline applied to every subject (default: none). */
  preprocess?: PreprocessStep[];
  /** Subject-level split fractions (default 0.7 / 0.1 / 0.2) and seed. */
  split?: SplitFractions;
  seed?: number | string;
}

export interface SliceIterationOptions {
  split?: 'train' | 'val' | 'test' | 'all';
  /** Deterministic shuffle of subjects and of slices within each subject. */
  shuffle?: boolean;
  seed?: number | string;
  /** Slice axis of the preprocessed volume (default 2). */
  axis?: number;
  /** Skip slices with no brain-mask voxels (default false). */
  skipEmpty?: boolean;
  /** Only these slice indices, e.g. the central ones. */
  sliceIndices?: (depth: number) => number[];
  /**
   * THOR's 2-D step after slicing: pad to a square (with the slice minimum, or `padValue`) and resize bilinearly to
   * `size` × `size` (masks: nearest). Each slice then carries `restore` for its maps.
   */
  resize?: { size: number; padToSquare?: boolean; padValue?: number };
}

export interface VolumeDataset {
  layout: VolumeLayout;
  sequence: string;
  subjects: string[];
  splits: Record<'train' | 'val' | 'test', string[]>;
  loadSubject(subjectId: string): Promise<LoadedSubject>;
  slices(options?: SliceIterationOptions): AsyncIterable<DatasetSlice>;
  /**
   * Inverse of `slices`: stacks per-slice maps (all slices of one subject, in slice order) into a volume on the
   * preprocessed grid and resamples it onto the original scan grid.
   */
  slicesToVolume(
    subject: LoadedSubject,
    maps: Image2D[],
    options?: { axis?: number; interpolation?: 'linear' | 'nearest' },
  ): Volume<Float32Array>;
}

/** Opens a NIfTI dataset folder in one of the volume layouts. */
export async function openVolumeDataset(source: FileSource, options: VolumeDatasetOptions): Promise<VolumeDataset> {
  const { layout } = options;
  if (!(layout in LAYOUT_SEQUENCES))
    throw new IoArgumentError('layout', `unknown volume layout ${JSON.stringify(layout)}`);
  const sequence = options.sequence ?? LAYOUT_SEQUENCES[layout][0]!;
  if (!LAYOUT_SEQUENCES[layout].includes(sequence)) {
    throw new IoArgumentError(
      'sequence',
      `${JSON.stringify(sequence)} is not part of the ${layout} layout (${LAYOUT_SEQUENCES[layout].join(', ')})`,
    );
  }
  const found = await discoverSubjects(source, layout, sequence);
  const subjects = [...found.keys()];
  if (subjects.length === 0) throw new DatasetError(layout, `no subjects found for sequence ${sequence}`);
  const splits = splitSubjects(subjects, options.split ?? { train: 0.7, val: 0.1, test: 0.2 }, options.seed ?? 0);
  const steps = options.preprocess ?? [];

  const readVol = async (path: string): Promise<Volume> =>
    readNifti(await source.readFile(path), { name: path }).volume;

  const loadSubject = async (subjectId: string): Promise<LoadedSubject> => {
    const paths = found.get(subjectId);
    if (!paths) throw new DatasetError(layout, `unknown subject ${JSON.stringify(subjectId)}`);
    if (!(await source.exists(paths.image)))
      throw new DatasetError(paths.image, `missing image of subject ${subjectId}`);
    const image = await readVol(paths.image);
    const mask = paths.mask && (await source.exists(paths.mask)) ? await readVol(paths.mask) : undefined;
    if (layout !== 'ixi' && !mask)
      throw new DatasetError(paths.mask ?? layout, `missing lesion mask of subject ${subjectId}`);
    let brainMask =
      paths.brainMask && (await source.exists(paths.brainMask)) ? await readVol(paths.brainMask) : undefined;
    if (!brainMask && layout === 'brats') brainMask = brainMaskFromNonzero(image);
    for (const [what, v] of [
      ['mask', mask],
      ['brain mask', brainMask],
    ] as const) {
      if (v && v.shape.slice(0, 3).join() !== image.shape.slice(0, 3).join()) {
        throw new DatasetError(
          subjectId,
          `${what} shape [${v.shape.join(', ')}] differs from the image [${image.shape.join(', ')}]`,
        );
      }
    }
    const binMask = mask
      ? { ...mask, data: Float32Array.from(mask.data as ArrayLike<number>, (v) => (v > 0 ? 1 : 0)) }
      : undefined;
    const preprocessed = preprocessSubject({ image, mask: binMask, brainMask }, steps);
    const label: 0 | 1 = preprocessed.mask?.data.some((v) => v > 0.5) ? 1 : 0;
    return { subjectId, raw: { image, mask, brainMask }, preprocessed, label };
  };

  async function* slices(opts: SliceIterationOptions = {}): AsyncIterable<DatasetSlice> {
    const split = opts.split ?? 'all';
    let ids = split === 'all' ? subjects.slice() : splits[split].slice().sort();
    const rng = createRng(opts.seed ?? 0);
    if (opts.shuffle) ids = shuffled(ids, rng);
    const axis = opts.axis ?? 2;
    for (const id of ids) {
      const subj = await loadSubject(id);
      const p = subj.preprocessed;
      const depth = p.image.shape[axis]!;
      let idx = opts.sliceIndices ? opts.sliceIndices(depth) : Array.from({ length: depth }, (_, i) => i);
      if (opts.shuffle) idx = shuffled(idx, rng.fork(id));
      for (const k of idx) {
        const brainMask = p.brainMask ? extractSlice(p.brainMask, k, { axis }) : undefined;
        if (opts.skipEmpty && brainMask && !brainMask.data.some((v) => v > 0.5)) continue;
        const mask = p.mask ? extractSlice(p.mask, k, { axis }) : undefined;
        const label: 0 | 1 = mask?.data.some((v) => v > 0.5) ? 1 : 0;
        const image = extractSlice(p.image, k, { axis });
        if (!opts.resize) {
          yield { image, mask, brainMask, label, subjectId: id, sliceIndex: k };
          continue;
        }
        const r = opts.resize;
        const t = prepareSlice(image, { size: r.size, padToSquare: r.padToSquare, padValue: r.padValue });
        const lab = (m?: Image2D) =>
          m
            ? prepareSlice(m, { size: r.size, padToSquare: r.padToSquare, padValue: 0, interpolation: 'nearest' }).image
            : undefined;
        yield {
          image: t.image,
          mask: lab(mask),
          brainMask: lab(brainMask),
          label,
          subjectId: id,
          sliceIndex: k,
          restore: (map: Image2D) => t.restore(map),
        };
      }
    }
  }

  return {
    layout,
    sequence,
    subjects,
    splits,
    loadSubject,
    slices: (o) => slices(o),
    slicesToVolume(subject, maps, o = {}) {
      const stacked = stackSlices(maps, subject.preprocessed.image, { axis: o.axis ?? 2 });
      return mapToOriginal(stacked, subject.preprocessed, o.interpolation ?? 'linear');
    },
  };
}

export interface PngSliceDatasetOptions {
  /** Split CSV (default `splits/<split>.csv`). */
  csv?: string;
  split?: string;
  /** Optional separate mask CSV (THOR's `*_mask_png.csv`), rows aligned with the image CSV. */
  maskCsv?: string;
  /** PNG intensity scaling (see `readPng`). */
  scale?: 'unit' | 'raw';
}

export interface PngSliceDataset {
  entries: { filename: string; maskFilename?: string; label?: 0 | 1; subjectId: string; sliceIndex: number }[];
  subjects: string[];
  slices(options?: { shuffle?: boolean; seed?: number | string }): AsyncIterable<DatasetSlice>;
}

/** Opens a THOR-style PNG slice folder with CSV splits. */
export async function openPngSliceDataset(
  source: FileSource,
  options: PngSliceDatasetOptions = {},
): Promise<PngSliceDataset> {
  const csvPath = options.csv ?? `splits/${options.split ?? 'train'}.csv`;
  if (!(await source.exists(csvPath))) throw new DatasetError(csvPath, 'split CSV not found');
  const rows = parseCsv(new TextDecoder().decode(await source.readFile(csvPath)), csvPath);
  const maskRows = options.maskCsv
    ? parseCsv(new TextDecoder().decode(await source.readFile(options.maskCsv)), options.maskCsv)
    : undefined;
  if (maskRows && maskRows.length !== rows.length)
    throw new DatasetError(options.maskCsv!, `has ${maskRows.length} rows, ${csvPath} has ${rows.length}`);
  const entries = rows.map((r, i) => {
    const filename = (r.filename ?? Object.values(r)[0] ?? '').replace(/^\.\//, '');
    if (!filename) throw new DatasetError(csvPath, `row ${i + 2} has no filename`);
    const m = maskRows ? (maskRows[i]!.filename ?? Object.values(maskRows[i]!)[0]) : r.mask_filename;
    const base = filename
      .split('/')
      .pop()!
      .replace(/\.png$/i, '');
    return {
      filename,
      maskFilename: m ? m.replace(/^\.\//, '') : undefined,
      label: r.label === undefined || r.label === '' ? undefined : ((Number(r.label) > 0 ? 1 : 0) as 0 | 1),
      subjectId: r.subject_id || base,
      sliceIndex: r.slice_index ? Number(r.slice_index) : 0,
    };
  });
  const subjects = [...new Set(entries.map((e) => e.subjectId))].sort();
  async function* slices(opts: { shuffle?: boolean; seed?: number | string } = {}): AsyncIterable<DatasetSlice> {
    const order = opts.shuffle ? shuffled(entries, createRng(opts.seed ?? 0)) : entries;
    for (const e of order) {
      const image = readPng(await source.readFile(e.filename), { name: e.filename, scale: options.scale });
      const mask = e.maskFilename
        ? readPng(await source.readFile(e.maskFilename), { name: e.maskFilename })
        : undefined;
      const maskImg = mask
        ? { data: mask.data.map((v) => (v > 0.5 ? 1 : 0)), width: mask.width, height: mask.height }
        : undefined;
      const label = e.label ?? (maskImg?.data.some((v) => v > 0) ? 1 : 0);
      yield {
        image: { data: image.data, width: image.width, height: image.height },
        mask: maskImg,
        label,
        subjectId: e.subjectId,
        sliceIndex: e.sliceIndex,
      };
    }
  }
  return { entries, subjects, slices: (o) => slices(o) };
}
