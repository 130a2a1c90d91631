/**
 * `adx detect <method>`: run an anomaly-detection method (thor | ddpm-recon | classifier |
 * conditioned) on NIfTI volumes, DICOM series folders or PNG slices, and write maps in the input's
 * geometry (NIfTI for volumes, PNG for slices) plus a JSON file of scores. Inputs can be split across
 * workers with `--shard i/N`.
 */
import { readdir, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { brainMaskFromNonzero, percentileNormalize, type Volume } from '@adx/io-medical';
import {
  readDicomSeriesDir,
  readNiftiFile,
  readPngFile,
  writeFileAtomic,
  writeNiftiFile,
  writePngFile,
} from '@adx/io-medical/node';
import { UsageError } from '../errors.js';
import { createProgress } from '../progress.js';
import { selectShard, type Shard } from '../shard.js';
import { createEngine, DETECT_METHODS, type DetectMethod, type MethodOptions } from '../detect/engines.js';

export { DETECT_METHODS, type DetectMethod, type MethodOptions } from '../detect/engines.js';

export interface DetectCommandOptions extends MethodOptions {
  method: string;
  checkpoint: string;
  inputs: string[];
  out: string;
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
    throw new UsageError(`unknown method '${o.method}' (available: ${DETECT_METHODS.join(', ')})`);
  }
  // Method options given to another method are usage errors rather than silently ignored.
  const only: [keyof MethodOptions, string, DetectMethod[]][] = [
    ['tStart', '--t-start', ['thor', 'ddpm-recon']],
    ['classifier', '--classifier', ['classifier']],
    ['noiseLevel', '--noise-level', ['classifier']],
    ['scale', '--scale', ['classifier']],
    ['respacing', '--respacing', ['classifier']],
    ['sampler', '--sampler', ['classifier']],
    ['noise', '--noise', ['thor', 'ddpm-recon', 'conditioned']],
    ['levels', '--levels', ['conditioned']],
    ['erosion', '--erosion', ['conditioned']],
    ['median', '--median', ['conditioned']],
  ];
  for (const [key, flag, methods] of only) {
    if (o[key] !== undefined && !methods.includes(o.method as DetectMethod))
      throw new UsageError(`${flag} applies to ${methods.join(' / ')}, not ${o.method}`);
  }
  if (o.postprocess === false && o.method !== 'conditioned')
    throw new UsageError(`--no-postprocess applies to conditioned, not ${o.method}`);
  const items = selectShard(await expandInputs(o.inputs), o.shard, (i) => i.path);
  const engine = await createEngine(o.method as DetectMethod, o.checkpoint, o);
  try {
    const records: DetectRecord[] = [];
    const progress = createProgress(`detect ${o.method}`, items.length, { quiet: o.quiet });
    for (const [n, item] of items.entries()) {
      const t0 = Date.now();
      const name = stem(item.path);
      if (item.kind === 'png') {
        const res = await engine.slice(await readPngFile(item.path));
        const outputs = [join(o.out, `${name}_anomaly.png`), join(o.out, `${name}_healthy.png`)];
        await writePngFile(outputs[0]!, res.anomalyMap, { bitDepth: 16 });
        await writePngFile(outputs[1]!, res.reconstruction, { bitDepth: 16 });
        if (res.segmentation) {
          outputs.push(join(o.out, `${name}_segmentation.png`));
          await writePngFile(outputs[2]!, res.segmentation);
        }
        records.push({ input: item.path, kind: 'png', score: res.score, outputs, seconds: (Date.now() - t0) / 1000 });
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
          const res = await engine.volume(normalized, (done, total) =>
            progress.update(n, { input: vname, slices: `${done}/${total}` }),
          );
          const outputs = [join(o.out, `${vname}_anomaly.nii.gz`), join(o.out, `${vname}_healthy.nii.gz`)];
          await writeNiftiFile(outputs[0]!, res.anomalyMap);
          await writeNiftiFile(outputs[1]!, res.reconstruction);
          if (res.segmentation) {
            outputs.push(join(o.out, `${vname}_segmentation.nii.gz`));
            await writeNiftiFile(outputs[2]!, res.segmentation, { dataType: 'uint8' });
          }
          records.push({
            input: item.path,
            kind: 'volume',
            score: res.score,
            outputs,
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
    engine.dispose();
  }
}
