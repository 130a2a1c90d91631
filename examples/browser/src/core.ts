/**
 * The browser demo's pipeline, free of DOM code so that the end-to-end test can run the very same
 * steps in Node: load the THOR checkpoint from bytes, make or read a scan, normalise it, run THOR
 * slice-wise on the model grid and map the result back onto the scan's grid.
 */
import * as tf from '@tensorflow/tfjs-core';
import { deserializeCheckpoint, type DiffusionModelUNet } from '@adx/diffusion-core';
import {
  brainMaskFromNonzero,
  createVolume,
  extractSlices,
  generatePhantomSlices,
  generatePhantomVolume,
  percentileNormalize,
  prepareSlice,
  stackSlices,
  type Image2D,
  type Volume,
} from '@adx/io-medical';
import { thor, type ThorOptions } from '@adx/guidance-thor';

/** Files of an ADX checkpoint folder that the page fetches (relative to {@link MODEL_URL}). */
export const MODEL_FILES = ['config.json', 'model.safetensors', 'state.json'] as const;
/** Where the page finds the demo's THOR checkpoint (served by vite.config.ts from examples/demo/weights/thor/model). */
export const MODEL_URL = 'weights/thor/model/';
/** Where the page finds tfjs' wasm binaries (served by vite.config.ts). */
export const WASM_URL = 'tfjs-wasm/';

/** A browser-demo error naming what failed and why. */
export class BrowserDemoError extends Error {
  constructor(
    readonly subject: string,
    readonly problem: string,
  ) {
    super(`${subject}: ${problem}`);
    this.name = 'BrowserDemoError';
  }
}

/** The THOR settings the page exposes (everything else is THOR's published default). */
export interface ThorSettings {
  /** Noising level t_start (paper: 350). */
  tStart: number;
  /** Visit every `stride`-th timestep (1 = the full published chain of tStart + 1 UNet calls). */
  stride: number;
  /** Seed of ε0 and of every ancestral step. */
  seed: number;
}

/** The page's defaults: the paper's t_start with a 10× strided chain (36 UNet calls), so a slice takes seconds. */
export const DEFAULT_SETTINGS: ThorSettings = { tStart: 350, stride: 10, seed: 7 };

/** The options passed to `thor()`, in the page and in the test alike. */
export function thorOptions(s: ThorSettings, onStep?: ThorOptions['onStep']): ThorOptions {
  return { tStart: s.tStart, stride: s.stride, rng: s.seed, onStep };
}

export interface LoadedModel {
  model: DiffusionModelUNet;
  /** Slice size the model was trained on (`state.json` → `config.data.size`, written by `adx train`). */
  size: number;
}

/** Builds the THOR UNet from checkpoint file bytes (`config.json`, `model.safetensors`, `state.json`). */
export function modelFromFiles(files: Record<string, Uint8Array>, source: string): LoadedModel {
  const { model, state } = deserializeCheckpoint(files, source);
  if (model.className !== 'DiffusionModelUNet') {
    model.dispose();
    throw new BrowserDemoError(source, `holds a ${model.className}; THOR needs a DiffusionModelUNet`);
  }
  const size = (state as { config?: { data?: { size?: unknown } } } | undefined)?.config?.data?.size;
  if (typeof size !== 'number' || !Number.isInteger(size) || size < 8) {
    model.dispose();
    throw new BrowserDemoError(`${source}/state.json`, "no integer 'config.data.size' (was it written by adx train?)");
  }
  return { model: model as DiffusionModelUNet, size };
}

/** Fetches a checkpoint folder over HTTP (same origin) and builds the model. */
export async function fetchModel(baseUrl: string, fetchFn: typeof fetch = fetch): Promise<LoadedModel> {
  const files: Record<string, Uint8Array> = {};
  await Promise.all(
    MODEL_FILES.map(async (name) => {
      const url = new URL(name, baseUrl).href;
      const res = await fetchFn(url);
      if (!res.ok) throw new BrowserDemoError(url, `HTTP ${res.status} ${res.statusText}`);
      files[name] = new Uint8Array(await res.arrayBuffer());
    }),
  );
  return modelFromFiles(files, baseUrl);
}

/** A scan to analyse, with its ground-truth lesion mask when it is a phantom. */
export interface Scan {
  name: string;
  volume: Volume;
  mask?: Volume;
}

/**
 * One phantom slice exactly like the demo's test set (`generatePhantomSlices`, one lesion), as a
 * `[size, size, 1]` volume with the phantom's 200 mm field of view.
 */
export function phantomSlice(seed: number, size: number): Scan {
  const [s] = generatePhantomSlices({ count: 1, size, seed: `browser-${seed}`, diseasedFraction: 1 });
  const spacing = [200 / size, 200 / size, 1];
  const vol = (im: Image2D) => createVolume({ data: im.data, shape: [size, size, 1], spacing });
  return {
    name: `phantom slice (seed ${seed})`,
    volume: vol(s!.image),
    mask: vol({ ...s!.mask, data: Float32Array.from(s!.mask.data, (v) => (v > 0 ? 1 : 0)) }),
  };
}

/** A small phantom volume with a tumour, on the model's in-plane grid (200 mm field of view). */
export function phantomVolume(seed: number, size: number, depth = 12): Scan {
  const p = generatePhantomVolume({
    size: [size, size, depth],
    spacing: [200 / size, 200 / size, 200 / size],
    seed: `browser-volume-${seed}`,
    contrasts: ['t1'],
    lesions: ['tumour'],
  });
  return { name: `phantom volume (seed ${seed})`, volume: p.image, mask: p.mask };
}

/** Intensities to [0, 1]: 1st–99th percentile inside the nonzero region (the `adx detect` convention). */
export function normalizeScan(volume: Volume): Volume<Float32Array> {
  if (volume.shape.length > 3 && volume.shape.slice(3).some((d) => d > 1)) {
    throw new BrowserDemoError('scan', `4D volumes are not supported (shape [${volume.shape.join(', ')}])`);
  }
  const v3 = volume.shape.length > 3 ? { ...volume, shape: volume.shape.slice(0, 3) } : volume;
  return percentileNormalize(v3, { mask: brainMaskFromNonzero(v3) });
}

/** The `max` slices (along z) with the most nonzero voxels, in slice order. */
export function pickSlices(slices: readonly Image2D[], max: number): number[] {
  const filled = slices.map((s, i) => ({ i, n: s.data.reduce((a, v) => a + (v > 0 ? 1 : 0), 0) }));
  return filled
    .filter((f) => f.n > 0)
    .sort((a, b) => b.n - a.n || a.i - b.i)
    .slice(0, max)
    .map((f) => f.i)
    .sort((a, b) => a - b);
}

export interface Detection {
  /** Slice indices (axis 2) that were processed. */
  indices: number[];
  /** Model size (the model grid is `size × size`). */
  size: number;
  /** The model input batch, NHWC `[indices.length, size, size, 1]`, flattened. */
  modelInput: Float32Array;
  /** THOR's anomaly map on the model grid, same layout as `modelInput`. */
  modelMap: Float32Array;
  /** THOR's image-level score per processed slice (mean of its map). */
  scores: Float32Array;
  /** The anomaly map on the scan's grid (0 on unprocessed slices). */
  map: Volume<Float32Array>;
  /** The normalised scan the map belongs to. */
  scan: Volume<Float32Array>;
}

/**
 * THOR slice-wise on up to `maxSlices` axial slices of a normalised scan: pad to square, resize to
 * the model size (THOR's 2D pipeline), one batch, maps restored onto the scan's grid.
 */
export async function detect(
  model: LoadedModel,
  scan: Volume<Float32Array>,
  settings: ThorSettings,
  options: { maxSlices?: number; onStep?: ThorOptions['onStep'] } = {},
): Promise<Detection> {
  const { size } = model;
  const slices = extractSlices(scan, { axis: 2 });
  const indices = pickSlices(slices, options.maxSlices ?? 4);
  if (indices.length === 0) throw new BrowserDemoError('scan', 'every slice is empty (all voxels ≤ 0)');
  const prepared = indices.map((i) => prepareSlice(slices[i]!, { size }));
  const modelInput = new Float32Array(indices.length * size * size);
  prepared.forEach((p, k) => modelInput.set(p.image.data, k * size * size));
  const x = tf.tensor4d(modelInput, [indices.length, size, size, 1]);
  let modelMap: Float32Array;
  let scores: Float32Array;
  try {
    const res = await thor(model.model, x, thorOptions(settings, options.onStep));
    modelMap = (await res.anomalyMap.data()) as Float32Array;
    scores = res.score;
    tf.dispose([res.anomalyMap, res.reconstruction]);
  } finally {
    x.dispose();
  }
  const maps: Image2D[] = slices.map((s) => ({
    data: new Float32Array(s.width * s.height),
    width: s.width,
    height: s.height,
  }));
  indices.forEach((i, k) => {
    const cut = { data: modelMap.slice(k * size * size, (k + 1) * size * size), width: size, height: size };
    maps[i] = prepared[k]!.restore(cut);
  });
  return { indices, size, modelInput, modelMap, scores, map: stackSlices(maps, scan, { axis: 2 }), scan };
}
