/**
 * The browser demo page: pick a scan (phantom slice, phantom volume or a NIfTI file), run THOR
 * with the demo's trained weights on WebGPU (wasm fallback) and show the anomaly map over the scan
 * with NiiVue. Everything happens in this tab; the only requests go to the page's own origin
 * (the app, the checkpoint and the wasm binaries).
 *
 * URL parameters (all optional): `backend=webgpu|wasm|cpu`, `source=phantom|phantom-volume`,
 * `seed`, `tStart`, `stride`, `slices`, and `autorun=1` to start at once (used by the e2e test).
 * The last result is exposed as `window.__adxResult` (plain arrays) for the test.
 */
import * as tf from '@tensorflow/tfjs-core';
import { NVImage, Niivue, SLICE_TYPE } from '@niivue/niivue';
import { readNifti, writeNifti, type Volume } from '@adx/io-medical';
import { chooseBackend, requestedBackend, type ChosenBackend } from './backend.js';
import {
  DEFAULT_SETTINGS,
  MODEL_URL,
  WASM_URL,
  detect,
  fetchModel,
  normalizeScan,
  phantomSlice,
  phantomVolume,
  type LoadedModel,
  type Scan,
  type ThorSettings,
} from './core.js';

/** What the page exposes after a run (plain JSON-able values). */
export interface AdxPageResult {
  /** `tf.getBackend()` during the run. */
  backend: string;
  requestedBackend: string;
  fallbackReason?: string;
  adapter?: Record<string, string>;
  source: string;
  settings: ThorSettings;
  /** Model grid size and processed slice indices. */
  size: number;
  indices: number[];
  /** Model input and anomaly map, NHWC `[indices.length, size, size, 1]` flattened. */
  input: number[];
  anomalyMap: number[];
  scores: number[];
  /** Mean of the per-slice scores. */
  score: number;
  seconds: number;
}

declare global {
  interface Window {
    __adxState?: 'loading' | 'ready' | 'running' | 'done' | 'error';
    __adxResult?: AdxPageResult;
    __adxError?: string;
  }
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);
const intParam = (name: string, fallback: number) => {
  const v = Number(params.get(name));
  return params.has(name) && Number.isInteger(v) && v >= 0 ? v : fallback;
};

const ui = {
  form: $<HTMLFormElement>('controls'),
  file: $<HTMLInputElement>('file'),
  seed: $<HTMLInputElement>('seed'),
  tStart: $<HTMLInputElement>('tStart'),
  stride: $<HTMLInputElement>('stride'),
  slices: $<HTMLInputElement>('slices'),
  run: $<HTMLButtonElement>('run'),
  backend: $<HTMLSpanElement>('backend'),
  progress: $<HTMLProgressElement>('progress'),
  status: $<HTMLSpanElement>('status'),
  score: $<HTMLSpanElement>('score'),
  details: $<HTMLSpanElement>('details'),
  error: $<HTMLParagraphElement>('error'),
  viewer: $<HTMLCanvasElement>('viewer'),
};

ui.seed.value = String(intParam('seed', DEFAULT_SETTINGS.seed));
ui.tStart.value = String(intParam('tStart', DEFAULT_SETTINGS.tStart));
ui.stride.value = String(intParam('stride', DEFAULT_SETTINGS.stride));
ui.slices.value = String(intParam('slices', 4));
const source0 = params.get('source');
if (source0 === 'phantom' || source0 === 'phantom-volume') {
  (ui.form.elements.namedItem('source') as RadioNodeList).value = source0;
}
ui.file.addEventListener('change', () => {
  (ui.form.elements.namedItem('source') as RadioNodeList).value = 'file';
});

function setState(state: NonNullable<Window['__adxState']>, status: string): void {
  window.__adxState = state;
  ui.status.textContent = status;
}

function fail(e: unknown): void {
  const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  window.__adxError = msg;
  ui.error.textContent = msg;
  setState('error', 'failed');
  ui.run.disabled = false;
}

const nv = new Niivue({ backColor: [0, 0, 0, 1], crosshairWidth: 0, isColorbar: true, show3Dcrosshair: false });

async function show(scan: Volume, map: Volume, maxValue: number, slice: number): Promise<void> {
  const buffer = (v: Volume) => {
    const bytes = writeNifti(v);
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  };
  // NVImage.loadFromUrl reads `buffer` directly (Niivue.loadVolumes would fetch `url`).
  const layers = await Promise.all([
    NVImage.loadFromUrl({
      url: 'scan.nii',
      name: 'scan.nii',
      buffer: buffer(scan),
      colormap: 'gray',
      cal_min: 0,
      cal_max: 1,
    }),
    NVImage.loadFromUrl({
      url: 'anomaly-map.nii',
      name: 'anomaly-map.nii',
      buffer: buffer(map),
      colormap: 'warm',
      opacity: 0.65,
      // Show the upper 80 % of the map's range; lower values stay transparent.
      cal_min: 0.2 * maxValue,
      cal_max: Math.max(maxValue, 1e-6),
    }),
  ]);
  while (nv.volumes.length > 0) nv.removeVolumeByIndex(0);
  for (const layer of layers) nv.addVolume(layer);
  nv.setSliceType(SLICE_TYPE.AXIAL);
  const nz = scan.shape[2] ?? 1;
  nv.scene.crosshairPos = [0.5, 0.5, (slice + 0.5) / nz];
  nv.drawScene();
}

async function readScan(source: string, model: LoadedModel, seed: number): Promise<Scan> {
  if (source === 'phantom') return phantomSlice(seed, model.size);
  if (source === 'phantom-volume') return phantomVolume(seed, model.size);
  const file = ui.file.files?.[0];
  if (!file) throw new Error('choose a .nii or .nii.gz file first');
  const { volume } = readNifti(new Uint8Array(await file.arrayBuffer()), { name: file.name });
  return { name: file.name, volume };
}

let model: LoadedModel | undefined;
let backend: ChosenBackend | undefined;

async function run(): Promise<void> {
  if (!model || !backend) return;
  ui.run.disabled = true;
  ui.error.textContent = '';
  window.__adxResult = undefined;
  window.__adxError = undefined;
  const settings: ThorSettings = {
    seed: Number(ui.seed.value),
    tStart: Number(ui.tStart.value),
    stride: Math.max(1, Number(ui.stride.value)),
  };
  const source = (ui.form.elements.namedItem('source') as RadioNodeList).value;
  try {
    setState('running', 'preparing the scan…');
    const scan = await readScan(source, model, settings.seed);
    const normalized = normalizeScan(scan.volume);
    const t0 = performance.now();
    ui.progress.value = 0;
    const det = await detect(model, normalized, settings, {
      maxSlices: Math.max(1, Number(ui.slices.value)),
      onStep: ({ index, total }) => {
        ui.progress.value = (index + 1) / total;
        ui.status.textContent = `THOR step ${index + 1}/${total} (${tf.getBackend()})`;
      },
    });
    const seconds = (performance.now() - t0) / 1000;
    const score = det.scores.reduce((a, b) => a + b, 0) / det.scores.length;
    let maxValue = 0;
    for (const v of det.modelMap) maxValue = Math.max(maxValue, v);
    const best = det.indices[det.scores.indexOf(Math.max(...det.scores))]!;
    ui.score.textContent = `score ${score.toFixed(4)}`;
    ui.details.textContent =
      `${scan.name}: ${det.indices.length} slice(s) at ${det.size}×${det.size}, t_start ${settings.tStart}, ` +
      `stride ${settings.stride}, seed ${settings.seed}, ${seconds.toFixed(1)} s on ${tf.getBackend()}`;
    await show(normalized, det.map, maxValue, best);
    window.__adxResult = {
      backend: tf.getBackend(),
      requestedBackend: backend.requested,
      fallbackReason: backend.fallbackReason,
      adapter: backend.info.adapter,
      source,
      settings,
      size: det.size,
      indices: det.indices,
      input: Array.from(det.modelInput),
      anomalyMap: Array.from(det.modelMap),
      scores: Array.from(det.scores),
      score,
      seconds,
    };
    ui.progress.value = 1;
    setState('done', 'done');
    ui.run.disabled = false;
  } catch (e) {
    fail(e);
  }
}

ui.form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  void run();
});

async function init(): Promise<void> {
  setState('loading', 'starting the backend…');
  await nv.attachToCanvas(ui.viewer);
  backend = await chooseBackend(requestedBackend(location.search), new URL(WASM_URL, location.href).href);
  const adapter = backend.info.adapter ? ` (${Object.values(backend.info.adapter).join(', ')})` : '';
  ui.backend.textContent =
    `backend: ${tf.getBackend()}${adapter}` +
    (backend.fallbackReason ? ` — WebGPU unavailable: ${backend.fallbackReason}` : '');
  setState('loading', 'loading the THOR weights…');
  model = await fetchModel(new URL(MODEL_URL, location.href).href);
  setState('ready', `ready: THOR UNet for ${model.size}×${model.size} slices`);
  ui.run.disabled = false;
  if (params.get('autorun') === '1') await run();
}

init().catch(fail);
