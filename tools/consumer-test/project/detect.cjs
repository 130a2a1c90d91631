// CommonJS consumer: only `require` of public entry points (resolves the packages' "require" conditions).
/* eslint-disable @typescript-eslint/no-require-imports -- this file checks the packages' CommonJS (require) entry points */
'use strict';
const tf = require('@tensorflow/tfjs-core');
const core = require('@adx/diffusion-core');
const coreNode = require('@adx/diffusion-core/node');
const thorPkg = require('@adx/guidance-thor');
const classifier = require('@adx/guidance-classifier');
const conditioned = require('@adx/guidance-conditioned');
const io = require('@adx/io-medical');
const ioNode = require('@adx/io-medical/node');
const metrics = require('@adx/metrics');
const metricsNode = require('@adx/metrics/node');
const cli = require('@adx/cli');
const { runDetection } = require('./detection.cjs');

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
runDetection({ tf, core, coreNode, thorPkg, io, metrics, entries }, process.argv[2], 'cjs').then(
  (result) => console.log(JSON.stringify(result)),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
