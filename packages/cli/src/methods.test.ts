/**
 * `adx train` (classifier, conditioned; folder data) and `adx detect` (classifier, conditioned) end
 * to end at toy scale: tiny networks, 1–2 optimiser steps, a few network calls.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '@adx/diffusion-core';
import { loadCheckpoint } from '@adx/diffusion-core/node';
import { createVolume } from '@adx/io-medical';
import { readNiftiFile, readPngFile, writeNiftiFile, writePngFile } from '@adx/io-medical/node';
import { stringify } from 'yaml';
import { main } from './cli.js';
import { loadConditionedCheckpoint } from './detect/engines.js';

const dir = mkdtempSync(join(tmpdir(), 'adx-cli-methods-'));
beforeAll(async () => {
  await useBackend('wasm'); // so that tensor counts can be taken before the first command
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(args: string[]) {
  let out = '';
  let err = '';
  const code = await main(args, { stdout: (s) => (out += s), stderr: (s) => (err += s) });
  return { code, out, err };
}

function writeConfig(name: string, config: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, name.endsWith('.json') ? JSON.stringify(config) : stringify(config));
  return path;
}

// guided-diffusion networks at 16² (GroupNorm32 needs multiples of 32 channels).
const body = {
  imageSize: 16,
  inChannels: 1,
  modelChannels: 32,
  numResBlocks: 1,
  attentionResolutions: [],
  channelMult: [1, 1],
};
const classifierConfig = {
  method: 'classifier',
  unet: { className: 'UNetModel', ...body, outChannels: 2, numClasses: 2 },
  classifier: { className: 'EncoderUNetModel', ...body, outChannels: 2, pool: 'adaptive' },
  data: { count: 6, size: 16, contrast: 't1', diseasedFraction: 0.5, seed: 1, lesionTypes: ['tumour', 'stroke'] },
  // with the classifier recipe of @adx/guidance-classifier (configs/demo/classifier.yaml)
  training: { steps: 1, batchSize: 2, lr: 0.001, seed: 1, classWeights: [3, 1], maxTimestep: 300, flip: true },
};
const conditionedConfig = {
  method: 'conditioned',
  unet: { imageSize: 16, modelChannels: 32, numResBlocks: 1, channelMult: [1, 2], numHeadChannels: 32 },
  encoder: { block: 'BasicBlock', layers: [1, 1, 1, 1], stemWidth: 8, stagePlanes: [8, 8, 8, 8], outFeatures: 16 },
  data: { volumes: 2, size: 16, depth: 4, contrast: 't2', seed: 'test' },
  training: { steps: 1, batchSize: 2, lr: 0.001, seed: 5 },
};

/** A 10×12×3 volume with a non-trivial affine and a 20×14 PNG: the geometry every map must keep. */
async function writeInputs(sub: string) {
  const inputs = join(dir, sub);
  const data = new Float32Array(10 * 12 * 3).map((_, i) => (i % 7) / 7);
  const affine = [
    [1.5, 0, 0, -7],
    [0, 1.5, 0, -9],
    [0, 0, 4, 2],
    [0, 0, 0, 1],
  ];
  await writeNiftiFile(join(inputs, 'sub01.nii.gz'), createVolume({ data, shape: [10, 12, 3], affine }));
  const png = new Float32Array(20 * 14).map((_, i) => ((i * 13) % 11) / 11);
  await writePngFile(join(inputs, 'slice.png'), { data: png, width: 20, height: 14 });
  return { inputs, affine };
}

describe('adx train + detect: classifier guidance (Wolleb et al.)', () => {
  it('trains both networks into unet/ and classifier/, and detect writes maps in the input geometry', async () => {
    const out = join(dir, 'wolleb');
    const r = await run([
      '-q',
      'train',
      '-c',
      writeConfig('wolleb.yaml', classifierConfig),
      '-o',
      out,
      '--backend',
      'wasm',
    ]);
    expect(r.code, r.err).toBe(0);
    const summary = JSON.parse(r.out);
    expect(summary.method).toBe('classifier');
    expect(Object.keys(summary.networks)).toEqual(['unet', 'classifier']);
    expect(summary.data.slices).toBe(6);
    expect(summary.data.diseased).toBeGreaterThan(0);
    expect(summary.data.diseased).toBeLessThan(6);
    for (const n of Object.values(summary.networks) as { steps: number; finalLoss: number }[]) {
      expect(n.steps).toBe(1);
      expect(Number.isFinite(n.finalLoss)).toBe(true);
    }
    const unet = await loadCheckpoint(join(out, 'unet'));
    const clf = await loadCheckpoint(join(out, 'classifier'));
    expect([unet.model.className, clf.model.className]).toEqual(['UNetModel', 'EncoderUNetModel']);
    unet.model.dispose();
    clf.model.dispose();

    const { inputs, affine } = await writeInputs('in-wolleb');
    const args = ['-q', 'detect', 'classifier', '-m', out, '-i', inputs, '-o', join(dir, 'maps-wolleb')];
    const opts = [
      '--noise-level',
      '2',
      '--respacing',
      'ddim100',
      '--scale',
      '5',
      '--threshold',
      '0.5',
      '--backend',
      'cpu',
    ];
    await run([...args, ...opts, '--shard', '1/2']); // warm-up (PNG only: shard 1 of the 2 sorted inputs)
    const before = tf.memory().numTensors;
    const d = await run([...args, ...opts]);
    expect(d.code, d.err).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
    const map = await readNiftiFile(join(dir, 'maps-wolleb', 'sub01_anomaly.nii.gz'));
    expect(map.volume.shape).toEqual([10, 12, 3]);
    expect(map.volume.affine).toEqual(affine);
    const seg = await readNiftiFile(join(dir, 'maps-wolleb', 'sub01_segmentation.nii.gz'));
    expect(new Set(seg.volume.data)).toSatisfy((s: Set<number>) => [...s].every((v) => v === 0 || v === 1));
    const png = await readPngFile(join(dir, 'maps-wolleb', 'slice_anomaly.png'));
    expect([png.width, png.height]).toEqual([20, 14]);
    const scores = JSON.parse(readFileSync(join(dir, 'maps-wolleb', 'scores.json'), 'utf8'));
    expect(scores.records.map((x: { input: string }) => x.input.split('/').pop()).sort()).toEqual([
      'slice.png',
      'sub01.nii.gz',
    ]);
    expect(existsSync(join(dir, 'maps-wolleb', 'scores.shard1of2.json'))).toBe(true);
  });

  it('trains only the classifier when training.networks says so, from a BraTS-layout NIfTI folder', async () => {
    const data = join(dir, 'brats');
    expect(
      (await run(['-q', 'phantom', '-o', data, '--layout', 'brats', '--subjects', '2', '--size', '16,16,8'])).code,
    ).toBe(0);
    const cfg = {
      ...classifierConfig,
      data: { source: 'nifti', dir: data, layout: 'brats', sequence: 't2', size: 16 },
      training: { ...classifierConfig.training, networks: ['classifier'] },
    };
    const out = join(dir, 'clf-only');
    const before = tf.memory().numTensors;
    const r = await run(['-q', 'train', '-c', writeConfig('clf-only.yaml', cfg), '-o', out, '--backend', 'wasm']);
    expect(r.code, r.err).toBe(0);
    expect(tf.memory().numTensors).toBe(before); // networks, optimiser state and data all freed
    const summary = JSON.parse(r.out);
    expect(Object.keys(summary.networks)).toEqual(['classifier']);
    // 2 subjects × 8 axial slices with brain; the weak labels come from the seg files' lesion voxels.
    expect(summary.data.slices).toBeGreaterThan(0);
    expect(summary.data.diseased).toBeGreaterThan(0);
    expect(existsSync(join(out, 'classifier', 'model.safetensors'))).toBe(true);
    expect(existsSync(join(out, 'unet'))).toBe(false);
  });
});

describe('adx train + detect: conditioned DDPM (Behrendt et al.)', () => {
  it('trains DDPM and cDDPM into <variant>/ folders, and detect writes maps + segmentation in the input geometry', async () => {
    const out = join(dir, 'cddpm');
    const r = await run([
      '-q',
      'train',
      '-c',
      writeConfig('cddpm.yaml', conditionedConfig),
      '-o',
      out,
      '--backend',
      'wasm',
    ]);
    expect(r.code, r.err).toBe(0);
    expect(Object.keys(JSON.parse(r.out).networks)).toEqual(['DDPM', 'cDDPM']);
    const model = await loadConditionedCheckpoint(join(out, 'cDDPM'));
    expect(model.variant).toBe('cDDPM');
    expect(model.encoder).not.toBeNull();
    model.dispose();
    expect(existsSync(join(out, 'DDPM', 'encoder'))).toBe(false);

    const { inputs, affine } = await writeInputs('in-cddpm');
    const args = ['-q', 'detect', 'conditioned', '-m', join(out, 'cDDPM'), '-i', inputs, '-o', join(dir, 'maps-cddpm')];
    const opts = ['--levels', '250,500', '--threshold', '0.05', '--median', '3', '--backend', 'cpu'];
    await run([...args, ...opts, '--shard', '1/2']); // warm-up
    const before = tf.memory().numTensors;
    const d = await run([...args, ...opts]);
    expect(d.code, d.err).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
    for (const kind of ['anomaly', 'healthy', 'segmentation']) {
      const v = await readNiftiFile(join(dir, 'maps-cddpm', `sub01_${kind}.nii.gz`));
      expect(v.volume.shape).toEqual([10, 12, 3]);
      expect(v.volume.affine).toEqual(affine);
    }
    const png = await readPngFile(join(dir, 'maps-cddpm', 'slice_healthy.png'));
    expect([png.width, png.height]).toEqual([20, 14]);
    const parent = await run(['detect', 'conditioned', '-m', out, '-i', inputs, '-o', join(dir, 'x')]);
    expect(parent.code).toBe(2);
    expect(parent.err).toMatch(/variants DDPM, cDDPM|variants cDDPM, DDPM/);
    const wrong = await run([
      'detect',
      'conditioned',
      '-m',
      join(out, 'cDDPM'),
      '-i',
      inputs,
      '-o',
      join(dir, 'x'),
      '--scale',
      '3',
    ]);
    expect(wrong.code).toBe(2);
    expect(wrong.err).toMatch(/--scale applies to classifier, not conditioned/);
  });
});

describe('adx train: conditioned pDDPM and SparK pre-training', () => {
  it('trains pDDPM box-wise and a SparK-pre-trained cDDPM without leaking tensors', async () => {
    const cfg = {
      ...conditionedConfig,
      variants: ['pDDPM', 'cDDPM'],
      patchSize: 8, // a 2×2 grid of boxes at 16²
      // two ResNet stages: downsample ratio 8 → a 2×2 SparK patch grid at 16²
      encoder: { block: 'BasicBlock', layers: [1, 1], stemWidth: 8, stagePlanes: [8, 8], outFeatures: 16 },
      spark: { steps: 2, decoderWidth: 16, lr: 0.001 },
    };
    const out = join(dir, 'pddpm-spark');
    const before = tf.memory().numTensors;
    const r = await run(['-q', 'train', '-c', writeConfig('pddpm.yaml', cfg), '-o', out, '--backend', 'wasm']);
    expect(r.code, r.err).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
    const summary = JSON.parse(r.out);
    expect(Object.keys(summary.networks)).toEqual(['pDDPM', 'cDDPM']);
    expect(summary.networks.cDDPM.pretraining.steps).toBe(2);
    expect(Number.isFinite(summary.networks.cDDPM.pretraining.finalLoss)).toBe(true);
    expect(summary.networks.pDDPM.pretraining).toBeUndefined();
    const p = await loadConditionedCheckpoint(join(out, 'pDDPM'));
    expect([p.variant, p.config.patchSize, p.encoder]).toEqual(['pDDPM', 8, null]);
    p.dispose();
    const { inputs, affine } = await writeInputs('in-pddpm');
    const d = await run([
      '-q',
      'detect',
      'conditioned',
      '-m',
      join(out, 'pDDPM'),
      '-i',
      inputs,
      '-o',
      join(dir, 'maps-p'),
    ]);
    expect(d.code, d.err).toBe(0);
    const map = await readNiftiFile(join(dir, 'maps-p', 'sub01_anomaly.nii.gz'));
    expect([map.volume.shape, map.volume.affine]).toEqual([[10, 12, 3], affine]);
    const bad = await run(['train', '-c', writeConfig('bad-spark.json', { ...cfg, variants: ['DDPM'] }), '-o', out]);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/'spark'.*no cDDPM/);
  });
});

describe('adx train: folder data', () => {
  it('ddpm trains on the healthy slices of a THOR-layout PNG folder (labels from the split CSV)', async () => {
    const data = join(dir, 'png-slices');
    const ph = ['-q', 'phantom', '-o', data, '--layout', 'png-slices', '--subjects', '5', '--size', '16,16,8'];
    expect((await run([...ph, '--healthy-fraction', '0.6'])).code).toBe(0);
    const rows = readFileSync(join(data, 'splits', 'train.csv'), 'utf8')
      .trim()
      .split('\n')
      .slice(1);
    const header = readFileSync(join(data, 'splits', 'train.csv'), 'utf8')
      .split('\n')[0]!
      .split(',');
    const healthy = rows.filter((r) => r.split(',')[header.indexOf('label')] === '0').length;
    const cfg = {
      method: 'ddpm',
      model: {
        className: 'DiffusionModelUNet',
        inChannels: 1,
        outChannels: 1,
        numChannels: [32, 32],
        attentionLevels: [false, false],
        numResBlocks: 1,
        numHeadChannels: 32,
      },
      data: { source: 'png-slices', dir: data, size: 16 },
      training: { steps: 1, batchSize: 2, seed: 2 },
    };
    const r = await run(['-q', 'train', '-c', writeConfig('png.yaml', cfg), '-o', join(dir, 'png-ddpm')]);
    expect(healthy).toBeGreaterThan(0); // the seeded phantom: 1 healthy + 2 diseased training slices
    expect(healthy).toBeLessThan(rows.length);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out).data.slices).toBe(healthy);
  });

  it('conditioned trains on the healthy volumes of an IXI-layout NIfTI folder', async () => {
    const data = join(dir, 'ixi');
    expect(
      (await run(['-q', 'phantom', '-o', data, '--layout', 'ixi', '--subjects', '2', '--size', '16,16,8'])).code,
    ).toBe(0);
    const cfg = {
      ...conditionedConfig,
      variants: ['DDPM'],
      data: { source: 'nifti', dir: data, layout: 'ixi', size: 16 },
    };
    const before = tf.memory().numTensors;
    const r = await run(['-q', 'train', '-c', writeConfig('ixi.yaml', cfg), '-o', join(dir, 'ixi-ddpm')]);
    expect(r.code, r.err).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
    const summary = JSON.parse(r.out);
    expect(summary.data.volumes).toBe(2);
    expect(Object.keys(summary.networks)).toEqual(['DDPM']);
  });
});

describe('adx train --resume', () => {
  it('continues an interrupted run to the same weights as an uninterrupted one (ddpm and classifier)', async () => {
    const ddpm = {
      method: 'ddpm',
      model: {
        className: 'DiffusionModelUNet',
        inChannels: 1,
        outChannels: 1,
        numChannels: [32, 32],
        attentionLevels: [false, false],
        numResBlocks: 1,
        numHeadChannels: 32,
      },
      data: { count: 6, size: 16, seed: 4 },
      training: { steps: 3, batchSize: 2, lr: 0.001, seed: 7 },
    };
    const clf = { ...classifierConfig, training: { ...classifierConfig.training, steps: 3, networks: ['classifier'] } };
    for (const [name, cfg, file] of [
      ['ddpm', ddpm, 'model/model.safetensors'],
      ['clf', clf, 'classifier/model.safetensors'],
    ] as const) {
      const path = writeConfig(`resume-${name}.yaml`, cfg);
      const whole = join(dir, `resume-${name}-whole`);
      const split = join(dir, `resume-${name}-split`);
      expect((await run(['-q', 'train', '-c', path, '-o', whole])).code).toBe(0);
      // "killed" after 2 of 3 steps, then re-run with --resume (a re-queued job)
      expect((await run(['-q', 'train', '-c', path, '-o', split, '--steps', '2', '--resume'])).code).toBe(0);
      const r = await run(['-q', 'train', '-c', path, '-o', split, '--resume']);
      expect(r.code, r.err).toBe(0);
      expect(r.err).toMatch(/resumed at step 2/);
      expect(JSON.parse(r.out).steps).toBe(3);
      expect(readFileSync(join(split, file)).equals(readFileSync(join(whole, file))), name).toBe(true);
    }
  });
});

describe('adx train: config errors exit 2 and name the field', () => {
  const cases: [string, unknown, RegExp][] = [
    ['unknown method', { method: 'gan' }, /'method'.*ddpm \| classifier \| conditioned/],
    ['unknown top-level key', { ...classifierConfig, clasifier: {} }, /unknown key 'clasifier'/],
    ['unknown training key', { ...classifierConfig, training: { stepz: 3 } }, /'training': unknown key 'stepz'/],
    ['bad step count', { ...conditionedConfig, training: { steps: -1 } }, /'training\.steps' must be an integer/],
    ['bad networks', { ...classifierConfig, training: { networks: ['vae'] } }, /'training\.networks'/],
    [
      'bad EMA decay',
      { ...classifierConfig, training: { ema: 2 } },
      /'training\.ema' must be null, a decay in \(0, 1\)/,
    ],
    ['bad lesion type', { ...classifierConfig, data: { lesionTypes: ['glioma'] } }, /'data\.lesionTypes'/],
    ['bad class weights', { ...classifierConfig, training: { classWeights: [1] } }, /'training\.classWeights'/],
    ['missing network config', { ...classifierConfig, classifier: undefined }, /'classifier' is missing/],
    [
      'bad model config',
      { ...classifierConfig, unet: { ...classifierConfig.unet, numResBlok: 1 } },
      /'unet'.*numResBlok/,
    ],
    ['bad variant', { ...conditionedConfig, variants: ['XDDPM'] }, /'variants'/],
    ['bad data source', { ...conditionedConfig, data: { source: 'hdf5' } }, /'data\.source'/],
    ['bad data key', { ...classifierConfig, data: { cont: 3 } }, /'data': unknown key 'cont'/],
    [
      'size mismatch',
      { ...conditionedConfig, data: { ...conditionedConfig.data, size: 32 } },
      /'unet\.imageSize'.*'data\.size'/,
    ],
  ];
  it.each(cases)('%s', async (_, config, message) => {
    const r = await run(['train', '-c', writeConfig('bad.json', config), '-o', join(dir, 'bad')]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
  });
});
