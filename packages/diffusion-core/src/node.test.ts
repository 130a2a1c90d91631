import { expectNoLeaks } from '@adx/test-utils';
import { mkdtempSync, readdirSync, readFileSync, renameSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCheckpoint, readTorchStateDictPath, saveCheckpoint, writeFileAtomic } from './node.js';
import { ResNetEncoder } from './models/resnet.js';
import { SeededRNG } from './random/rng.js';
import { torchSave, stateDict, f32Tensor } from './weights/__tests__/torch-save.js';

const root = mkdtempSync(join(tmpdir(), 'adx-node-test-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const tiny = (seed: number) =>
  new ResNetEncoder(
    { block: 'BasicBlock', layers: [1], stemWidth: 4, stagePlanes: [4], outFeatures: 3 },
    new SeededRNG(seed),
  );

async function fcBias(m: ResNetEncoder): Promise<number[]> {
  return Array.from(await m.namedParameters().get('fc.bias')!.variable.data());
}

describe('@adx/diffusion-core/node checkpoints', () => {
  it('saves and loads a checkpoint folder, replacing an older one atomically', async () => {
    const dir = join(root, 'ckpt');
    const m1 = tiny(1);
    await expectNoLeaks(() => saveCheckpoint(dir, m1, { state: { step: 1 } }));
    expect(readdirSync(dir).sort()).toEqual(['config.json', 'model.safetensors', 'state.json']);
    const m2 = tiny(2);
    await saveCheckpoint(dir, m2, { state: { step: 2 }, extras: { ema: m1 } });
    expect(readdirSync(dir).sort()).toEqual(['config.json', 'ema.safetensors', 'model.safetensors', 'state.json']);
    expect(readdirSync(root)).toEqual(['ckpt']); // no temp or aside folders left behind
    const back = await loadCheckpoint(dir);
    expect(back.state).toEqual({ step: 2 });
    expect(await fcBias(back.model as ResNetEncoder)).toEqual(await fcBias(m2));
    for (const m of [m1, m2, back.model]) m.dispose();
  });

  it('a failed or interrupted write never damages the last good checkpoint', async () => {
    const dir = join(root, 'safe');
    const good = tiny(5);
    await saveCheckpoint(dir, good, { state: { step: 10 } });
    // 1. Serialisation fails (BigInt is not JSON): nothing is touched.
    await expect(saveCheckpoint(dir, tiny(6), { state: { step: 11n } })).rejects.toThrow(
      /state\.json: state is not JSON-serialisable/,
    );
    // 2. A crash while writing the temp folder leaves a partial sibling; the checkpoint is intact.
    mkdirSync(join(root, 'safe.tmp-deadbeef'));
    writeFileSync(join(root, 'safe.tmp-deadbeef', 'model.safetensors'), new Uint8Array(3));
    let back = await loadCheckpoint(dir);
    expect(back.state).toEqual({ step: 10 });
    back.model.dispose();
    // 3. A crash between "rename old aside" and "rename new into place": the aside copy is used.
    renameSync(dir, join(root, 'safe.old-cafebabe'));
    back = await loadCheckpoint(dir);
    expect(back.state).toEqual({ step: 10 });
    expect(await fcBias(back.model as ResNetEncoder)).toEqual(await fcBias(good));
    back.model.dispose();
    // The next successful save cleans up the leftovers.
    await saveCheckpoint(dir, good, { state: { step: 12 } });
    expect(readdirSync(root).filter((n) => n.startsWith('safe'))).toEqual(['safe']);
    good.dispose();
  });

  it('writeFileAtomic replaces a file via a temp file in the same folder', async () => {
    const f = join(root, 'a.bin');
    await writeFileAtomic(f, new Uint8Array([1, 2, 3]));
    await writeFileAtomic(f, new Uint8Array([4]));
    expect(Array.from(readFileSync(f))).toEqual([4]);
    expect(readdirSync(root).filter((n) => n.includes('a.bin'))).toEqual(['a.bin']);
  });

  it('reads a .pt state dict from a path', async () => {
    const f = join(root, 'w.pt');
    writeFileSync(f, torchSave(stateDict([['w', f32Tensor('0', [2], [5, 6])]])));
    const sd = await readTorchStateDictPath(f);
    expect(Array.from(sd.get('w')!.data as Float32Array)).toEqual([5, 6]);
    await expect(readTorchStateDictPath(join(root, 'missing.pt'))).rejects.toThrow(/ENOENT/);
  });
});
