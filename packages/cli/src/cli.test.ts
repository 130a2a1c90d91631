import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { DiffusionModelUNet, exportStateDict, writeSafetensors } from '@adx/diffusion-core';
import { loadCheckpoint, saveCheckpoint } from '@adx/diffusion-core/node';
import { readNiftiFile, writeNiftiFile, writePngFile } from '@adx/io-medical/node';
import { createVolume } from '@adx/io-medical';
import { main } from './cli.js';
import { parseShard, selectShard } from './shard.js';

const dir = mkdtempSync(join(tmpdir(), 'adx-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(args: string[]) {
  let out = '';
  let err = '';
  const code = await main(args, { stdout: (s) => (out += s), stderr: (s) => (err += s) });
  return { code, out, err };
}

const tinyConfig = {
  className: 'DiffusionModelUNet',
  inChannels: 1,
  outChannels: 1,
  numChannels: [32, 32],
  attentionLevels: [false, false],
  numResBlocks: 1,
  numHeadChannels: 32,
};

describe('--shard', () => {
  it('splits a cohort into disjoint, covering, balanced shards independent of input order', () => {
    const items = ['c', 'a', 'e', 'b', 'd'];
    const shards = [0, 1, 2].map((i) => selectShard(items, { index: i, count: 3 }));
    expect(shards).toEqual([['a', 'd'], ['b', 'e'], ['c']]);
    expect(selectShard([...items].reverse(), { index: 1, count: 3 })).toEqual(['b', 'e']);
    expect(parseShard('2/4')).toEqual({ index: 2, count: 4 });
    expect(() => parseShard('4/4')).toThrow(/0 ≤ i < N/);
    expect(() => parseShard('x')).toThrow(/i\/N/);
  });
});

describe('adx', () => {
  it('phantom writes a dataset in the requested layout', async () => {
    const out = join(dir, 'phantom');
    const r = await run(['-q', 'phantom', '--out', out, '--layout', 'ixi', '--subjects', '2', '--size', '16,16,8']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).files).toBeGreaterThan(0);
    expect(existsSync(join(out, 'phantom-dataset.json'))).toBe(true);
  });

  it('usage errors exit with 2 and name the problem', async () => {
    const bad = await run(['phantom', '--out', dir, '--layout', 'nope']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/layout/);
    const shard = await run(['detect', 'thor', '-m', dir, '-i', dir, '-o', dir, '--shard', '3/2']);
    expect(shard.code).toBe(2);
    expect(shard.err).toMatch(/--shard/);
    const missing = await run(['convert', '-i', join(dir, 'nope.pt'), '-c', join(dir, 'nope.json'), '-o', dir]);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/nope\.pt/);
  });

  it('convert turns a PyTorch-layout safetensors file + config into a loadable ADX checkpoint', async () => {
    const src = DiffusionModelUNet.fromConfig(tinyConfig, { seed: 4 });
    const sd = await exportStateDict(src);
    writeFileSync(join(dir, 'w.safetensors'), writeSafetensors(sd));
    writeFileSync(join(dir, 'config.json'), JSON.stringify(tinyConfig));
    const r = await run([
      '-q',
      'convert',
      '-i',
      join(dir, 'w.safetensors'),
      '-c',
      join(dir, 'config.json'),
      '-o',
      join(dir, 'ckpt'),
    ]);
    expect(r.code, r.err).toBe(0);
    const summary = JSON.parse(r.out);
    expect(summary.className).toBe('DiffusionModelUNet');
    expect(summary.missing).toEqual([]);
    const { model } = await loadCheckpoint(join(dir, 'ckpt'));
    const a = src.namedParameters().get('conv_in.conv.weight')!.variable;
    const b = model.namedParameters().get('conv_in.conv.weight')!.variable;
    expect(Array.from(await b.data())).toEqual(Array.from(await a.data()));
    model.dispose();
    src.dispose();
  });

  it('train (ddpm on phantom slices) writes a model folder that detect loads; config errors exit 2', async () => {
    const cfgPath = join(dir, 'train.yaml');
    writeFileSync(
      cfgPath,
      [
        'method: ddpm',
        'model: { className: DiffusionModelUNet, inChannels: 1, outChannels: 1, numChannels: [32, 32], attentionLevels: [false, false], numResBlocks: 1, numHeadChannels: 32 }',
        'data: { source: phantom, count: 4, size: 16, seed: 1 }',
        'training: { steps: 3, batchSize: 2, lr: 0.001, seed: 5 }',
      ].join('\n'),
    );
    const out = join(dir, 'trained');
    const r = await run(['-q', 'train', '-c', cfgPath, '-o', out, '--backend', 'wasm']);
    expect(r.code, r.err).toBe(0);
    const summary = JSON.parse(r.out);
    expect(summary.steps).toBe(3);
    expect(Number.isFinite(summary.finalLoss)).toBe(true);
    const { model } = await loadCheckpoint(join(out, 'model'));
    expect(model.className).toBe('DiffusionModelUNet');
    model.dispose();
    writeFileSync(
      join(dir, 'bad.yaml'),
      'method: ddpm\nmodel: { className: DiffusionModelUNet }\ntraining: { stepz: 3 }\n',
    );
    const bad = await run(['train', '-c', join(dir, 'bad.yaml'), '-o', out]);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/stepz/);
  });

  it('detect thor writes maps in the input geometry (NIfTI and PNG) and a scores file', async () => {
    const model = DiffusionModelUNet.fromConfig(tinyConfig, { seed: 5 });
    await saveCheckpoint(join(dir, 'unet'), model);
    model.dispose();
    const inputs = join(dir, 'inputs');
    const data = new Float32Array(10 * 12 * 3).map((_, i) => (i % 7) / 7);
    const affine = [
      [1.5, 0, 0, -7],
      [0, 1.5, 0, -9],
      [0, 0, 4, 2],
      [0, 0, 0, 1],
    ];
    await writeNiftiFile(join(inputs, 'sub01.nii.gz'), createVolume({ data, shape: [10, 12, 3], affine }));
    await writePngFile(join(inputs, 'slice.png'), { data: new Float32Array(20 * 14).fill(0.5), width: 20, height: 14 });
    const before = tf.memory().numTensors;
    const r = await run([
      '-q',
      'detect',
      'thor',
      '-m',
      join(dir, 'unet'),
      '-i',
      inputs,
      '-o',
      join(dir, 'maps'),
      '--size',
      '16',
      '--t-start',
      '3',
      '--backend',
      'cpu',
    ]);
    expect(r.code, r.err).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
    const records = JSON.parse(r.out).records as { input: string; outputs: string[]; score: number }[];
    expect(records.map((x) => x.input.split('/').pop()).sort()).toEqual(['slice.png', 'sub01.nii.gz']);
    const map = await readNiftiFile(join(dir, 'maps', 'sub01_anomaly.nii.gz'));
    expect(map.volume.shape).toEqual([10, 12, 3]);
    expect(map.volume.affine).toEqual(affine);
    expect(existsSync(join(dir, 'maps', 'slice_anomaly.png'))).toBe(true);
    const scores = JSON.parse(readFileSync(join(dir, 'maps', 'scores.json'), 'utf8'));
    expect(scores.records.length).toBe(2);
    expect(records.every((x) => Number.isFinite(x.score))).toBe(true);
  });
});
