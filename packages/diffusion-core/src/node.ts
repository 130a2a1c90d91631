/**
 * `@adx/diffusion-core/node` — Node-only helpers on top of the isomorphic core: crash-safe
 * checkpoint folders and file-path readers for safetensors and PyTorch `.pt` files.
 *
 * Atomicity: a checkpoint is written completely into a temporary sibling folder
 * (`<dir>.tmp-<random>`), every file and the folder are fsync'ed, and only then is it renamed into
 * place. An existing checkpoint is first renamed aside (`<dir>.old-<random>`) and deleted after the
 * new one is in place, so at every instant either the old or the new complete checkpoint exists;
 * {@link loadCheckpoint} falls back to the aside copy if a crash hit between the two renames.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import {
  deserializeCheckpoint,
  readSafetensors,
  readTorchStateDict,
  serializeCheckpoint,
  WeightsError,
  type CheckpointableModel,
  type DeserializedCheckpoint,
  type ReadTorchStateDictOptions,
  type SafetensorsFile,
  type SerializeCheckpointOptions,
  type TorchFileTensor,
} from '@adx/diffusion-core';

async function fsyncPath(p: string, flags = 'r'): Promise<void> {
  const h = await fs.open(p, flags);
  try {
    await h.sync();
  } catch (e) {
    // Some file systems cannot fsync directories; file data was synced already.
    if ((e as NodeJS.ErrnoException).code !== 'EINVAL' && (e as NodeJS.ErrnoException).code !== 'EISDIR') throw e;
  } finally {
    await h.close();
  }
}

async function writeAndSync(file: string, bytes: Uint8Array): Promise<void> {
  const h = await fs.open(file, 'w');
  try {
    await h.writeFile(bytes);
    await h.sync();
  } finally {
    await h.close();
  }
}

const suffix = (): string => randomBytes(6).toString('hex');

async function exists(p: string): Promise<boolean> {
  try {
    await fs.stat(p);
    return true;
  } catch {
    return false;
  }
}

/** Writes `bytes` to `file` atomically: temp file in the same folder, fsync, rename, fsync folder. */
export async function writeFileAtomic(file: string, bytes: Uint8Array): Promise<void> {
  const dir = path.dirname(path.resolve(file));
  const tmp = path.join(dir, `.${path.basename(file)}.tmp-${suffix()}`);
  try {
    await writeAndSync(tmp, bytes);
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
  await fsyncPath(dir);
}

/**
 * Atomically replaces the folder `dir` with one holding exactly `files` (names must be plain file
 * names). Used by {@link saveCheckpoint}.
 */
export async function writeFolderAtomic(dir: string, files: Record<string, Uint8Array>): Promise<void> {
  const target = path.resolve(dir);
  const parent = path.dirname(target);
  const base = path.basename(target);
  await fs.mkdir(parent, { recursive: true });
  for (const name of Object.keys(files)) {
    if (name !== path.basename(name) || name === '.' || name === '..') {
      throw new WeightsError(name, 'checkpoint file names must not contain path separators');
    }
  }
  const tmp = path.join(parent, `${base}.tmp-${suffix()}`);
  await fs.mkdir(tmp);
  try {
    for (const [name, bytes] of Object.entries(files)) await writeAndSync(path.join(tmp, name), bytes);
    await fsyncPath(tmp);
  } catch (e) {
    await fs.rm(tmp, { recursive: true, force: true });
    throw e;
  }
  let aside: string | undefined;
  if (await exists(target)) {
    aside = path.join(parent, `${base}.old-${suffix()}`);
    await fs.rename(target, aside);
  }
  try {
    await fs.rename(tmp, target);
  } catch (e) {
    if (aside) await fs.rename(aside, target); // put the old checkpoint back
    await fs.rm(tmp, { recursive: true, force: true });
    throw e;
  }
  await fsyncPath(parent);
  if (aside) await fs.rm(aside, { recursive: true, force: true });
  await removeStale(parent, base);
}

/** Deletes leftovers of interrupted writes (`<base>.tmp-*`, and `<base>.old-*` once `<base>` exists). */
async function removeStale(parent: string, base: string): Promise<void> {
  for (const name of await fs.readdir(parent)) {
    if (name.startsWith(`${base}.tmp-`) || name.startsWith(`${base}.old-`)) {
      await fs.rm(path.join(parent, name), { recursive: true, force: true });
    }
  }
}

/** Finds the folder to read: `dir`, or the aside copy left by a crash between the two renames. */
async function resolveCheckpointDir(dir: string): Promise<string> {
  const target = path.resolve(dir);
  if (await exists(target)) return target;
  const parent = path.dirname(target);
  const base = path.basename(target);
  const aside = (await fs.readdir(parent).catch(() => [] as string[])).filter((n) => n.startsWith(`${base}.old-`));
  if (aside.length > 0) return path.join(parent, aside[0]!);
  throw new WeightsError(dir, 'checkpoint folder not found');
}

/** Reads every regular file of a checkpoint folder into memory. */
export async function readCheckpointFiles(dir: string): Promise<Record<string, Uint8Array>> {
  const folder = await resolveCheckpointDir(dir);
  const files: Record<string, Uint8Array> = {};
  for (const entry of await fs.readdir(folder, { withFileTypes: true })) {
    if (!entry.isFile() || entry.name.startsWith('.')) continue;
    const buf = await fs.readFile(path.join(folder, entry.name));
    files[entry.name] = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  return files;
}

/**
 * Saves `model` (config.json + model.safetensors in PyTorch layout), optional extra tensor files
 * and a JSON state into the folder `dir`, atomically (see the module comment).
 */
export async function saveCheckpoint(
  dir: string,
  model: CheckpointableModel,
  options: SerializeCheckpointOptions = {},
): Promise<void> {
  const { files } = await serializeCheckpoint(model, options);
  await writeFolderAtomic(dir, files);
}

/** Loads a checkpoint folder written by {@link saveCheckpoint}: the model (built from config.json), extras and state. */
export async function loadCheckpoint(dir: string): Promise<DeserializedCheckpoint> {
  return deserializeCheckpoint(await readCheckpointFiles(dir), dir);
}

/** Reads a `.safetensors` file. */
export async function readSafetensorsPath(file: string): Promise<SafetensorsFile> {
  const buf = await fs.readFile(file);
  return readSafetensors(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), file);
}

/** Reads the state dict of a `torch.save` file (`.pt`/`.pth`/`.ckpt`) without executing pickle code. */
export async function readTorchStateDictPath(
  file: string,
  options: Omit<ReadTorchStateDictOptions, 'source'> = {},
): Promise<Map<string, TorchFileTensor>> {
  const buf = await fs.readFile(file);
  return readTorchStateDict(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), { ...options, source: file });
}
