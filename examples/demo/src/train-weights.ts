/**
 * Trains the demo's small models from the committed configs (`configs/demo/*.yaml`) by running the
 * `adx train` command of `@adx/cli` (its `main`, in process) once per config, into
 * `examples/demo/weights/<set>/`:
 *
 *   adx train -c configs/demo/thor.yaml       -o examples/demo/weights/thor       --backend wasm   # model/
 *   adx train -c configs/demo/classifier.yaml -o examples/demo/weights/classifier --backend wasm   # unet/, classifier/
 *   adx train -c configs/demo/cddpm.yaml      -o examples/demo/weights/cddpm      --backend wasm   # DDPM/, cDDPM/
 *
 *   npm run demo:train                                   # full runs, as configured
 *   npm run demo:train -- --steps-scale 0.01 --only thor # quick smoke run (1 % of the steps), one set
 *
 * Deterministic: every config fixes its data and training seeds.
 */
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { main as adx } from '@adx/cli';
import { readConfigStepsAndScale } from './train-config.js';
import { CONFIG_DIR, TRAIN_COMMAND, WEIGHTS_DIR, WEIGHT_SETS, type WeightSet } from './paths.js';

export interface TrainWeightsOptions {
  /** Folder that receives `<set>/…` (default `examples/demo/weights/`). */
  weightsDir?: string;
  /** Folder of the configs (default `configs/demo/`). */
  configDir?: string;
  /** Multiplies every config's `training.steps` (at least 1 step). Default 1. */
  stepsScale?: number;
  /** Which weight sets to train (default all). */
  sets?: WeightSet[];
  /** No progress output from `adx train`. */
  quiet?: boolean;
  /** Backend of `adx train --backend` (default wasm). */
  backend?: string;
  /** Receives each `adx train …` command line before it runs. */
  log?: (line: string) => void;
}

/** What one weight set's training reports (from the `adx train` JSON summary). */
export interface WeightSetSummary {
  out: string;
  steps: number;
  /** Final loss per network (`model`; `unet`, `classifier`; `DDPM`, `cDDPM`). */
  losses: Record<string, number>;
  imagesPerSecond: number;
  seconds: number;
}

interface AdxTrainSummary {
  out: string;
  steps: number;
  imagesPerSecond: number;
  seconds: number;
  networks: Record<string, { finalLoss: number }>;
}

/** The `adx train` arguments for one weight set. */
export function trainArgs(config: string, out: string, steps: number | undefined, backend = 'wasm'): string[] {
  return [
    'train',
    '-c',
    config,
    '-o',
    out,
    '--backend',
    backend,
    ...(steps === undefined ? [] : ['--steps', String(steps)]),
  ];
}

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** A path as written in a command run from the repository root (absolute when outside it). */
function fromRoot(p: string): string {
  if (!p.startsWith('/')) return p;
  const r = relative(REPO_ROOT, p);
  return r.startsWith('..') ? p : r;
}

export async function trainWeights(o: TrainWeightsOptions = {}): Promise<Record<string, WeightSetSummary>> {
  const weightsDir = o.weightsDir ?? WEIGHTS_DIR;
  const configDir = o.configDir ?? CONFIG_DIR;
  const out: Record<string, WeightSetSummary> = {};
  for (const set of o.sets ?? (Object.keys(WEIGHT_SETS) as WeightSet[])) {
    const config = join(configDir, WEIGHT_SETS[set]);
    const scale = o.stepsScale ?? 1;
    const steps = scale === 1 ? undefined : await readConfigStepsAndScale(config, scale);
    const args = [...(o.quiet ? ['-q'] : []), ...trainArgs(config, join(weightsDir, set), steps, o.backend)];
    o.log?.(`adx ${args.map(fromRoot).join(' ')}`);
    let stdout = '';
    let stderr = '';
    const code = await adx(args, {
      stdout: (s) => (stdout += s),
      stderr: (s) => {
        stderr += s;
        if (!o.quiet) process.stderr.write(s);
      },
    });
    if (code !== 0) throw new Error(`adx train (${set}) exited with ${code}: ${stderr.trim()}`);
    const s = JSON.parse(stdout) as AdxTrainSummary;
    out[set] = {
      out: s.out,
      steps: s.steps,
      losses: Object.fromEntries(Object.entries(s.networks).map(([k, n]) => [k, n.finalLoss])),
      imagesPerSecond: s.imagesPerSecond,
      seconds: s.seconds,
    };
  }
  return out;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'steps-scale': { type: 'string', default: '1' },
      out: { type: 'string' },
      only: { type: 'string' },
      backend: { type: 'string', default: 'wasm' },
      quiet: { type: 'boolean', default: false },
    },
  });
  const stepsScale = Number(values['steps-scale']);
  if (!(stepsScale > 0)) throw new Error(`--steps-scale must be a positive number, got '${values['steps-scale']}'`);
  const sets = values.only ? (values.only.split(',') as WeightSet[]) : undefined;
  for (const s of sets ?? []) if (!(s in WEIGHT_SETS)) throw new Error(`--only: unknown weight set '${s}'`);
  const args = [
    ...(stepsScale === 1 ? [] : [`--steps-scale ${stepsScale}`]),
    ...(sets ? [`--only ${sets.join(',')}`] : []),
  ];
  console.log(
    `reproduce: ${TRAIN_COMMAND}${args.length ? ` -- ${args.join(' ')}` : ''}   (configs: configs/demo/*.yaml)`,
  );
  const summaries = await trainWeights({
    weightsDir: values.out,
    stepsScale,
    quiet: values.quiet,
    sets,
    backend: values.backend,
    log: (line) => console.log(line),
  });
  for (const [set, s] of Object.entries(summaries)) {
    console.log(
      `${set}: ${s.steps} steps, final loss ${Object.entries(s.losses)
        .map(([k, v]) => `${k} ${v.toFixed(4)}`)
        .join(', ')}, ${s.imagesPerSecond.toFixed(2)} images/s, ${s.seconds.toFixed(1)} s -> ${s.out}`,
    );
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
