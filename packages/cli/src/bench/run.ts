/**
 * `adx bench`: per backend, (1) UNet forward throughput and (2) training throughput per network
 * family, (3) seconds per slice per detection method on short chains (with the published chain
 * length and a linear extrapolation to it), and (4) memory: peak `tf.memory().numBytes` and peak
 * process RSS per measurement, and live tensors before/after (equal = no leak).
 *
 * Timing rules follow `packages/diffusion-core/bench/{forward,train}.ts`: one warm-up call (kernel
 * compilation, first allocations), then timed calls; a forward ends when its output has been read
 * back (`await y.data()`), so GPU work is included.
 */
import * as tf from '@tensorflow/tfjs-core';
import { cpus, loadavg, platform } from 'node:os';
import { InMemoryDataset, SeededRNG, Trainer, useBackend, type BackendName } from '@adx/diffusion-core';
import { anoddpm, thor } from '@adx/guidance-thor';
import { detectWithClassifierGuidance } from '@adx/guidance-classifier';
import { detectConditioned } from '@adx/guidance-conditioned';
import {
  BENCH_FAMILIES,
  buildFamily,
  cddpmModel,
  guidedClassifier,
  guidedUNet,
  thorUNet,
  type BenchFamily,
} from './families.js';

export const BENCH_METHODS = ['thor', 'anoddpm', 'classifier', 'cddpm'] as const;
export type BenchMethod = (typeof BENCH_METHODS)[number];
export const BENCH_SECTIONS = ['forward', 'train', 'methods'] as const;
export type BenchSection = (typeof BENCH_SECTIONS)[number];

export interface BenchOptions {
  backends: BackendName[];
  /** Image size (square). */
  size: number;
  /** Base channels of every family (multiple of 32). */
  width: number;
  /** Batch of the forward and training measurements. */
  batch: number;
  /** Timed training steps (cpu: `cpuSteps`). */
  steps: number;
  cpuSteps: number;
  /** Forward: time calls until this many seconds have passed (at least `minRuns`). */
  minTime: number;
  minRuns: number;
  /** One untimed training step first (default true; `--quick` skips it, so its step time includes setup). */
  trainWarmup: boolean;
  /** Slices per method run (one batch). */
  slices: number;
  /** Short chains: THOR / AnoDDPM t_start, classifier-guidance L (on ddim100). */
  thorTStart: number;
  classifierL: number;
  families: readonly BenchFamily[];
  methods: readonly BenchMethod[];
  /** Sections to run (default all). */
  sections?: readonly BenchSection[];
  /**
   * Measure webgpu on a software adapter (SwiftShader: the GPU emulated on the CPU, ~100 s per
   * 32² forward on 2 loaded cores). Default false: such a backend is listed as skipped.
   */
  softwareWebgpu?: boolean;
  /** Progress lines. */
  log?: (line: string) => void;
}

export interface Memory {
  /** Peak `tf.memory().numBytes` during the measurement (sampled). */
  peakTfBytes: number;
  /** Peak resident set size of the process (sampled). */
  peakRssBytes: number;
  tensorsBefore: number;
  tensorsAfter: number;
}

export interface ForwardRow extends Memory {
  backend: string;
  family: BenchFamily;
  params: number;
  input: number[];
  runs: number;
  medianMs: number;
  minMs: number;
  imagesPerSecond: number;
}

export interface TrainRow extends Memory {
  backend: string;
  family: BenchFamily;
  batch: number;
  steps: number;
  msPerStep: number;
  imagesPerSecond: number;
  finalLoss: number;
}

export interface MethodRow extends Memory {
  backend: string;
  method: BenchMethod;
  slices: number;
  /** Network passes of the measured (short) run, in words. */
  chain: string;
  passesMeasured: number;
  /** Passes of the published setting (`publishedSetting`). */
  passesPublished: number;
  publishedSetting: string;
  seconds: number;
  secondsPerSlice: number;
  /** secondsPerSlice × passesPublished / passesMeasured: a linear extrapolation (per-step overheads scale too). */
  extrapolatedSecondsPerSlice: number;
}

export interface BenchBackend {
  name: string;
  available: boolean;
  kernelBackend?: string;
  /** WebGPU adapter description (vendor, architecture, …). */
  adapter?: Record<string, string>;
  error?: string;
}

export interface BenchResult {
  tool: 'adx bench';
  date: string;
  machine: { platform: string; cpus: number; cpuModel: string; node: string; loadavg: number[] };
  options: Omit<BenchOptions, 'log' | 'backends' | 'softwareWebgpu'> & { backends: string[] };
  backends: BenchBackend[];
  forward: ForwardRow[];
  train: TrainRow[];
  methods: MethodRow[];
  /** Process-wide peaks over the whole run. */
  peak: { rssBytes: number; tfBytes: number };
  seconds: number;
}

class MemoryProbe {
  peakTf = 0;
  peakRss = 0;
  readonly tensorsBefore = tf.memory().numTensors;
  constructor(private readonly global: { rss: number; tf: number }) {
    this.sample();
  }
  sample = (): void => {
    const t = tf.memory().numBytes;
    const r = process.memoryUsage().rss;
    this.peakTf = Math.max(this.peakTf, t);
    this.peakRss = Math.max(this.peakRss, r);
    this.global.tf = Math.max(this.global.tf, t);
    this.global.rss = Math.max(this.global.rss, r);
  };
  done(): Memory {
    this.sample();
    return {
      peakTfBytes: this.peakTf,
      peakRssBytes: this.peakRss,
      tensorsBefore: this.tensorsBefore,
      tensorsAfter: tf.memory().numTensors,
    };
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function benchForward(
  backend: string,
  family: BenchFamily,
  o: BenchOptions,
  peak: { rss: number; tf: number },
): Promise<ForwardRow> {
  const probe = new MemoryProbe(peak);
  const f = buildFamily(family, o.size, o.width);
  const x = new SeededRNG(2).rand([o.batch, o.size, o.size, 1]) as tf.Tensor4D;
  const once = async () => {
    const t0 = performance.now();
    const y = f.forward(x);
    await y.data();
    probe.sample();
    y.dispose();
    return performance.now() - t0;
  };
  const times: number[] = [];
  try {
    await once(); // warm-up: kernel compilation / weight upload
    const start = performance.now();
    while (times.length < o.minRuns || (performance.now() - start < o.minTime * 1000 && times.length < 50)) {
      times.push(await once());
    }
  } finally {
    x.dispose();
    f.dispose();
  }
  const med = median(times);
  return {
    backend,
    family,
    params: f.params,
    input: [o.batch, o.size, o.size, 1],
    runs: times.length,
    medianMs: med,
    minMs: Math.min(...times),
    imagesPerSecond: (1000 * o.batch) / med,
    ...probe.done(),
  };
}

async function benchTrain(
  backend: string,
  family: BenchFamily,
  o: BenchOptions,
  peak: { rss: number; tf: number },
): Promise<TrainRow> {
  const probe = new MemoryProbe(peak);
  const f = buildFamily(family, o.size, o.width);
  const steps = backend === 'cpu' ? o.cpuSteps : o.steps;
  const n = o.batch * 4;
  const data = new InMemoryDataset(
    { data: new SeededRNG(1).uniformArray(n * o.size * o.size), shape: [n, o.size, o.size, 1] },
    { batchSize: o.batch, seed: 1, ...(f.labels ? { labels: Array.from({ length: n }, (_, i) => i % 2) } : {}) },
  );
  const trainer = new Trainer({ objective: f.objective(), seed: 1 });
  try {
    const warm = o.trainWarmup ? 1 : 0;
    if (warm) await trainer.fit({ data, steps: 1, onProgress: probe.sample }); // warm-up step
    const t0 = performance.now();
    const r = await trainer.fit({ data, steps: warm + steps, onProgress: probe.sample });
    const ms = (performance.now() - t0) / steps;
    trainer.dispose();
    f.dispose();
    return {
      backend,
      family,
      batch: o.batch,
      steps,
      msPerStep: ms,
      imagesPerSecond: (1000 * o.batch) / ms,
      finalLoss: r.loss,
      ...probe.done(),
    };
  } catch (e) {
    trainer.dispose();
    f.dispose();
    throw e;
  }
}

/** Seconds per slice of one method on `slices` random-weight inputs (one batch), after a warm-up run. */
async function benchMethod(
  backend: string,
  method: BenchMethod,
  o: BenchOptions,
  peak: { rss: number; tf: number },
): Promise<MethodRow> {
  const probe = new MemoryProbe(peak);
  const S = o.size;
  const image = new SeededRNG(3).uniformArray(o.slices * S * S);
  const batch = () => tf.tensor4d(image, [o.slices, S, S, 1]);
  const disposeAll = (r: { [k: string]: unknown }) => {
    for (const v of Object.values(r)) if (v instanceof tf.Tensor) v.dispose();
  };
  let run: (short: boolean) => Promise<void>;
  let cleanup: () => void;
  let chain: string;
  let passesMeasured: number;
  let passesPublished: number;
  let publishedSetting: string;
  if (method === 'thor' || method === 'anoddpm') {
    const unet = thorUNet(o.width);
    const fn = method === 'thor' ? thor : anoddpm;
    run = async (short) => {
      const x = batch();
      try {
        const r = await fn(unet, x, {
          tStart: short ? 1 : o.thorTStart,
          rng: 0,
          ...(method === 'thor' ? { onStep: probe.sample } : {}),
        });
        probe.sample(); // results still alive
        disposeAll(r as unknown as Record<string, unknown>);
      } finally {
        x.dispose();
      }
    };
    cleanup = () => unet.dispose();
    passesMeasured = o.thorTStart + 1;
    passesPublished = 351;
    publishedSetting = 't_start = 350, full ancestral chain (Gaussian; both papers / the demo)';
    chain = `t_start = ${o.thorTStart}: ${passesMeasured} UNet passes`;
  } else if (method === 'classifier') {
    const unet = guidedUNet(S, o.width);
    const clf = guidedClassifier(S, o.width);
    run = async (short) => {
      const x = batch();
      try {
        const r = await detectWithClassifierGuidance(unet, clf, x, {
          noiseLevel: short ? 1 : o.classifierL,
          classifierScale: 10,
          timestepRespacing: 'ddim100',
          rng: 0,
        });
        probe.sample();
        disposeAll(r as unknown as Record<string, unknown>);
      } finally {
        x.dispose();
      }
    };
    cleanup = () => {
      unet.dispose();
      clf.dispose();
    };
    passesMeasured = 3 * o.classifierL;
    passesPublished = 3 * 500;
    publishedSetting = 'L = 500 on the 1000-step schedule (1000 UNet + 500 classifier-gradient passes)';
    chain = `L = ${o.classifierL} on ddim100: ${2 * o.classifierL} UNet + ${o.classifierL} classifier-gradient passes`;
  } else {
    const model = cddpmModel(S, o.width);
    run = async (short) => {
      const r = await detectConditioned(
        model,
        { data: image, shape: [o.slices, S, S] },
        { rng: 0, chunkSize: o.slices, ...(short ? { levels: [500] } : {}) },
      );
      void r;
      probe.sample();
    };
    cleanup = () => model.dispose();
    passesMeasured = 4;
    passesPublished = 4;
    publishedSetting = 'the published method (x̂₀ at t ∈ {250, 500, 750} + 1 encoder pass)';
    chain = '3 UNet + 1 encoder passes (x̂₀ ensemble, full method) + 3-D post-processing';
  }
  try {
    await run(true); // warm-up
    const t0 = performance.now();
    await run(false);
    const seconds = (performance.now() - t0) / 1000;
    cleanup();
    const secondsPerSlice = seconds / o.slices;
    return {
      backend,
      method,
      slices: o.slices,
      chain,
      passesMeasured,
      passesPublished,
      publishedSetting,
      seconds,
      secondsPerSlice,
      extrapolatedSecondsPerSlice: (secondsPerSlice * passesPublished) / passesMeasured,
      ...probe.done(),
    };
  } catch (e) {
    cleanup();
    throw e;
  }
}

export async function runBench(o: BenchOptions): Promise<BenchResult> {
  const log = o.log ?? (() => {});
  const t0 = performance.now();
  const peak = { rss: 0, tf: 0 };
  const result: BenchResult = {
    tool: 'adx bench',
    date: new Date().toISOString(),
    machine: {
      platform: platform(),
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? '',
      node: process.version,
      loadavg: loadavg().map((v) => Math.round(v * 100) / 100),
    },
    options: {
      size: o.size,
      width: o.width,
      batch: o.batch,
      steps: o.steps,
      cpuSteps: o.cpuSteps,
      minTime: o.minTime,
      minRuns: o.minRuns,
      trainWarmup: o.trainWarmup,
      slices: o.slices,
      thorTStart: o.thorTStart,
      classifierL: o.classifierL,
      families: [...o.families],
      methods: [...o.methods],
      sections: [...(o.sections ?? BENCH_SECTIONS)],
      backends: [...o.backends],
    },
    backends: [],
    forward: [],
    train: [],
    methods: [],
    peak: { rssBytes: 0, tfBytes: 0 },
    seconds: 0,
  };
  for (const name of o.backends) {
    try {
      const info = await useBackend(name);
      const software = Object.values(info.adapter ?? {}).some((v) => /swiftshader/i.test(v));
      if (software && !o.softwareWebgpu) {
        const error =
          'software adapter (SwiftShader, the GPU emulated on the CPU); name it in --backends to measure it anyway';
        result.backends.push({ name, available: false, adapter: info.adapter!, error });
        log(`${name}: skipped, ${error}`);
        continue;
      }
      result.backends.push({
        name,
        available: true,
        kernelBackend: info.kernelBackend,
        ...(info.adapter ? { adapter: info.adapter } : {}),
      });
    } catch (e) {
      result.backends.push({ name, available: false, error: (e as Error).message });
      log(`${name}: not available (${(e as Error).message})`);
      continue;
    }
    const run = (section: BenchSection) => !o.sections || o.sections.includes(section);
    for (const family of run('forward') ? o.families : []) {
      const r = await benchForward(name, family, o, peak);
      result.forward.push(r);
      log(`${name} forward ${family}: ${r.medianMs.toFixed(1)} ms (batch ${o.batch}, ${r.runs} runs)`);
    }
    for (const family of run('train') ? o.families : []) {
      const r = await benchTrain(name, family, o, peak);
      result.train.push(r);
      log(`${name} train ${family}: ${r.msPerStep.toFixed(0)} ms/step, ${r.imagesPerSecond.toFixed(2)} img/s`);
    }
    for (const method of run('methods') ? o.methods : []) {
      const r = await benchMethod(name, method, o, peak);
      result.methods.push(r);
      log(`${name} ${method}: ${r.secondsPerSlice.toFixed(3)} s/slice (${r.chain})`);
    }
  }
  result.peak = { rssBytes: peak.rss, tfBytes: peak.tf };
  result.seconds = (performance.now() - t0) / 1000;
  return result;
}

export { BENCH_FAMILIES };
