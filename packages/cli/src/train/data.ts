/**
 * Training data of `adx train`: 2-D slices (with weak image-level labels) or 3-D volumes, from the
 * embedded phantom or from a folder in one of io-medical's dataset layouts. Every slice is brought
 * to [0, 1] and to `size` × `size` exactly as `adx detect` prepares its inputs, so a trained model
 * sees at test time what it saw in training:
 *
 * - phantom slices / NIfTI volumes: 1st–99th percentile inside the nonzero (brain) region → [0, 1];
 * - PNG files: their own [0, 1] scale (8/16-bit), pad to square + bilinear resize (`prepareSlice`).
 *
 * `data` config:
 *   source: phantom (default) | png | png-slices | nifti
 *   phantom slices:  { count, size, contrast, seed, diseasedFraction, lesionTypes: [tumour, stroke, ms] }
 *   phantom volumes: { volumes, size, depth, contrast, seed }              (method conditioned)
 *   png:             { dir, size }                         every *.png of dir, no labels (healthy)
 *   png-slices:      { dir, size, split, csv, maskCsv }    THOR layout: labels from a `label` column or the masks
 *   nifti:           { dir, size, layout, sequence, axis, skipEmpty }  ixi | brats | atlas | mslub; slice labels
 *                    from the lesion masks, volume labels from any lesion voxel
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  brainMaskFromNonzero,
  extractSlices,
  generatePhantomSlices,
  generatePhantomVolume,
  openPngSliceDataset,
  openVolumeDataset,
  percentile,
  percentileNormalize,
  prepareSlice,
  type Contrast,
  type Image2D,
  type LesionType,
  type VolumeLayout,
} from '@adx/io-medical';
import { nodeFileSource, readPngFile } from '@adx/io-medical/node';
import { UsageError } from '../errors.js';
import { int, num, oneOf, section, seed, str, bool, type Section } from './fields.js';

export const DATA_SOURCES = ['phantom', 'png', 'png-slices', 'nifti'] as const;
const CONTRASTS: readonly Contrast[] = ['t1', 't1ce', 't2', 'flair'];
const LAYOUTS: readonly VolumeLayout[] = ['ixi', 'brats', 'atlas', 'mslub'];

/** N slices of size² in [0, 1] (NHWC with C = 1, row-major) and their weak labels (0 healthy, 1 diseased). */
export interface SliceSet {
  images: Float32Array;
  labels: (0 | 1)[];
  count: number;
  size: number;
}

/** Volumes as `[D, size, size]` stacks of axial slices in [0, 1] (the layout of @adx/guidance-conditioned). */
export interface VolumeSet {
  volumes: { data: Float32Array; shape: [number, number, number] }[];
  size: number;
}

const LESION_TYPES: readonly LesionType[] = ['tumour', 'stroke', 'ms'];

function lesionTypes(v: unknown): LesionType[] {
  if (!Array.isArray(v) || v.length === 0 || v.some((t) => !LESION_TYPES.includes(t as LesionType)))
    throw new UsageError(
      `config 'data.lesionTypes' must be a non-empty list of ${LESION_TYPES.join(' | ')}, got ${JSON.stringify(v)}`,
    );
  return v as LesionType[];
}

/** Maps a slice to [0, 1] by its 1st/99th percentile inside the nonzero region (the detect convention). */
export function normalize01(img: Image2D): Float32Array {
  const nz = img.data.filter((v) => v > 0);
  const lo = nz.length ? percentile(nz, 1) : 0;
  const hi = nz.length ? percentile(nz, 99) : 1;
  const out = new Float32Array(img.data.length);
  const span = hi > lo ? hi - lo : 1;
  for (let i = 0; i < out.length; i++) out[i] = Math.min(1, Math.max(0, (img.data[i]! - lo) / span));
  return out;
}

function stackImages(slices: Float32Array[], size: number): Float32Array {
  const out = new Float32Array(slices.length * size * size);
  slices.forEach((s, i) => out.set(s, i * size * size));
  return out;
}

function dirOf(data: Section, source: string): string {
  const dir = str(data, 'dir', 'data', undefined);
  if (!dir) throw new UsageError(`config 'data.dir' is required for source: ${source}`);
  return dir;
}

/**
 * Slices for the 2-D methods. `healthyOnly` (method ddpm: normative training) keeps label-0 slices
 * (the phantom then draws no lesions); otherwise slices keep their weak labels (method classifier).
 */
export async function loadSliceSet(
  raw: unknown,
  o: { healthyOnly: boolean; defaultSize: number; defaultCount: number },
): Promise<SliceSet> {
  const source = oneOf((raw ?? {}) as Section, 'source', 'data', DATA_SOURCES, 'phantom');
  const common = ['source', 'size'];
  const keys: Record<(typeof DATA_SOURCES)[number], string[]> = {
    phantom: [...common, 'count', 'contrast', 'seed', ...(o.healthyOnly ? [] : ['diseasedFraction', 'lesionTypes'])],
    png: [...common, 'dir'],
    'png-slices': [...common, 'dir', 'split', 'csv', 'maskCsv'],
    nifti: [...common, 'dir', 'layout', 'sequence', 'axis', 'skipEmpty'],
  };
  const data = section(raw, 'data', keys[source]);
  const size = int(data, 'size', 'data', o.defaultSize, 4);
  let slices: Float32Array[] = [];
  let labels: (0 | 1)[] = [];
  if (source === 'phantom') {
    const generated = generatePhantomSlices({
      count: int(data, 'count', 'data', o.defaultCount),
      size,
      seed: seed(data, 'seed', 'data', 0),
      contrast: oneOf(data, 'contrast', 'data', CONTRASTS, 't1'),
      diseasedFraction: o.healthyOnly ? 0 : num(data, 'diseasedFraction', 'data', 0.5, 0, 1),
      ...(data.lesionTypes !== undefined ? { lesionTypes: lesionTypes(data.lesionTypes) } : {}),
    });
    slices = generated.map((s) => normalize01(s.image));
    labels = generated.map((s) => s.label);
  } else if (source === 'png') {
    const dir = dirOf(data, source);
    let names: string[];
    try {
      names = (await readdir(dir)).filter((n) => /\.png$/i.test(n)).sort();
    } catch (e) {
      throw new UsageError(`config 'data.dir': cannot read '${dir}': ${(e as Error).message}`);
    }
    if (names.length === 0) throw new UsageError(`config 'data.dir': no PNG files in '${dir}'`);
    if (!o.healthyOnly)
      throw new UsageError(
        "config 'data.source': png has no labels; use 'png-slices' (a label column or masks) or 'nifti' for weak labels",
      );
    for (const n of names) slices.push(prepareSlice(await readPngFile(join(dir, n)), { size }).image.data);
    labels = slices.map(() => 0);
  } else if (source === 'png-slices') {
    const dir = dirOf(data, source);
    const ds = await openPngSliceDataset(nodeFileSource(dir), {
      split: str(data, 'split', 'data', 'train'),
      ...(data.csv !== undefined ? { csv: str(data, 'csv', 'data', '') } : {}),
      ...(data.maskCsv !== undefined ? { maskCsv: str(data, 'maskCsv', 'data', '') } : {}),
    });
    for await (const s of ds.slices()) {
      slices.push(prepareSlice(s.image, { size }).image.data);
      labels.push(s.label);
    }
  } else {
    const dir = dirOf(data, source);
    const axis = int(data, 'axis', 'data', 2, 0);
    const skipEmpty = bool(data, 'skipEmpty', 'data', true);
    const ds = await openVolumeDataset(nodeFileSource(dir), {
      layout: oneOf(data, 'layout', 'data', LAYOUTS, 'ixi'),
      ...(data.sequence !== undefined ? { sequence: str(data, 'sequence', 'data', '') } : {}),
    });
    for (const id of ds.subjects) {
      const subject = await ds.loadSubject(id);
      const { image, mask } = subject.raw;
      const normalized = percentileNormalize(image, { mask: brainMaskFromNonzero(image) });
      const masks = mask ? extractSlices(mask, { axis }) : undefined;
      extractSlices(normalized, { axis }).forEach((s, k) => {
        if (skipEmpty && !s.data.some((v) => v > 0)) return;
        slices.push(prepareSlice(s, { size }).image.data);
        labels.push(masks?.[k]!.data.some((v) => v > 0) ? 1 : 0);
      });
    }
  }
  if (o.healthyOnly && source !== 'phantom') {
    const keep = labels.map((l, i) => (l === 0 ? i : -1)).filter((i) => i >= 0);
    slices = keep.map((i) => slices[i]!);
    labels = keep.map(() => 0);
  }
  if (slices.length === 0) throw new UsageError(`config 'data': no ${o.healthyOnly ? 'healthy ' : ''}slices found`);
  return { images: stackImages(slices, size), labels, count: slices.length, size };
}

/**
 * A skull-stripped healthy phantom volume as `[D, H, W]` (axial slices first), mapped to [0, 1] by the
 * 1st/99th percentile inside the brain (as `bench/phantom-compare.ts` of @adx/guidance-conditioned).
 */
export function phantomVolume(
  volumeSeed: string,
  size: number,
  depth: number,
  contrast: Contrast,
): { data: Float32Array; shape: [number, number, number] } {
  const p = generatePhantomVolume({
    size: [size, size, depth],
    seed: volumeSeed,
    contrast,
    lesions: 'none',
    skullStrip: true,
  });
  const stack = (slices: Image2D[]) =>
    stackImages(
      slices.map((s) => Float32Array.from(s.data)),
      size,
    );
  const img = stack(extractSlices(p.image, { axis: 2 }));
  const brain = stack(extractSlices(p.brainMask, { axis: 2 }));
  const inside = [...img.filter((_, i) => brain[i]! > 0)].sort((a, b) => a - b);
  const lo = inside[Math.floor(0.01 * (inside.length - 1))] ?? 0;
  const hi = inside[Math.floor(0.99 * (inside.length - 1))] ?? 1;
  for (let i = 0; i < img.length; i++) img[i] = Math.min(1, Math.max(0, (img[i]! - lo) / (hi - lo || 1)));
  return { data: img, shape: [depth, size, size] };
}

/** Healthy volumes for the conditioned method (Behrendt trains on healthy IXI volumes only). */
export async function loadVolumeSet(raw: unknown, o: { defaultSize: number }): Promise<VolumeSet> {
  const source = oneOf((raw ?? {}) as Section, 'source', 'data', ['phantom', 'nifti'] as const, 'phantom');
  const data = section(
    raw,
    'data',
    source === 'phantom'
      ? ['source', 'volumes', 'size', 'depth', 'contrast', 'seed']
      : ['source', 'dir', 'size', 'layout', 'sequence', 'axis', 'skipEmpty'],
  );
  const size = int(data, 'size', 'data', o.defaultSize, 4);
  const volumes: VolumeSet['volumes'] = [];
  if (source === 'phantom') {
    const n = int(data, 'volumes', 'data', 16);
    const depth = int(data, 'depth', 'data', 16);
    const contrast = oneOf(data, 'contrast', 'data', CONTRASTS, 't2');
    const s = seed(data, 'seed', 'data', 'cddpm-train');
    for (let i = 0; i < n; i++) volumes.push(phantomVolume(`${s}-${i}`, size, depth, contrast));
  } else {
    const dir = dirOf(data, source);
    const axis = int(data, 'axis', 'data', 2, 0);
    const skipEmpty = bool(data, 'skipEmpty', 'data', true);
    const ds = await openVolumeDataset(nodeFileSource(dir), {
      layout: oneOf(data, 'layout', 'data', LAYOUTS, 'ixi'),
      ...(data.sequence !== undefined ? { sequence: str(data, 'sequence', 'data', '') } : {}),
    });
    for (const id of ds.subjects) {
      const subject = await ds.loadSubject(id);
      if (subject.label === 1) continue; // lesion voxels: not a normative training volume
      const { image } = subject.raw;
      const normalized = percentileNormalize(image, { mask: brainMaskFromNonzero(image) });
      const slices = extractSlices(normalized, { axis })
        .filter((s) => !skipEmpty || s.data.some((v) => v > 0))
        .map((s) => prepareSlice(s, { size }).image.data);
      if (slices.length) volumes.push({ data: stackImages(slices, size), shape: [slices.length, size, size] });
    }
  }
  if (volumes.length === 0) throw new UsageError(`config 'data': no healthy volumes found`);
  return { volumes, size };
}
