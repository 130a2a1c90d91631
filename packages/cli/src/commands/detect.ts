/**
 * `adx detect <method>`: run an anomaly-detection method on NIfTI volumes, DICOM series folders or
 * PNG slices, and write maps in the input's geometry (NIfTI for volumes, PNG for slices) plus a
 * JSON file of scores. Inputs can be split across workers with `--shard i/N`.
 */
import { readdir, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { loadCheckpoint } from '@adx/diffusion-core/node';
import type { DenoisingModel } from '@adx/diffusion-core';
import { brainMaskFromNonzero, percentileNormalize, prepareSlice, type Volume } from '@adx/io-medical';
import {
  readDicomSeriesDir,
  readNiftiFile,
  readPngFile,
  writeFileAtomic,
  writeNiftiFile,
  writePngFile,
} from '@adx/io-medical/node';
import { anoddpm, runSlicewise, thor, type SliceMethod, type ThorOptions } from '@adx/guidance-thor';
import { UsageError } from '../errors.js';
import { createProgress } from '../progress.js';
import { selectShard, type Shard } from '../shard.js';

export const DETECT_METHODS = ['thor', 'ddpm-recon'] as const;
export type DetectMethod = (typeof DETECT_METHODS)[number];

export interface DetectCommandOptions {
  method: string;
  checkpoint: string;
  inputs: string[];
  out: string;
  seed: number;
  size: number;
  batchSize: number;
  axis: number;
  tStart?: number;
  noise: 'gaussian' | 'simplex';
  shard: Shard;
  quiet?: boolean;
}

export interface DetectRecord {
  input: string;
  kind: 'volume' | 'png';
  score: number;
  outputs: string[];
  seconds: number;
}

type InputItem = { path: string; kind: 'nifti' | 'dicom' | 'png' };

async function expandInputs(inputs: string[]): Promise<InputItem[]> {
  const items: InputItem[] = [];
  for (const p of inputs) {
    let s;
    try {
      s = await stat(p);
    } catch {
      throw new UsageError(`input '${p}' does not exist`);
    }
    if (s.isDirectory()) {
      const names = (await readdir(p)).filter((n) => !n.startsWith('.')).sort();
      const nifti = names.filter((n) => /\.nii(\.gz)?$/i.test(n));
      const png = names.filter((n) => /\.png$/i.test(n));
      if (nifti.length || png.length) {
        for (const n of nifti) items.push({ path: join(p, n), kind: 'nifti' });
        for (const n of png) items.push({ path: join(p, n), kind: 'png' });
      } else {
        items.push({ path: p, kind: 'dicom' }); // a folder of DICOM files (one or more series)
      }
    } else if (/\.nii(\.gz)?$/i.test(p)) items.push({ path: p, kind: 'nifti' });
    else if (/\.png$/i.test(p)) items.push({ path: p, kind: 'png' });
    else if (/\.dcm$/i.test(p)) throw new UsageError(`'${p}': pass the folder of a DICOM series, not a single file`);
    else throw new UsageError(`'${p}': unsupported input (expected .nii, .nii.gz, .png or a DICOM folder)`);
  }
  return items;
}

function stem(path: string): string {
  const b = basename(path);
  return b.replace(/\.nii\.gz$/i, '').replace(new RegExp(`${extname(b).replace('.', '\\.')}$`), '');
}

export async function detectCommand(o: DetectCommandOptions): Promise<DetectRecord[]> {
  if (!DETECT_METHODS.includes(o.method as DetectMethod)) {
    throw new UsageError(
      `unknown method '${o.method}' (available: ${DETECT_METHODS.join(', ')}; classifier and conditioned come with their packages)`,
    );
  }
  const { model } = await loadCheckpoint(o.checkpoint);
  try {
    if (model.className !== 'DiffusionModelUNet' && model.className !== 'UNetModel') {
      throw new UsageError(
        `checkpoint '${o.checkpoint}' holds a ${model.className}; ${o.method} needs an unconditional denoising UNet`,
      );
    }
    const items = selectShard(await expandInputs(o.inputs), o.shard, (i) => i.path);
    const thorOptions: ThorOptions = {
      rng: o.seed,
      noise: o.noise,
      ...(o.tStart !== undefined ? { tStart: o.tStart } : {}),
    };
    const unet = model as DenoisingModel;
    const method: SliceMethod =
      o.method === 'thor' ? (b) => thor(unet, b, thorOptions) : (b) => anoddpm(unet, b, thorOptions);
    const records: DetectRecord[] = [];
    const progress = createProgress(`detect ${o.method}`, items.length, { quiet: o.quiet });
    for (const [n, item] of items.entries()) {
      const t0 = Date.now();
      const name = stem(item.path);
      if (item.kind === 'png') {
        const img = await readPngFile(item.path);
        const prep = prepareSlice(img, { size: o.size });
        const x = tf.tensor4d(prep.image.data, [1, o.size, o.size, 1]);
        const res = await method(x);
        const map = prep.restore({
          data: (await res.anomalyMap.data()) as Float32Array,
          width: o.size,
          height: o.size,
        });
        const reco = prep.restore({
          data: (await res.reconstruction.data()) as Float32Array,
          width: o.size,
          height: o.size,
        });
        tf.dispose([x, res.anomalyMap, res.reconstruction]);
        const outMap = join(o.out, `${name}_anomaly.png`);
        const outReco = join(o.out, `${name}_healthy.png`);
        await writePngFile(outMap, map, { bitDepth: 16 });
        await writePngFile(outReco, reco, { bitDepth: 16 });
        records.push({
          input: item.path,
          kind: 'png',
          score: res.score[0]!,
          outputs: [outMap, outReco],
          seconds: (Date.now() - t0) / 1000,
        });
      } else {
        const volumes: [string, Volume][] =
          item.kind === 'nifti'
            ? [[name, (await readNiftiFile(item.path)).volume]]
            : [...(await readDicomSeriesDir(item.path))].map(
                ([, v], i, all) => [all.length > 1 ? `${name}_series${i}` : name, v] as [string, Volume],
              );
        for (const [vname, volume] of volumes) {
          // Intensities to [0, 1]: 1st–99th percentile inside the nonzero (brain) mask.
          const normalized = percentileNormalize(volume, { mask: brainMaskFromNonzero(volume) });
          const res = await runSlicewise(normalized, method, { axis: o.axis, size: o.size, batchSize: o.batchSize });
          const outMap = join(o.out, `${vname}_anomaly.nii.gz`);
          const outReco = join(o.out, `${vname}_healthy.nii.gz`);
          await writeNiftiFile(outMap, res.anomalyMap);
          await writeNiftiFile(outReco, res.reconstruction);
          records.push({
            input: item.path,
            kind: 'volume',
            score: res.score,
            outputs: [outMap, outReco],
            seconds: (Date.now() - t0) / 1000,
          });
        }
      }
      progress.update(n + 1, { score: records.at(-1)!.score.toFixed(4) });
    }
    progress.stop();
    const shardSuffix = o.shard.count > 1 ? `.shard${o.shard.index}of${o.shard.count}` : '';
    await writeFileAtomic(
      join(o.out, `scores${shardSuffix}.json`),
      JSON.stringify({ method: o.method, checkpoint: o.checkpoint, seed: o.seed, records }, null, 2),
    );
    return records;
  } finally {
    model.dispose();
  }
}
