// ESM consumer: only `import` of public entry points (resolves the packages' "import" conditions).
import * as tf from '@tensorflow/tfjs-core';
import * as core from '@adx/diffusion-core';
import * as coreNode from '@adx/diffusion-core/node';
import * as thorPkg from '@adx/guidance-thor';
import * as classifier from '@adx/guidance-classifier';
import * as conditioned from '@adx/guidance-conditioned';
import * as io from '@adx/io-medical';
import * as ioNode from '@adx/io-medical/node';
import * as metrics from '@adx/metrics';
import * as metricsNode from '@adx/metrics/node';
import * as cli from '@adx/cli';
import detection from './detection.cjs';

const entries = {
  '@adx/diffusion-core': core,
  '@adx/diffusion-core/node': coreNode,
  '@adx/guidance-thor': thorPkg,
  '@adx/guidance-classifier': classifier,
  '@adx/guidance-conditioned': conditioned,
  '@adx/io-medical': io,
  '@adx/io-medical/node': ioNode,
  '@adx/metrics': metrics,
  '@adx/metrics/node': metricsNode,
  '@adx/cli': cli,
};
const result = await detection.runDetection(
  { tf, core, coreNode, thorPkg, io, metrics, entries },
  process.argv[2],
  'esm',
);
console.log(JSON.stringify(result));
