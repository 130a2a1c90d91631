/**
 * The `adx` program. Every command takes `--backend` and `--seed`; long work shows a progress bar
 * with ETA on stderr; results go to files and a JSON summary on stdout. Exit codes: 0 success,
 * 1 failure, 2 usage error.
 */
import { Argument, Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { AdxError, BACKEND_NAMES, useBackend, type BackendName } from '@adx/diffusion-core';
import { convertCommand } from './commands/convert.js';
import { DETECT_METHODS, detectCommand } from './commands/detect.js';
import { addBenchCommand } from './commands/bench.js';
import { addEvaluateCommand } from './commands/evaluate.js';
import { LAYOUTS, phantomCommand } from './commands/phantom.js';
import { trainCommand } from './commands/train.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError } from './errors.js';
import { parseShard } from './shard.js';

const int = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n)) throw new InvalidArgumentError(`${name} must be an integer`);
  return n;
};
const float = (name: string) => (v: string) => {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number`);
  return n;
};
const intList = (v: string) => {
  const parts = v.split(',').map(Number);
  if (parts.some((n) => !Number.isInteger(n))) throw new InvalidArgumentError('expected comma-separated integers');
  return parts;
};

function backendOption(): Option {
  return new Option('--backend <name>', 'tfjs backend').choices(['auto', ...BACKEND_NAMES]).default('wasm');
}

async function selectBackend(name: string, quiet: boolean): Promise<void> {
  const info = await useBackend(name as BackendName | 'auto');
  if (!quiet) process.stderr.write(`backend: ${info.name}\n`);
}

export interface Io {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

export function createProgram(
  io: Io = { stdout: (s) => process.stdout.write(s), stderr: (s) => process.stderr.write(s) },
): Command {
  const program = new Command('adx')
    .description('Diffusion-model anomaly detection for medical images (THOR, classifier guidance, cDDPM)')
    .version('0.0.0')
    .option('-q, --quiet', 'no progress output', false)
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
  const print = (value: unknown) => io.stdout(JSON.stringify(value, null, 2) + '\n');
  const quiet = () => Boolean(program.opts().quiet);

  program
    .command('phantom')
    .description('write a synthetic brain-MRI dataset (with lesions and masks) in a real dataset layout')
    .requiredOption('-o, --out <dir>', 'output folder')
    .addOption(new Option('--layout <layout>', 'on-disk layout').choices([...LAYOUTS]).default('brats'))
    .option('--subjects <n>', 'number of subjects', int('--subjects'), 6)
    .option('--size <x,y,z>', 'volume size', intList, [64, 64, 40])
    .option('--healthy-fraction <f>', 'fraction of healthy subjects (lesion layouts)', parseFloat)
    .option('--seed <n>', 'random seed', int('--seed'), 0)
    .action(async (o) => {
      const files = await phantomCommand({ ...o, healthyFraction: o.healthyFraction });
      print({ out: o.out, layout: o.layout, files: files.length });
    });

  program
    .command('train')
    .description(
      'train the networks of a method (ddpm | classifier | conditioned) from a JSON/YAML config into checkpoint folders',
    )
    .requiredOption('-c, --config <file>', 'training config (JSON or YAML)')
    .requiredOption('-o, --out <dir>', 'output folder (model/ for detect, trainer/ for resumable state)')
    .option('--steps <n>', 'override training.steps', int('--steps'))
    .option('--seed <n>', 'override training.seed', int('--seed'))
    .option('--resume', 'continue from the trainer state in <out>/trainer/ (starts at step 0 when there is none)')
    .addOption(backendOption())
    .action(async (o) => {
      await selectBackend(o.backend, quiet());
      print(
        await trainCommand({
          config: o.config,
          out: o.out,
          steps: o.steps,
          seed: o.seed,
          resume: Boolean(o.resume),
          quiet: quiet(),
          log: io.stderr,
        }),
      );
    });

  program
    .command('convert')
    .description('convert official PyTorch weights (.pt/.pth/.ckpt/.safetensors) into an ADX checkpoint folder')
    .requiredOption('-i, --input <file>', 'PyTorch checkpoint or safetensors file')
    .requiredOption('-c, --config <file>', 'model config (JSON or YAML) with className')
    .requiredOption('-o, --out <dir>', 'output checkpoint folder')
    .option('--key <path>', "path of the state dict inside the saved object, e.g. 'ema' or 'checkpoint.model'")
    .option('--strip-prefix <prefix>', "prefix to remove from keys, e.g. 'module.'")
    .option('--no-strict', 'allow missing/unexpected keys')
    .addOption(backendOption().default('cpu'))
    .action(async (o) => {
      await selectBackend(o.backend, quiet());
      print(
        await convertCommand({
          input: o.input,
          config: o.config,
          out: o.out,
          key: o.key,
          stripPrefix: o.stripPrefix,
          strict: o.strict,
        }),
      );
    });

  program
    .command('detect')
    .description('run an anomaly-detection method on NIfTI volumes, DICOM series folders or PNG slices')
    .addArgument(new Argument('<method>', 'detection method').choices([...DETECT_METHODS]))
    .requiredOption(
      '-m, --checkpoint <dir>',
      'checkpoint folder: the UNet (thor, ddpm-recon), the unet/ + classifier/ pair (classifier), a variant folder (conditioned)',
    )
    .requiredOption(
      '-i, --input <paths...>',
      'NIfTI files, PNG files, or folders (of NIfTI/PNG files, or of one DICOM series)',
    )
    .requiredOption('-o, --out <dir>', 'output folder for maps and scores')
    .option(
      '--size <n>',
      "model input size (slices are padded to square and resized; default: the model's imageSize or the size adx train used, else 128)",
      int('--size'),
    )
    .option('--batch-size <n>', 'slices per batch (conditioned: per network call)', int('--batch-size'), 8)
    .option('--axis <n>', 'slice axis of volumes', int('--axis'), 2)
    .option('--t-start <n>', 'thor / ddpm-recon: start noise level (default: method default)', int('--t-start'))
    .addOption(
      new Option('--noise <type>', 'noise type (thor/ddpm-recon default gaussian, conditioned simplex)').choices([
        'gaussian',
        'simplex',
      ]),
    )
    .option('--classifier <dir>', 'classifier: checkpoint of the noisy classifier (default <checkpoint>/classifier)')
    .option(
      '--noise-level <L>',
      'classifier: encoding/decoding steps L on the (respaced) schedule (default 500)',
      int('--noise-level'),
    )
    .option('--scale <s>', 'classifier: guidance scale s (default 100)', float('--scale'))
    .option('--respacing <spec>', "classifier: timestep respacing, e.g. 'ddim100' (default: all 1000 steps)")
    .addOption(new Option('--sampler <name>', 'classifier: sampler (default ddim)').choices(['ddim', 'ddpm']))
    .option('--levels <t,...>', "conditioned: noise levels (default: the model's, 250,500,750 for cDDPM)", intList)
    .option('--no-postprocess', 'conditioned: raw residual |x − x̂| as the map (no erosion/median)')
    .option('--erosion <n>', 'conditioned: brain-mask erosion iterations (default max(1, ⌊size/25⌋))', int('--erosion'))
    .option('--median <k>', 'conditioned: 3D median kernel (default 5, 0 = off)', int('--median'))
    .option(
      '--threshold <tau>',
      'also write a binary segmentation map > tau (conditioned: minus 3D components ≤ 7 voxels)',
      float('--threshold'),
    )
    .option('--shard <i/N>', 'process only shard i of N (Slurm arrays, indexed Jobs)')
    .option('--seed <n>', 'random seed', int('--seed'), 0)
    .addOption(backendOption())
    .action(async (method: string, o) => {
      const shard = parseShard(o.shard);
      await selectBackend(o.backend, quiet());
      const records = await detectCommand({
        method,
        checkpoint: o.checkpoint,
        inputs: o.input,
        out: o.out,
        seed: o.seed,
        size: o.size,
        batchSize: o.batchSize,
        axis: o.axis,
        tStart: o.tStart,
        noise: o.noise,
        classifier: o.classifier,
        noiseLevel: o.noiseLevel,
        scale: o.scale,
        respacing: o.respacing,
        sampler: o.sampler,
        levels: o.levels,
        postprocess: o.postprocess,
        erosion: o.erosion,
        median: o.median,
        threshold: o.threshold,
        shard,
        quiet: quiet(),
      });
      print({ method, out: o.out, shard: `${shard.index}/${shard.count}`, records });
    });

  addEvaluateCommand(program, { print, quiet });
  addBenchCommand(program, { print, quiet });

  return program;
}

/** Runs the CLI; resolves to the exit code (never calls process.exit itself). */
export async function main(argv: string[], io?: Io): Promise<number> {
  const program = createProgram(io);
  const err = io?.stderr ?? ((s: string) => process.stderr.write(s));
  try {
    await program.parseAsync(argv, { from: 'user' });
    return EXIT_OK;
  } catch (e) {
    if (e instanceof CommanderError) {
      return e.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    }
    if (e instanceof UsageError) {
      err(`adx: ${e.message}\n`);
      return EXIT_USAGE;
    }
    if (e instanceof AdxError || e instanceof Error) {
      err(`adx: ${e.name}: ${e.message}\n`);
      return EXIT_FAILURE;
    }
    err(`adx: ${String(e)}\n`);
    return EXIT_FAILURE;
  }
}
