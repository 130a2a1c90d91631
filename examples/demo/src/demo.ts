/**
 * `npm run demo`: the one-command demo on the wasm backend, no network. Generates a phantom test
 * set, loads the weights from `examples/demo/weights/` (made by `npm run demo:train`), runs THOR
 * and the AnoDDPM baseline, and writes `out/report.md` with panels, ROC/PR plots and NIfTI maps.
 *
 *   npm run demo [-- --out DIR --weights DIR --diseased 8 --healthy 4 --volumes 3 --seed 7 --t-start 350 --thor-stride 1]
 */
import { parseArgs } from 'node:util';
import { useBackend } from '@adx/diffusion-core';
import { OUT_DIR } from './paths.js';
import { runDemo } from './pipeline.js';

function int(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer, got '${v}'`);
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      out: { type: 'string' },
      weights: { type: 'string' },
      diseased: { type: 'string' },
      healthy: { type: 'string' },
      seed: { type: 'string' },
      't-start': { type: 'string' },
      'thor-stride': { type: 'string' },
      volumes: { type: 'string' },
    },
  });
  const t0 = performance.now();
  const info = await useBackend('wasm');
  console.log(`backend: ${info.name}`);
  const summary = await runDemo({
    outDir: values.out ?? OUT_DIR,
    weightsDir: values.weights,
    diseased: int('diseased', values.diseased, 8),
    healthy: int('healthy', values.healthy, 4),
    seed: int('seed', values.seed, 7),
    tStart: int('t-start', values['t-start'], 350),
    thorStride: Math.max(1, int('thor-stride', values['thor-stride'], 1)),
    testVolumes: Math.max(1, int('volumes', values.volumes, 3)),
  });
  for (const m of summary.methods) console.log(`  ${m.method.padEnd(8)} ${m.seconds.toFixed(1)} s`);
  console.log(`report: ${summary.report} (total ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
