/**
 * Shared pieces of the phantom benchmark scripts (`train.ts`, `phantom.ts`): the config file, the
 * intensity normalisation and the phantom slices. Not part of the published package.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { generatePhantomSlices, percentile, type Image2D, type PhantomSlice } from '@adx/io-medical';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const DEFAULT_CONFIG = fileURLToPath(new URL('../../../configs/thor-bench/phantom64.json', import.meta.url));
export const DEFAULT_WEIGHTS = fileURLToPath(new URL('./weights/phantom64', import.meta.url));

export interface BenchConfig {
  method: 'ddpm';
  model: Record<string, unknown>;
  data: { source: 'phantom'; count: number; size: number; contrast: 't1' | 't2' | 'flair' | 't1ce'; seed: number };
  training: {
    steps: number;
    batchSize: number;
    lr: number;
    seed: number;
    augment: boolean;
    ema: { decay: number } | null;
    gradClipNorm: number | null;
  };
  /** Stop after this much process CPU time (user + system) or this much wall time, whichever comes first. */
  bench: { maxCpuMinutes: number; maxMinutes: number; saveEvery: number };
}

export async function readBenchConfig(path = DEFAULT_CONFIG): Promise<BenchConfig> {
  return JSON.parse(await readFile(path, 'utf8')) as BenchConfig;
}

/** [0, 1] by the 1st/99th percentile of the nonzero (head) pixels, clipped — `adx train`/`adx detect`'s convention. */
export function normalize01(img: Image2D): Float32Array {
  const nz = img.data.filter((v) => v > 0);
  const lo = nz.length ? percentile(nz, 1) : 0;
  const hi = nz.length ? percentile(nz, 99) : 1;
  const out = new Float32Array(img.data.length);
  const span = hi > lo ? hi - lo : 1;
  for (let i = 0; i < out.length; i++) out[i] = Math.min(1, Math.max(0, (img.data[i]! - lo) / span));
  return out;
}

/** Healthy training slices (diseasedFraction 0). */
export function healthySlices(count: number, size: number, seed: number, contrast: BenchConfig['data']['contrast']) {
  return generatePhantomSlices({ count, size, seed, contrast, diseasedFraction: 0 }).map((s) => normalize01(s.image));
}

export type { PhantomSlice };
