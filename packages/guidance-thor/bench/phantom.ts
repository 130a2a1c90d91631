/**
 * Phantom benchmark of THOR vs the AnoDDPM reconstruction baseline on one trained model
 * (`bench/weights/phantom64`, trained by `bench/train-phantom.ts` from `configs/thor-bench/phantom64.json`).
 *
 *   cd packages/guidance-thor
 *   nice -n 5 npx tsx --conditions=@adx/source bench/phantom.ts --phase=main     # methods, strided chain
 *   nice -n 5 npx tsx --conditions=@adx/source bench/phantom.ts --phase=full     # full vs strided chain
 *   . ../../tools/webgpu-env.sh && nice -n 5 npx tsx --conditions=@adx/source bench/phantom.ts --phase=timing
 *
 * Test data (never seen in training: other phantom seeds): `--lesion` 64² T1 slices that contain a
 * lesion (tumour, stroke-like or MS-like, with masks) and `--healthy` healthy slices, normalised
 * like the training slices. Metrics (`@adx/metrics`, THOR's brain protocol, thor.md §4): pooled
 * pixel AUPRC and oracle best Dice (101 thresholds) over all lesion slices and per lesion-size bin
 * — THOR's bins (3, 71], (71, 570], (570, 10000] px are defined at 128², so they are scaled by
 * the area ratio (64/128)² to the same physical sizes at 64²; false-positive pixels on the healthy
 * slices at the best-Dice threshold of all lesion slices; image-level AUROC of the scores (lesion
 * vs healthy slices); MAE/SSIM of the reconstructions; seconds per slice. Every method sees the same
 * ε0 and step noise (same RNG seed per batch).
 *
 * Phases: `main` (all methods, `--stride`), `full` (full 351-step chain vs `--stride` on the first
 * `--full` lesion slices), `timing` (s/slice per backend on `--timing-slices` slices, `--timing-stride`).
 * Writes `bench-results/thor-phantom-<phase>.json` and prints Markdown tables.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { SeededRNG, useBackend, type DiffusionModelUNet } from '@adx/diffusion-core';
import { loadCheckpoint } from '@adx/diffusion-core/node';
import { generatePhantomSlices } from '@adx/io-medical';
import {
  THOR_LESION_BINS,
  bestDiceOverGrid,
  linspace,
  rocAucScore,
  thorBrainProtocol,
  type LesionSizeBin,
  type ThorBrainCase,
} from '@adx/metrics';
import { anoddpm, thor, type ThorOptions, type ThorResult } from '../src/index.js';
import { DEFAULT_WEIGHTS, normalize01 } from './common.js';

const arg = (k: string, d: string) => process.argv.find((a) => a.startsWith(`--${k}=`))?.slice(k.length + 3) ?? d;
const phase = arg('phase', 'main') as 'main' | 'full' | 'timing';
const weights = arg('weights', DEFAULT_WEIGHTS);
const backend = arg('backend', 'wasm') as 'wasm' | 'cpu' | 'webgpu';
const nLesion = Number(arg('lesion', '48'));
const nHealthy = Number(arg('healthy', '16'));
const stride = Number(arg('stride', '10'));
const batch = Number(arg('batch', '8'));
const nFull = Number(arg('full', '4'));
const methodNames = arg('methods', 'thor-ssim,thor-none,anoddpm').split(',');
const timingBackends = arg('timing-backends', 'wasm,cpu,webgpu').split(',') as ('wasm' | 'cpu' | 'webgpu')[];
const timingSlices = Number(arg('timing-slices', '1'));
const timingStride = Number(arg('timing-stride', '70'));
const outDir = arg('out-dir', join(dirname(new URL(import.meta.url).pathname), '..', 'bench-results'));
const SIZE = 64;

/** THOR's 128² bins scaled to 64² by the area ratio, plus all lesion slices. */
const scale = (SIZE / 128) ** 2;
const BINS: LesionSizeBin[] = [
  { name: 'all', min: 0, max: Infinity },
  ...THOR_LESION_BINS.map((b) => ({ name: b.name, min: b.min * scale, max: b.max * scale })),
];

interface Slice {
  x: Float32Array;
  gt: Float32Array;
  area: number;
}

function testSlices(): { lesion: Slice[]; healthy: Slice[] } {
  const lesion: Slice[] = [];
  const raw = generatePhantomSlices({
    count: Math.ceil(nLesion * 1.5) + 4,
    size: SIZE,
    seed: 9001,
    diseasedFraction: 1,
  });
  for (const s of raw) {
    let area = 0;
    for (const v of s.mask.data) if (v > 0) area++;
    if (area > 0 && lesion.length < nLesion) lesion.push({ x: normalize01(s.image), gt: s.mask.data, area });
  }
  const healthy = generatePhantomSlices({ count: nHealthy, size: SIZE, seed: 9002, diseasedFraction: 0 }).map((s) => ({
    x: normalize01(s.image),
    gt: s.mask.data,
    area: 0,
  }));
  return { lesion, healthy };
}

type Method = (model: DiffusionModelUNet, x: tf.Tensor4D, o: ThorOptions) => Promise<ThorResult>;
const METHODS: Record<string, Method> = {
  'thor-ssim': (m, x, o) => thor(m, x, { ...o, perceptual: 'ssim' }),
  'thor-none': (m, x, o) => thor(m, x, { ...o, perceptual: 'none' }),
  anoddpm: (m, x, o) => anoddpm(m, x, o),
};

interface Output {
  maps: Float32Array[];
  recos: Float32Array[];
  scores: number[];
  seconds: number;
}

/** Runs `method` over `slices` in batches; batch b uses RNG seed 1000 + b for every method. */
async function runMethod(model: DiffusionModelUNet, method: Method, slices: Slice[], o: ThorOptions): Promise<Output> {
  const out: Output = { maps: [], recos: [], scores: [], seconds: 0 };
  const px = SIZE * SIZE;
  for (let b = 0; b * batch < slices.length; b++) {
    const part = slices.slice(b * batch, (b + 1) * batch);
    const data = new Float32Array(part.length * px);
    part.forEach((s, i) => data.set(s.x, i * px));
    const x = tf.tensor4d(data, [part.length, SIZE, SIZE, 1]);
    const t0 = performance.now();
    const res = await method(model, x, { ...o, rng: new SeededRNG(1000 + b) });
    const map = (await res.anomalyMap.data()) as Float32Array;
    const reco = (await res.reconstruction.data()) as Float32Array;
    out.seconds += (performance.now() - t0) / 1000;
    part.forEach((_, i) => {
      out.maps.push(map.slice(i * px, (i + 1) * px));
      out.recos.push(reco.slice(i * px, (i + 1) * px));
    });
    out.scores.push(...res.score);
    tf.dispose([x, res.anomalyMap, res.reconstruction]);
  }
  return out;
}

interface Row {
  method: string;
  stride: number;
  bins: Record<string, { n: number; auprc: number; dice: number; threshold: number }>;
  fpPixelsPerHealthySlice: number | null;
  imageAuroc: number | null;
  mae: number;
  ssim: number;
  secondsPerSlice: number;
}

function evaluate(
  name: string,
  strideUsed: number,
  lesion: Slice[],
  les: Output,
  healthy: Slice[],
  hea: Output | null,
): Row {
  const cases: ThorBrainCase[] = lesion.map((s, i) => ({
    id: String(i),
    map: { data: les.maps[i]!, shape: [SIZE, SIZE] },
    gt: { data: s.gt, shape: [SIZE, SIZE] },
    input: { data: s.x, shape: [SIZE, SIZE] },
    reconstruction: { data: les.recos[i]!, shape: [SIZE, SIZE] },
  }));
  const report = thorBrainProtocol(cases, { bins: BINS });
  const bins: Row['bins'] = {};
  let mae = NaN;
  let ssim = NaN;
  for (const bin of BINS) {
    const subset = `${bin.name} (${bin.min}, ${bin.max}]`;
    const get = (metric: string) => report.entries.find((e) => e.metric === metric && e.subset === subset);
    const ap = get('AUPRC');
    const dice = get('⌈DSC⌉');
    bins[bin.name] = {
      n: ap?.n ?? 0,
      auprc: ap?.value ?? NaN,
      dice: dice?.value ?? NaN,
      threshold: dice?.threshold ?? NaN,
    };
    if (bin.name === 'all') {
      mae = get('MAE')?.value ?? NaN;
      ssim = get('SSIM')?.value ?? NaN;
    }
  }
  let fp: number | null = null;
  let auroc: number | null = null;
  if (hea && healthy.length > 0) {
    // Threshold: the oracle best-Dice threshold over all lesion slices (THOR's `map > th`).
    const pooledMap = new Float32Array(lesion.length * SIZE * SIZE);
    const pooledGt = new Uint8Array(pooledMap.length);
    lesion.forEach((s, i) => {
      pooledMap.set(les.maps[i]!, i * SIZE * SIZE);
      for (let k = 0; k < s.gt.length; k++) pooledGt[i * SIZE * SIZE + k] = s.gt[k]! > 0 ? 1 : 0;
    });
    const th = bestDiceOverGrid(pooledMap, pooledGt, linspace(0, 1, 101), { epsilon: 1e-6 }).threshold;
    let count = 0;
    for (const m of hea.maps) for (const v of m) if (v > th) count++;
    fp = count / hea.maps.length;
    auroc = rocAucScore([...lesion.map(() => 1), ...healthy.map(() => 0)], [...les.scores, ...hea.scores]);
  }
  const n = lesion.length + (hea ? healthy.length : 0);
  return {
    method: name,
    stride: strideUsed,
    bins,
    fpPixelsPerHealthySlice: fp,
    imageAuroc: auroc,
    mae,
    ssim,
    secondsPerSlice: (les.seconds + (hea?.seconds ?? 0)) / n,
  };
}

const f = (v: number | null, d = 3) => (v === null || Number.isNaN(v) ? '—' : v.toFixed(d));
function printRows(rows: Row[]) {
  const names = BINS.map((b) => `${b.name} (n=${rows[0]?.bins[b.name]?.n ?? 0})`);
  console.log(
    `\n| method | stride | ${names.map((n) => `AUPRC ${n}`).join(' | ')} | ${names.map((n) => `⌈Dice⌉ ${n}`).join(' | ')} | FP px / healthy slice | image AUROC | MAE | SSIM | s/slice |`,
  );
  console.log(`|${' --- |'.repeat(2 + 2 * BINS.length + 5)}`);
  for (const r of rows) {
    console.log(
      `| ${r.method} | ${r.stride} | ${BINS.map((b) => f(r.bins[b.name]!.auprc)).join(' | ')} | ` +
        `${BINS.map((b) => f(r.bins[b.name]!.dice)).join(' | ')} | ${f(r.fpPixelsPerHealthySlice, 1)} | ` +
        `${f(r.imageAuroc)} | ${f(r.mae, 4)} | ${f(r.ssim)} | ${f(r.secondsPerSlice, 2)} |`,
    );
  }
}

async function loadModel(): Promise<DiffusionModelUNet> {
  const { model } = await loadCheckpoint(weights);
  return model as DiffusionModelUNet;
}

async function save(name: string, payload: unknown) {
  await mkdir(outDir, { recursive: true });
  const file = join(outDir, `thor-phantom-${name}.json`);
  await writeFile(file, JSON.stringify(payload, null, 2));
  console.log(`wrote ${file}`);
}

const meta = () => ({
  weights,
  backend: tf.getBackend(),
  date: new Date().toISOString(),
  note: 'measured on a shared 2-core machine under heavy load from other work (timings are upper bounds)',
});

if (phase === 'main') {
  await useBackend(backend);
  const model = await loadModel();
  const { lesion, healthy } = testSlices();
  console.log(
    `${lesion.length} lesion slices (areas ${Math.min(...lesion.map((s) => s.area))}–${Math.max(...lesion.map((s) => s.area))} px), ` +
      `${healthy.length} healthy, stride ${stride}, batch ${batch}, backend ${tf.getBackend()}`,
  );
  const rows: Row[] = [];
  for (const name of methodNames) {
    const m = METHODS[name];
    if (!m) throw new Error(`unknown method '${name}' (known: ${Object.keys(METHODS).join(', ')})`);
    const les = await runMethod(model, m, lesion, { stride });
    const hea = await runMethod(model, m, healthy, { stride });
    rows.push(evaluate(name, stride, lesion, les, healthy, hea));
    console.log(`${name}: ${(les.seconds + hea.seconds).toFixed(0)} s`);
    printRows(rows.slice(-1));
    await save('main', { ...meta(), stride, batch, bins: BINS, rows });
  }
  printRows(rows);
} else if (phase === 'full') {
  await useBackend(backend);
  const model = await loadModel();
  const lesion = testSlices().lesion.slice(0, nFull);
  console.log(`full chain vs stride ${stride} on ${lesion.length} lesion slices, backend ${tf.getBackend()}`);
  const rows: Row[] = [];
  for (const name of methodNames) {
    for (const s of [stride, 1]) {
      const les = await runMethod(model, METHODS[name]!, lesion, { stride: s });
      rows.push(evaluate(name, s, lesion, les, [], null));
      printRows(rows.slice(-1));
      await save('full', { ...meta(), slices: lesion.length, rows });
    }
  }
  printRows(rows);
} else {
  const { lesion } = testSlices();
  const slices = lesion.slice(0, timingSlices);
  const results: { backend: string; method: string; stride: number; unetCalls: number; secondsPerSlice: number }[] = [];
  for (const b of timingBackends) {
    try {
      await useBackend(b);
    } catch (e) {
      console.log(`${b}: unavailable (${(e as Error).message})`);
      continue;
    }
    const model = await loadModel();
    for (const name of ['thor-ssim', 'anoddpm']) {
      // Warm-up (kernel/shader compilation) on a 2-step chain, then the timed run.
      await runMethod(model, METHODS[name]!, slices, { tStart: 10, stride: 5 });
      const o = await runMethod(model, METHODS[name]!, slices, { stride: timingStride });
      const unetCalls = Math.floor(350 / timingStride) + 1;
      results.push({
        backend: b,
        method: name,
        stride: timingStride,
        unetCalls,
        secondsPerSlice: o.seconds / slices.length,
      });
      console.log(`${b} ${name}: ${(o.seconds / slices.length).toFixed(2)} s/slice (${unetCalls} UNet calls)`);
      await save('timing', { ...meta(), slices: slices.length, results });
    }
    model.dispose();
  }
}
