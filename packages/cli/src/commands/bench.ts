/**
 * `adx bench`: per backend, UNet forward and training throughput per network family, seconds per
 * slice per detection method (short chains, extrapolated to the published chain lengths), and
 * memory; Markdown + JSON to `--out` (default `bench-results/`). See `../bench/run.ts`.
 *
 *   adx bench                                   # wasm, cpu (+ webgpu on a real GPU adapter), 32×32
 *   . tools/webgpu-env.sh && adx bench --backends wasm,webgpu
 *   adx bench --quick --backends cpu            # tiny sizes, one step each (a smoke test, not a measurement)
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { join } from 'node:path';
import { BACKEND_NAMES, type BackendName } from '@adx/diffusion-core';
import { writeFileAtomic } from '@adx/io-medical/node';
import { BENCH_FAMILIES, type BenchFamily } from '../bench/families.js';
import {
  BENCH_METHODS,
  BENCH_SECTIONS,
  runBench,
  type BenchMethod,
  type BenchOptions,
  type BenchResult,
  type BenchSection,
} from '../bench/run.js';
import { UsageError } from '../errors.js';

export interface BenchCommandOptions {
  backends?: string[];
  out?: string;
  quick?: boolean;
  size?: number;
  width?: number;
  batch?: number;
  steps?: number;
  cpuSteps?: number;
  minTime?: number;
  slices?: number;
  tStart?: number;
  classifierL?: number;
  families?: string[];
  methods?: string[];
  sections?: string[];
  quiet?: boolean;
  log?: (line: string) => void;
}

export interface BenchSummary {
  json: string;
  markdown: string;
  result: BenchResult;
}

const mib = (b: number) => (b / 2 ** 20).toFixed(0);
const fix = (v: number, d: number) => (Number.isFinite(v) ? v.toFixed(d) : String(v));

/** The Markdown report: one table per section, backends side by side in rows. */
export function benchToMarkdown(r: BenchResult): string {
  const o = r.options;
  const unavailable = r.backends.filter((b) => !b.available);
  return [
    '# adx bench',
    '',
    `${r.date}; ${r.machine.cpus} × ${r.machine.cpuModel || 'CPU'} (${r.machine.platform}), Node ${r.machine.node}; ` +
      `load average at start ${r.machine.loadavg.join(' / ')}. Total ${r.seconds.toFixed(0)} s.`,
    `Backends: ${r.backends.map((b) => (b.available ? `${b.name}` : `~~${b.name}~~`)).join(', ')}` +
      (unavailable.length ? ` (${unavailable.map((b) => `${b.name}: ${b.error}`).join('; ')})` : '') +
      '. Random weights (timings only).',
    '',
    `## UNet forward (batch ${o.batch}, ${o.size}×${o.size}×1, width ${o.width}; 1 warm-up, then ≥ ${o.minRuns} runs / ${o.minTime} s, read back)`,
    '',
    '| backend | family | params | median ms | min ms | images/s | peak tfjs MiB | peak RSS MiB | tensors before → after |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...r.forward.map(
      (x) =>
        `| ${x.backend} | ${x.family} | ${(x.params / 1e6).toFixed(2)} M | ${fix(x.medianMs, 1)} | ${fix(x.minMs, 1)} | ` +
        `${fix(x.imagesPerSecond, 2)} | ${mib(x.peakTfBytes)} | ${mib(x.peakRssBytes)} | ${x.tensorsBefore} → ${x.tensorsAfter} |`,
    ),
    '',
    `## Training (Trainer steps: augmentation off, Adam, loss read back; batch ${o.batch}; ${o.trainWarmup ? '1 warm-up step, then ' : 'no warm-up, '}${o.steps} steps, cpu ${o.cpuSteps})`,
    '',
    '| backend | family | steps | ms/step | images/s | final loss | peak tfjs MiB | peak RSS MiB | tensors before → after |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...r.train.map(
      (x) =>
        `| ${x.backend} | ${x.family} | ${x.steps} | ${fix(x.msPerStep, 0)} | ${fix(x.imagesPerSecond, 2)} | ${fix(x.finalLoss, 4)} | ` +
        `${mib(x.peakTfBytes)} | ${mib(x.peakRssBytes)} | ${x.tensorsBefore} → ${x.tensorsAfter} |`,
    ),
    '',
    `## Detection methods (${o.slices} slices in one batch, ${o.size}×${o.size}; SHORT chains, 1 warm-up run)`,
    '',
    'Extrapolated = measured s/slice × published passes / measured passes (linear in network passes; a rough guide).',
    '',
    '| backend | method | measured chain | s/slice | published setting | extrapolated s/slice | peak tfjs MiB | peak RSS MiB | tensors before → after |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...r.methods.map(
      (x) =>
        `| ${x.backend} | ${x.method} | ${x.chain} | ${fix(x.secondsPerSlice, 3)} | ${x.publishedSetting} | ` +
        `${fix(x.extrapolatedSecondsPerSlice, 1)} | ${mib(x.peakTfBytes)} | ${mib(x.peakRssBytes)} | ${x.tensorsBefore} → ${x.tensorsAfter} |`,
    ),
    '',
    `Process peaks over the run: RSS ${mib(r.peak.rssBytes)} MiB, tfjs ${mib(r.peak.tfBytes)} MiB.`,
    '',
  ].join('\n');
}

function positiveInt(name: string, v: number | undefined): void {
  if (v !== undefined && !(Number.isInteger(v) && v >= 1)) throw new UsageError(`${name} must be a positive integer`);
}

function pick<T extends string>(name: string, values: string[] | undefined, all: readonly T[]): T[] {
  if (!values) return [...all];
  for (const v of values) {
    if (!all.includes(v as T)) throw new UsageError(`${name}: unknown '${v}' (expected ${all.join(', ')})`);
  }
  return values as T[];
}

export async function benchCommand(o: BenchCommandOptions): Promise<BenchSummary> {
  const quick = o.quick ?? false;
  const backends = (o.backends ?? ['wasm', 'cpu', 'webgpu']).filter((b) => b !== '');
  for (const b of backends) {
    if (!(BACKEND_NAMES as readonly string[]).includes(b)) {
      throw new UsageError(`--backends: unknown backend '${b}' (expected ${BACKEND_NAMES.join(', ')})`);
    }
  }
  for (const [k, v] of Object.entries({
    '--size': o.size,
    '--batch': o.batch,
    '--steps': o.steps,
    '--cpu-steps': o.cpuSteps,
    '--slices': o.slices,
    '--t-start': o.tStart,
    '--classifier-l': o.classifierL,
  }))
    positiveInt(k, v);
  const width = o.width ?? 32;
  if (!(Number.isInteger(width) && width >= 32 && width % 32 === 0)) {
    throw new UsageError('--width must be a multiple of 32 (guided-diffusion GroupNorm uses 32 groups)');
  }
  const size = o.size ?? (quick ? 8 : 32);
  if (size % 4 !== 0 || size < 8) throw new UsageError('--size must be a multiple of 4 and ≥ 8 (two downsamplings)');
  const options: BenchOptions = {
    backends: backends as BackendName[],
    size,
    width,
    batch: o.batch ?? (quick ? 2 : 4),
    steps: o.steps ?? (quick ? 1 : 5),
    cpuSteps: o.cpuSteps ?? 1,
    minTime: o.minTime ?? (quick ? 0 : 2),
    minRuns: quick ? 1 : 3,
    trainWarmup: !quick,
    slices: o.slices ?? (quick ? 1 : 4),
    thorTStart: o.tStart ?? (quick ? 2 : 20),
    classifierL: o.classifierL ?? (quick ? 1 : 5),
    families: pick<BenchFamily>('--families', o.families, BENCH_FAMILIES),
    methods: pick<BenchMethod>('--methods', o.methods, BENCH_METHODS),
    sections: pick<BenchSection>('--sections', o.sections, BENCH_SECTIONS),
    softwareWebgpu: o.backends !== undefined,
    log: o.quiet ? () => {} : (o.log ?? ((l) => process.stderr.write(`bench: ${l}\n`))),
  };
  const result = await runBench(options);
  const out = o.out ?? 'bench-results';
  const markdown = join(out, 'bench.md');
  const json = join(out, 'bench.json');
  await writeFileAtomic(json, JSON.stringify(result, null, 2) + '\n');
  await writeFileAtomic(markdown, benchToMarkdown(result));
  return { json, markdown, result };
}

/** Registers `adx bench` on the program (kept here so cli.ts needs one line). */
export function addBenchCommand(
  program: Command,
  ctx: { print: (value: unknown) => void; quiet: () => boolean },
): void {
  const int = (name: string) => (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n)) throw new InvalidArgumentError(`${name} must be an integer`);
    return n;
  };
  const list = (v: string) => v.split(',').map((s) => s.trim());
  program
    .command('bench')
    .description(
      'benchmark per backend: UNet forward / training throughput per family, seconds per slice per method, memory (Markdown + JSON)',
    )
    .option(
      '--backends <list>',
      `comma-separated (${BACKEND_NAMES.join(', ')}; default wasm,cpu,webgpu with webgpu only on a hardware adapter); unavailable ones are listed and skipped`,
      list,
    )
    .option('-o, --out <dir>', 'output folder for bench.md and bench.json', 'bench-results')
    .option('--quick', 'tiny sizes and one step each (a smoke test, not a measurement)', false)
    .option('--size <n>', 'image size (default 32; quick 8)', int('--size'))
    .option('--width <n>', 'base channels of every family (multiple of 32)', int('--width'))
    .option('--batch <n>', 'batch of forward / training measurements (default 4)', int('--batch'))
    .option('--steps <n>', 'timed training steps (default 5)', int('--steps'))
    .option('--cpu-steps <n>', 'timed training steps on the cpu backend (default 1)', int('--cpu-steps'))
    .option('--min-time <s>', 'forward: time calls for at least this many seconds (default 2)', parseFloat)
    .option('--slices <n>', 'slices per method run (default 4)', int('--slices'))
    .option('--t-start <n>', 'THOR / AnoDDPM short-chain t_start (default 20; published 350)', int('--t-start'))
    .option(
      '--classifier-l <n>',
      'classifier guidance short L on ddim100 (default 5; published 500 of 1000)',
      int('--classifier-l'),
    )
    .addOption(new Option('--families <list>', `subset of ${BENCH_FAMILIES.join(', ')}`).argParser(list))
    .addOption(new Option('--methods <list>', `subset of ${BENCH_METHODS.join(', ')}`).argParser(list))
    .addOption(new Option('--sections <list>', `subset of ${BENCH_SECTIONS.join(', ')}`).argParser(list))
    .action(async (o) => {
      const s = await benchCommand({ ...o, quiet: ctx.quiet() } as BenchCommandOptions);
      ctx.print({
        json: s.json,
        markdown: s.markdown,
        backends: s.result.backends,
        seconds: s.result.seconds,
      });
    });
}
