import * as tf from '@tensorflow/tfjs-core';
import { describeBackends, expectNoLeaks } from '@adx/test-utils';
import { describe, expect, it } from 'vitest';
import { DiffusionModelUNet } from '../models/monai-unet.js';
import { ConditionedUNetModel } from '../models/conditioned-unet.js';
import { ResNetEncoder } from '../models/resnet.js';
import { SeededRNG } from '../random/rng.js';
import { DDPMScheduler } from '../schedulers/ddpm.js';
import { thorAugmentation } from './augment.js';
import { InMemoryDataset, type BatchInput } from './data.js';
import { DiffusionObjective } from './objectives.js';
import { memoryCheckpointStore, Trainer, TrainingDivergedError, type ProgressEvent } from './trainer.js';
import { parseCheckpoint } from '../weights/checkpoint.js';
import { readCheckpointFiles, writeFolderAtomic } from '../node.js';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { folderStoreFrom } from './trainer.js';

/** A THOR-style MONAI UNet, tiny enough for the cpu backend's slow filter gradient. */
const tinyThor = (seed = 1) =>
  DiffusionModelUNet.fromConfig(
    {
      spatialDims: 2,
      inChannels: 1,
      outChannels: 1,
      numChannels: [4, 8],
      attentionLevels: [false, true],
      numResBlocks: 1,
      numHeadChannels: 8,
      normNumGroups: 4,
    },
    { seed },
  );

/** Smooth blobs in [0, 1] (a learnable image distribution), NHWC. */
function blobs(n: number, size: number, seed: number): { data: Float32Array; shape: [number, number, number, number] } {
  const rng = new SeededRNG(seed);
  const data = new Float32Array(n * size * size);
  for (let i = 0; i < n; i++) {
    const cx = size * (0.3 + 0.4 * rng.uniform());
    const cy = size * (0.3 + 0.4 * rng.uniform());
    const r = size * (0.15 + 0.1 * rng.uniform());
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++)
        data[i * size * size + y * size + x] = Math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * r * r));
  }
  return { data, shape: [n, size, size, 1] };
}

async function snapshot(vars: Record<string, tf.Variable>): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const [k, v] of Object.entries(vars)) out.set(k, Float32Array.from((await v.data()) as Float32Array));
  return out;
}

function expectIdentical(a: Map<string, Float32Array>, b: Map<string, Float32Array>): void {
  expect([...a.keys()]).toEqual([...b.keys()]);
  for (const [k, va] of a) {
    const vb = b.get(k)!;
    let same = va.length === vb.length;
    for (let i = 0; same && i < va.length; i++) same = Object.is(va[i], vb[i]);
    expect(same, `${k} differs`).toBe(true);
  }
}

/** Fixed-t, fixed-noise objective value on a batch (deterministic; the validation hook of the tests). */
async function fixedLoss(
  objective: DiffusionObjective,
  images: { data: Float32Array; shape: [number, number, number, number] },
) {
  const x = tf.tensor4d(images.data, images.shape);
  const t = Array.from({ length: images.shape[0] }, (_, i) => 100 + 100 * i);
  const l = tf.tidy(() =>
    tf.mean(objective.perSampleLoss({ image: x }, { rng: new SeededRNG(99), dropoutRng: new SeededRNG(0) }, t)),
  );
  const v = (await l.data())[0]!;
  tf.dispose([x, l]);
  return v;
}

describeBackends('Trainer', (backend) => {
  it('decreases the loss of a tiny THOR UNet on 8 images of 8×8 in 30 steps', async () => {
    const model = tinyThor(1);
    const objective = DiffusionObjective.thor(model, DDPMScheduler.fromPreset('thor'));
    const images = blobs(8, 8, 1);
    const data = new InMemoryDataset(images, { batchSize: 4, seed: 2 });
    const trainer = new Trainer({ objective, optimizer: { lr: 3e-3 }, seed: 3 });
    const before = await fixedLoss(objective, images);
    const events: ProgressEvent[] = [];
    const result = await trainer.fit({ data, steps: 30, onProgress: (e) => events.push(e), progressEvery: 10 });
    const after = await fixedLoss(objective, images);
    expect(result).toMatchObject({ step: 30, epoch: 15, stopped: 'steps' });
    expect(events.map((e) => e.step)).toEqual([10, 20, 30]);
    for (const e of events) {
      expect(e.totalSteps).toBe(30);
      expect(e.imagesPerSecond).toBeGreaterThan(0);
      expect(Number.isFinite(e.loss)).toBe(true);
    }
    expect(events[2]!.etaSeconds).toBe(0);
    expect(after).toBeLessThan(0.8 * before);
    // the x̂₀ reconstruction error at a fixed t (the validation metric) improves as well
    const x = tf.tensor4d(images.data, images.shape);
    const rec = await objective.reconstructionError({ image: x }, { timestep: 300, seed: 1 });
    expect(rec).toBe(await objective.reconstructionError({ image: x }, { timestep: 300, seed: 1 }));
    x.dispose();
    const fresh = DiffusionObjective.thor(tinyThor(1), DDPMScheduler.fromPreset('thor'));
    const x2 = tf.tensor4d(images.data, images.shape);
    expect(rec).toBeLessThan(await fresh.reconstructionError({ image: x2 }, { timestep: 300, seed: 1 }));
    x2.dispose();
    fresh.nets.model.dispose();
    trainer.dispose();
    model.dispose();
  });

  it('keeps the number of live tensors constant over many steps (EMA, AdamW, clipping, augmentation)', async () => {
    const model = tinyThor(2);
    const objective = DiffusionObjective.thor(model, DDPMScheduler.fromPreset('thor'));
    const data = new InMemoryDataset(blobs(4, 8, 2), { batchSize: 2, seed: 1 });
    const trainer = new Trainer({
      objective,
      optimizer: { type: 'adamw', lr: 1e-3 },
      ema: { decay: 0.99 },
      gradClipNorm: 1,
      augment: thorAugmentation(),
      seed: 1,
    });
    await trainer.fit({ data, steps: 2 });
    await expectNoLeaks(() => trainer.fit({ data, steps: 10 }));
    expect(trainer.step).toBe(10);
    trainer.dispose();
    model.dispose();
  });

  if (backend === 'wasm') {
    it('trains the cDDPM UNet and its ResNet encoder jointly (x0-L1, simplex noise)', async () => {
      const encoder = new ResNetEncoder(
        { block: 'BasicBlock', layers: [1], stemWidth: 4, stagePlanes: [4], outFeatures: 8 },
        new SeededRNG(2),
      );
      const unet = ConditionedUNetModel.fromConfig(
        {
          imageSize: [8, 8],
          inChannels: 1,
          modelChannels: 32,
          outChannels: 1,
          numResBlocks: 1,
          attentionResolutions: [2],
          dropout: 0,
          channelMult: [1, 1],
          numClasses: 8,
          numHeadChannels: 32,
          useScaleShiftNorm: true,
          resblockUpdown: true,
        },
        { seed: 1 },
      );
      const objective = DiffusionObjective.behrendt(unet, DDPMScheduler.fromPreset('behrendt'), encoder);
      const trainer = new Trainer({ objective, optimizer: { lr: 1e-3 }, seed: 4 });
      expect(Object.keys(trainer.parameters).some((k) => k.startsWith('encoder.'))).toBe(true);
      const enc0 = await snapshot(Object.fromEntries(encoder.trainableVariables().map((v, i) => [String(i), v])));
      await trainer.fit({ data: new InMemoryDataset(blobs(4, 8, 3), { batchSize: 2 }), steps: 3 });
      expect(Number.isFinite(trainer.lastLoss)).toBe(true);
      const enc1 = await snapshot(Object.fromEntries(encoder.trainableVariables().map((v, i) => [String(i), v])));
      // the zero-initialised output convolutions open the path to the embedding at step 3; from
      // then on every encoder parameter receives gradients from the diffusion loss
      const changed = [...enc0].filter(([k, v]) => v.some((x, i) => x !== enc1.get(k)![i])).length;
      expect(changed).toBe(enc0.size);
      expect(encoder.numBatchesTracked().get('bn1.num_batches_tracked')).toBe(3);
      const { files } = await trainer.saveState();
      expect(Object.keys(files).sort()).toEqual([
        'config.json',
        'encoder.safetensors',
        'model.safetensors',
        'optimizer.safetensors',
        'state.json',
      ]);
      trainer.dispose();
      unet.dispose();
      encoder.dispose();
    });
  }
});

describe('Trainer checkpoints [cpu]', () => {
  const build = (store = memoryCheckpointStore()) => {
    const model = tinyThor(5);
    const objective = DiffusionObjective.thor(model, DDPMScheduler.fromPreset('thor'));
    return { model, objective, store };
  };
  const options = {
    optimizer: { type: 'adamw' as const, lr: 2e-3, weightDecay: 0.01 },
    ema: { decay: 0.9 },
    gradClipNorm: 0.5,
    augment: thorAugmentation(),
    seed: 7,
  };
  const data = () => new InMemoryDataset(blobs(6, 8, 4), { batchSize: 2, seed: 9 });

  it('resumes bit-identically: 4 steps straight = 2 steps + save + load + 2 steps', async () => {
    await tf.setBackend('cpu');
    const a = build();
    const straight = new Trainer({ objective: a.objective, ...options });
    await straight.fit({ data: data(), steps: 4 });

    const b = build();
    const first = new Trainer({ objective: b.objective, ...options, store: b.store, checkpointEvery: 2 });
    await first.fit({ data: data(), steps: 2 });
    first.dispose();
    b.model.dispose();

    // a fresh process: new networks (different init), state from the store
    const c = build();
    const resumed = await Trainer.resume(
      { store: b.store, name: 'last' },
      { objective: c.objective, augment: thorAugmentation() },
    );
    expect(resumed.step).toBe(2);
    expect(resumed.config.optimizer).toEqual(straight.config.optimizer);
    expect(resumed.config.ema).toEqual(straight.config.ema);
    await resumed.fit({ data: data(), steps: 4 });

    expect(resumed.step).toBe(4);
    expect(resumed.epoch).toBe(straight.epoch);
    expect(resumed.rngStates()).toEqual(straight.rngStates());
    expectIdentical(await snapshot(resumed.parameters), await snapshot(straight.parameters));
    expectIdentical(await snapshot(resumed.ema!.shadow), await snapshot(straight.ema!.shadow));
    const [sa, sb] = [straight.optimizer.getState(), resumed.optimizer.getState()];
    expectIdentical(await snapshot(sa.expAvgSq as never), await snapshot(sb.expAvgSq as never));
    tf.dispose([
      ...Object.values(sa.expAvg),
      ...Object.values(sa.expAvgSq),
      ...Object.values(sb.expAvg),
      ...Object.values(sb.expAvgSq),
    ]);
    for (const t of [straight, resumed]) t.dispose();
    a.model.dispose();
    c.model.dispose();
  });

  it('stops on a NaN loss with an error naming the step; the last checkpoint is the last good step', async () => {
    await tf.setBackend('cpu');
    const { model, objective, store } = build();
    const good = blobs(2, 8, 6);
    const bad = { data: good.data.slice(), shape: good.shape };
    bad.data[5] = NaN;
    async function* stream(): AsyncGenerator<BatchInput> {
      yield { image: good };
      yield { image: good };
      yield { image: bad };
      yield { image: good };
    }
    const trainer = new Trainer({ objective, seed: 1, store, checkpointEvery: 1 });
    const err = await trainer.fit({ data: stream(), steps: 4 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TrainingDivergedError);
    expect((err as TrainingDivergedError).step).toBe(3);
    expect((err as Error).message).toMatch(/step 3/);
    expect(trainer.step).toBe(2);
    const last = parseCheckpoint(await store.read('last'));
    expect((last.state as { step: number }).step).toBe(2);
    // the in-memory weights are still those of step 2, equal to the checkpoint's
    const [key, w] = [...model.namedParameters()].at(-1)!;
    const saved = last.weights.get(key)!;
    const now = await w.variable.data();
    expect(Array.from(saved.data as Float32Array)).toEqual(Array.from(now as Float32Array));
    trainer.dispose();
    model.dispose();
  });

  it('runs the validation hook, keeps the best checkpoint and reports it', async () => {
    await tf.setBackend('cpu');
    const { model, objective, store } = build();
    const trainer = new Trainer({ objective, seed: 2, store, ema: { decay: 0.5 } });
    const values = [3, 1, 2];
    const seen: number[] = [];
    const result = await trainer.fit({
      data: data(),
      steps: 3,
      validate: { every: 1, fn: (t) => t.withEmaWeights(() => values[t.step - 1]!) },
      onValidation: (e) => seen.push(e.step * 10 + (e.improved ? 1 : 0)),
    });
    expect(seen).toEqual([11, 21, 30]);
    expect(result.bestValidation).toBe(1);
    const best = parseCheckpoint(await store.read('best'));
    expect((best.state as { step: number; bestValidation: number }).step).toBe(2);
    expect((parseCheckpoint(await store.read('last')).state as { step: number }).step).toBe(3);
    trainer.dispose();
    model.dispose();
  });

  it('the whole lifecycle (build, fit, save, load, dispose) leaves no tensor behind', async () => {
    await tf.setBackend('cpu');
    await expectNoLeaks(async () => {
      const { model, objective, store } = build();
      const trainer = new Trainer({ objective, ...options, store });
      await trainer.fit({ data: data(), steps: 1 });
      trainer.loadState(await store.read('last'));
      trainer.dispose();
      model.dispose();
    });
  });

  it('writes checkpoint folders atomically through the Node helpers and resumes from them', async () => {
    await tf.setBackend('cpu');
    const root = mkdtempSync(join(tmpdir(), 'adx-trainer-'));
    try {
      const store = folderStoreFrom(root, { writeFolderAtomic, readCheckpointFiles }, join);
      const { model, objective } = build();
      const trainer = new Trainer({ objective, ...options, store, checkpointEvery: 1 });
      await trainer.fit({ data: data(), steps: 2 });
      expect(readdirSync(root)).toEqual(['last']); // no temp or aside folders left
      expect(readdirSync(join(root, 'last')).sort()).toEqual([
        'config.json',
        'ema.safetensors',
        'model.safetensors',
        'optimizer.safetensors',
        'state.json',
      ]);
      const again = await Trainer.resume({ store }, { objective });
      expect(again.step).toBe(2);
      expectIdentical(await snapshot(again.ema!.shadow), await snapshot(trainer.ema!.shadow));
      for (const t of [trainer, again]) t.dispose();
      model.dispose();
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('rejects unknown options and a checkpoint of another objective', async () => {
    const { model, objective } = build();
    expect(() => new Trainer({ objective, lr: 1 } as never)).toThrow(/unknown key/);
    expect(() => new Trainer({ objective, gradClipNorm: -1 })).toThrow(/gradClipNorm/);
    const t = new Trainer({ objective });
    const { files } = await t.saveState();
    const state = JSON.parse(new TextDecoder().decode(files['state.json']));
    state.objective.className = 'ClassifierObjective';
    const broken = { ...files, 'state.json': new TextEncoder().encode(JSON.stringify(state)) };
    expect(() => t.loadState(broken)).toThrow(/ClassifierObjective/);
    t.dispose();
    model.dispose();
  });
});
