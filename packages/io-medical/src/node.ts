/**
 * Node entry of @adx/io-medical: everything from the isomorphic entry plus file-system helpers (read/write paths,
 * atomic writes via a temporary file + rename, a FileSource over a folder, and `writeDataset`).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
// The core is imported through the package's own public entry (not relative paths) so that the built Node entry
// shares one copy of it with `@adx/io-medical`: error classes stay `instanceof`-compatible across both entries.
import {
  buildPhantomDataset,
  dicomSeriesToVolume,
  FormatError,
  readDicom,
  readNifti,
  readPng,
  writeNifti,
  writePng,
  type DicomImage,
  type FileSource,
  type Image2D,
  type NiftiImage,
  type PhantomDatasetOptions,
  type PngImage,
  type ReadNiftiOptions,
  type ReadPngOptions,
  type Volume,
  type WriteNiftiOptions,
  type WritePngOptions,
} from '@adx/io-medical';

export * from '@adx/io-medical';

/** Writes bytes atomically: a temporary file in the same folder, then rename (readers never see a partial file). */
export async function writeFileAtomic(path: string, bytes: Uint8Array | string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

export async function readNiftiFile(path: string, options: Omit<ReadNiftiOptions, 'name'> = {}): Promise<NiftiImage> {
  return readNifti(new Uint8Array(await readFile(path)), { ...options, name: path });
}

/** Writes a volume as NIfTI-1; gzip is chosen from the `.gz` extension unless given. */
export async function writeNiftiFile(path: string, volume: Volume, options: WriteNiftiOptions = {}): Promise<void> {
  await writeFileAtomic(path, writeNifti(volume, { gzip: path.endsWith('.gz'), ...options }));
}

export async function readDicomFile(path: string): Promise<DicomImage> {
  return readDicom(new Uint8Array(await readFile(path)), { name: path });
}

/**
 * Reads every DICOM file of a folder (files that are not DICOM are skipped) and builds a volume per series
 * (Series Instance UID), sorted along the slice normal. Returns the volumes keyed by series UID.
 */
export async function readDicomSeriesDir(dir: string): Promise<Map<string, Volume<Float32Array>>> {
  const names = (await readdir(dir)).sort();
  const bySeries = new Map<string, DicomImage[]>();
  for (const n of names) {
    const p = join(dir, n);
    if (!(await stat(p)).isFile()) continue;
    let img: DicomImage;
    try {
      img = await readDicomFile(p);
    } catch (e) {
      if (e instanceof FormatError && e.field === 'dataset') continue;
      throw e;
    }
    const key = img.seriesInstanceUID ?? '';
    bySeries.set(key, [...(bySeries.get(key) ?? []), img]);
  }
  const out = new Map<string, Volume<Float32Array>>();
  for (const [k, imgs] of bySeries) out.set(k, dicomSeriesToVolume(imgs));
  return out;
}

export async function readPngFile(path: string, options: Omit<ReadPngOptions, 'name'> = {}): Promise<PngImage> {
  return readPng(new Uint8Array(await readFile(path)), { ...options, name: path });
}

export async function writePngFile(path: string, image: Image2D, options: WritePngOptions = {}): Promise<void> {
  await writeFileAtomic(path, writePng(image, options));
}

/** A FileSource over a folder of the local file system. */
export function nodeFileSource(root: string): FileSource {
  const abs = (p: string) => resolve(root, p);
  return {
    readFile: async (p) => new Uint8Array(await readFile(abs(p))),
    listDir: async (p) => {
      try {
        return (await readdir(abs(p))).filter((n) => !n.startsWith('.')).sort();
      } catch {
        return [];
      }
    },
    exists: async (p) => {
      try {
        await stat(abs(p));
        return true;
      } catch {
        return false;
      }
    },
  };
}

/**
 * Writes a phantom dataset in one of the real layouts ('ixi' | 'brats' | 'atlas' | 'mslub' | 'png-slices') under
 * `dir`, every file atomically, plus `phantom-dataset.json` describing how it was made. Returns the relative paths.
 */
export async function writeDataset(dir: string, options: PhantomDatasetOptions): Promise<string[]> {
  const files = buildPhantomDataset(options);
  for (const [rel, bytes] of files) await writeFileAtomic(join(dir, rel), bytes);
  await writeFileAtomic(
    join(dir, 'phantom-dataset.json'),
    JSON.stringify({ generator: '@adx/io-medical phantom', ...options }, null, 2) + '\n',
  );
  return [...files.keys()].sort();
}
