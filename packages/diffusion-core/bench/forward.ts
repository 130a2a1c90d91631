/**
 * Forward-pass benchmark: milliseconds per network forward on every available tfjs backend.
 *
 *   npm run bench -w @adx/diffusion-core                       # cpu, wasm, webgpu (if it initialises), tensorflow (if installed)
 *   npm run bench -w @adx/diffusion-core -- --backends=wasm --batch=4 --min-time=3
 *   . tools/webgpu-env.sh && npm run bench -w @adx/diffusion-core   # webgpu on SwiftShader in Node
 *
 * Prints a Markdown table and writes JSON to `<repo>/bench-results/forward.json` (`--out=` to change).
 * Each measurement: 1 warm-up forward (kernel compilation), then forwards until `--min-time`
 * seconds (default 2) and at least 3 runs; a forward ends when its output has been read back
 * (`await y.data()`), so GPU work is included. Reported: median and min ms per forward.
 */
import * as tf from '@tensorflow/tfjs-core';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, platform } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ConditionedUNetModel,
  DiffusionModelUNet,
  EncoderUNetModel,
  ResNetEncoder,
  SeededRNG,
  UNetModel,
  useBackend,
  type BackendInfo,
  type BackendName,
} from '../src/index.js';

interface Args {
  backends: BackendName[];
  batch: number;
  minTime: number;
  out: string;
  models: string[] | null;
}

function parseArgs(argv: string[]): Args {
  const get = (k: string) => argv.find((a) => a.startsWith(`--${k}=`))?.slice(k.length + 3);
  const here = dirname(fileURLToPath(import.meta.url));
  return {
    backends: (get('backends') ?? 'tensorflow,webgpu,wasm,cpu').split(',') as BackendName[],
    batch: Number(get('batch') ?? 1),
    minTime: Number(get('min-time') ?? 2),
    out: resolve(get('out') ?? resolve(here, '../../../bench-results/forward.json')),
    models: get('models')?.split(',') ?? null,
  };
}

interface Case {
  name: string;
  description: string;
  size: number;
  channels: number;
  build: () => { model: { numParameters(): number; dispose(): void }; run: (x: tf.Tensor4D) => tf.Tensor };
}

const S = 64;
const CASES: Case[] = [
  {
    name: 'thor-small',
    description: 'THOR DiffusionModelUNet, channels [32,64,64], attention [F,T,T], 1 res block, 64 head ch.',
    size: S,
    channels: 1,
    build: () => {
      const model = DiffusionModelUNet.fromConfig({
        spatialDims: 2,
        inChannels: 1,
        outChannels: 1,
        numChannels: [32, 64, 64],
        attentionLevels: [false, true, true],
        numResBlocks: 1,
        numHeadChannels: 64,
        normNumGroups: 32,
      });
      return { model, run: (x) => model.apply(x, 500) };
    },
  },
  {
    name: 'guided-unet-small',
    description:
      'guided-diffusion UNetModel (Wolleb), 32 ch × [1,2,2], 2 res blocks, attn at ds 4, learned sigma, 2 classes',
    size: S,
    channels: 1,
    build: () => {
      const model = UNetModel.fromConfig({
        imageSize: S,
        inChannels: 1,
        modelChannels: 32,
        outChannels: 2,
        numResBlocks: 2,
        attentionResolutions: [4],
        channelMult: [1, 2, 2],
        numClasses: 2,
        numHeads: 1,
      });
      return { model, run: (x) => model.apply(x, 500, { classLabels: new Array<number>(x.shape[0]).fill(0) }) };
    },
  },
  {
    name: 'guided-classifier-small',
    description: 'guided-diffusion EncoderUNetModel classifier, 32 ch × [1,2,2], scale-shift, updown, attention pool',
    size: S,
    channels: 1,
    build: () => {
      const model = EncoderUNetModel.fromConfig({
        imageSize: S,
        inChannels: 1,
        modelChannels: 32,
        outChannels: 2,
        numResBlocks: 2,
        attentionResolutions: [4],
        channelMult: [1, 2, 2],
        numHeadChannels: 32,
        useScaleShiftNorm: true,
        resblockUpdown: true,
        pool: 'attention',
      });
      return { model, run: (x) => model.apply(x, 500) };
    },
  },
  {
    name: 'cddpm-unet-small',
    description: "Behrendt's conditioned UNet, 32 ch × [1,2,2], 1 res block, middle attention, 128-d condition",
    size: S,
    channels: 1,
    build: () => {
      const model = ConditionedUNetModel.fromConfig({
        imageSize: [S, S],
        inChannels: 1,
        modelChannels: 32,
        outChannels: 1,
        numResBlocks: 1,
        attentionResolutions: [3, 6, 12],
        channelMult: [1, 2, 2],
        numClasses: 128,
        numHeadChannels: 32,
        useScaleShiftNorm: true,
        resblockUpdown: true,
        useNewAttentionOrder: true,
      });
      return {
        model,
        run: (x) => tf.tidy(() => model.apply(x, 499, { condition: tf.fill([x.shape[0], 128], 0.1) as tf.Tensor2D })),
      };
    },
  },
  {
    name: 'resnet50-w8',
    description: 'cDDPM condition encoder: torchvision ResNet-50, widths / 8, 1 channel → 128',
    size: S,
    channels: 1,
    build: () => {
      const model = ResNetEncoder.preset('resnet50', { inChannels: 1, outFeatures: 128, widthDivisor: 8 });
      return { model, run: (x) => model.forward(x) };
    },
  },
  {
    name: 'resnet18-full',
    description: 'torchvision ResNet-18, full width, 1 channel → 512',
    size: S,
    channels: 1,
    build: () => {
      const model = ResNetEncoder.preset('resnet18', { inChannels: 1, outFeatures: 512 });
      return { model, run: (x) => model.forward(x) };
    },
  },
];

interface Result {
  model: string;
  description: string;
  backend: BackendName;
  kernelBackend: string;
  input: number[];
  params: number;
  runs: number;
  medianMs: number;
  minMs: number;
  firstMs: number;
}

async function timeCase(c: Case, backend: BackendInfo, args: Args): Promise<Result> {
  const { model, run } = c.build();
  const x = new SeededRNG(0).randn([args.batch, c.size, c.size, c.channels]) as tf.Tensor4D;
  const once = async (): Promise<number> => {
    const t0 = performance.now();
    const y = run(x);
    await y.data();
    const ms = performance.now() - t0;
    y.dispose();
    return ms;
  };
  try {
    const firstMs = await once();
    const times: number[] = [];
    const start = performance.now();
    while (times.length < 3 || performance.now() - start < args.minTime * 1000) {
      times.push(await once());
      if (times.length >= 50) break;
    }
    times.sort((a, b) => a - b);
    return {
      model: c.name,
      description: c.description,
      backend: backend.name,
      kernelBackend: backend.kernelBackend,
      input: x.shape,
      params: model.numParameters(),
      runs: times.length,
      medianMs: times[Math.floor(times.length / 2)]!,
      minMs: times[0]!,
      firstMs,
    };
  } finally {
    x.dispose();
    model.dispose();
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  tf.env().set('IS_TEST', true); // no "install tfjs-node" banner
  const cases = CASES.filter((c) => !args.models || args.models.includes(c.name));
  const results: Result[] = [];
  const backends: (BackendInfo | { name: BackendName; error: string })[] = [];
  for (const name of args.backends) {
    let info: BackendInfo;
    try {
      info = await useBackend(name);
    } catch (e) {
      backends.push({ name, error: (e as Error).message });
      console.error(`skipping ${name}: ${(e as Error).message}`);
      continue;
    }
    backends.push(info);
    for (const c of cases) {
      const r = await timeCase(c, info, args);
      results.push(r);
      console.error(
        `${name.padEnd(10)} ${c.name.padEnd(24)} ${r.medianMs.toFixed(1)} ms (min ${r.minMs.toFixed(1)}, ${r.runs} runs)`,
      );
    }
  }
  const used = backends.filter((b): b is BackendInfo => !('error' in b));
  const header = `| model | params | input (NHWC) | ${used.map((b) => `${b.name} ms`).join(' | ')} |`;
  const lines = [header, `|${' --- |'.repeat(3 + used.length)}`];
  for (const c of cases) {
    const rs = used.map((b) => results.find((r) => r.model === c.name && r.backend === b.name));
    const first = rs.find((r) => r);
    if (!first) continue;
    lines.push(
      `| ${c.name} | ${(first.params / 1e6).toFixed(2)} M | ${first.input.join('×')} | ${rs
        .map((r) => (r ? `${r.medianMs.toFixed(1)} (min ${r.minMs.toFixed(1)})` : '–'))
        .join(' | ')} |`,
    );
  }
  const machine = {
    platform: platform(),
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? '',
    node: process.version,
  };
  console.log(
    `\nForward pass, batch ${args.batch}, median (min) ms per forward; ${machine.cpus} × ${machine.cpuModel}\n`,
  );
  console.log(lines.join('\n'));
  for (const b of backends) if ('error' in b) console.log(`\n${b.name}: not available (${b.error})`);
  mkdirSync(dirname(args.out), { recursive: true });
  writeFileSync(
    args.out,
    JSON.stringify({ date: new Date().toISOString(), machine, batch: args.batch, backends, results }, null, 2) + '\n',
  );
  console.log(`\nJSON: ${args.out}`);
}

await main();
