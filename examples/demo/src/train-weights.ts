/**
 * Trains the demo's small models from the committed configs (`configs/demo/*.yaml`) with the
 * project's own trainer (`trainCommand` of `@adx/cli`, i.e. `adx train`) and writes ADX checkpoints
 * to `examples/demo/weights/<set>/model` (`saveCheckpoint` from `@adx/diffusion-core/node`).
 *
 *   npm run demo:train                         # full runs, as configured
 *   npm run demo:train -- --steps-scale 0.01   # quick smoke run (1 % of the steps)
 *
 * Deterministic: every config fixes its data and training seeds.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { useBackend } from '@adx/diffusion-core';
import { trainCommand, type TrainSummary } from '@adx/cli';
import { readConfigStepsAndScale } from './train-config.js';
import { trainWolleb } from './train-wolleb.js';
import { trainConditioned } from './conditioned.js';
import { CONFIG_DIR, TRAIN_COMMAND, WEIGHTS_DIR, WEIGHT_SETS, type WeightSet } from './paths.js';

export interface TrainWeightsOptions {
  /** Folder that receives `<set>/model` (default `examples/demo/weights/`). */
  weightsDir?: string;
  /** Folder of the configs (default `configs/demo/`). */
  configDir?: string;
  /** Multiplies every config's `training.steps` (at least 1 step). Default 1. */
  stepsScale?: number;
  /** Which weight sets to train (default all). */
  sets?: WeightSet[];
  quiet?: boolean;
}

/** What one weight set's training reports (the common part of `adx train` and the Wolleb trainer). */
export interface WeightSetSummary {
  out: string;
  steps: number;
  /** Final loss per network. */
  losses: Record<string, number>;
  imagesPerSecond: number;
  seconds: number;
}

export async function trainWeights(o: TrainWeightsOptions = {}): Promise<Record<string, WeightSetSummary>> {
  const weightsDir = o.weightsDir ?? WEIGHTS_DIR;
  const configDir = o.configDir ?? CONFIG_DIR;
  const out: Record<string, WeightSetSummary> = {};
  for (const set of o.sets ?? (Object.keys(WEIGHT_SETS) as WeightSet[])) {
    const config = join(configDir, WEIGHT_SETS[set]);
    const steps = await readConfigStepsAndScale(config, o.stepsScale ?? 1);
    const dir = join(weightsDir, set);
    if (set === 'thor') {
      // `adx train` (packages/cli): ε-MSE on healthy slices, THOR's schedule and augmentation.
      const s: TrainSummary = await trainCommand({ config, out: dir, steps, quiet: o.quiet });
      out[set] = { ...s, losses: { unet: s.finalLoss } };
    } else if (set === 'classifier') {
      const s = await trainWolleb(config, dir, steps);
      out[set] = { ...s, losses: { unet: s.unetLoss, classifier: s.classifierLoss } };
    } else {
      out[set] = await trainConditioned(config, dir, steps);
    }
  }
  return out;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'steps-scale': { type: 'string', default: '1' },
      out: { type: 'string' },
      only: { type: 'string' },
      quiet: { type: 'boolean', default: false },
    },
  });
  const stepsScale = Number(values['steps-scale']);
  if (!(stepsScale > 0)) throw new Error(`--steps-scale must be a positive number, got '${values['steps-scale']}'`);
  const sets = values.only ? (values.only.split(',') as WeightSet[]) : undefined;
  for (const s of sets ?? []) if (!(s in WEIGHT_SETS)) throw new Error(`--only: unknown weight set '${s}'`);
  const info = await useBackend('wasm');
  console.log(`backend: ${info.name}`);
  const args = [
    ...(stepsScale === 1 ? [] : [`--steps-scale ${stepsScale}`]),
    ...(sets ? [`--only ${sets.join(',')}`] : []),
  ];
  console.log(
    `reproduce: ${TRAIN_COMMAND}${args.length ? ` -- ${args.join(' ')}` : ''}   (configs: configs/demo/*.yaml)`,
  );
  const summaries = await trainWeights({ weightsDir: values.out, stepsScale, quiet: values.quiet, sets });
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
