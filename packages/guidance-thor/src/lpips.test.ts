import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import { describeBackends, expectNoLeaks } from '@adx/test-utils';
import { SeededRNG, WeightsError, exportStateDict } from '@adx/diffusion-core';
import { LPIPS_SQUEEZE_CHANNELS, LpipsSqueeze, loadLpipsWeights } from './lpips.js';

it('has torchvision squeezenet1_1 feature keys and parameter count, plus the 7 lpips heads', () => {
  const m = new LpipsSqueeze();
  const keys = [...m.namedParameters().keys()];
  expect(keys).toContain('features.0.weight');
  expect(keys).toContain('features.3.squeeze.weight');
  expect(keys).toContain('features.12.expand3x3.bias');
  expect(keys).toContain('lin6.model.1.weight');
  // squeezenet1_1: 1,235,496 parameters in total, of which the classifier conv 512→1000 has 513,000.
  const backbone = [...m.namedParameters()]
    .filter(([k]) => k.startsWith('features.'))
    .reduce((a, [, p]) => a + p.variable.size, 0);
  expect(backbone).toBe(1_235_496 - 513_000);
  const heads = [...m.namedParameters()]
    .filter(([k]) => k.startsWith('lin'))
    .reduce((a, [, p]) => a + p.variable.size, 0);
  expect(heads).toBe(LPIPS_SQUEEZE_CHANNELS.reduce((a, b) => a + b, 0));
  m.dispose();
});

describeBackends('LpipsSqueeze', () => {
  it('produces the 7 slices with the SqueezeNet channel counts and ceil-mode pooling sizes', async () => {
    const m = new LpipsSqueeze({ seed: 1 });
    await expectNoLeaks(() => {
      tf.tidy(() => {
        const feats = m.features7(tf.zeros([1, 64, 64, 3]));
        expect(feats.map((f) => f.shape[3])).toEqual([...LPIPS_SQUEEZE_CHANNELS]);
        // 64 → conv3/2 valid: 31 → pool ceil: 15 → 7 → 3
        expect(feats.map((f) => f.shape[1])).toEqual([31, 15, 7, 3, 3, 3, 3]);
      });
    });
    m.dispose();
  });

  it('is zero for identical images, symmetric, non-negative with non-negative heads, and full-size', async () => {
    const m = new LpipsSqueeze({ seed: 2 });
    const rng = new SeededRNG(3);
    const a = rng.rand([2, 32, 32, 1]) as tf.Tensor4D;
    const b = rng.rand([2, 32, 32, 1]) as tf.Tensor4D;
    await expectNoLeaks(async () => {
      const same = m.distanceMap(a, a);
      const ab = m.distanceMap(a, b);
      const ba = m.distanceMap(b, a);
      expect(ab.shape).toEqual([2, 32, 32, 1]);
      expect(Math.max(...(await same.data()))).toBeLessThan(1e-6);
      const vab = await ab.data();
      const vba = await ba.data();
      for (let i = 0; i < vab.length; i += 97) expect(vab[i]).toBeCloseTo(vba[i]!, 5);
      expect(Math.min(...vab)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...vab)).toBeGreaterThan(0);
      tf.dispose([same, ab, ba]);
    });
    tf.dispose([a, b]);
    m.dispose();
  });

  it('the THOR input quirk (4x−3) changes the distance, the fixed variant feeds 2x−1', async () => {
    const quirk = new LpipsSqueeze({ seed: 4, thorInputQuirk: true });
    const fixed = new LpipsSqueeze({ seed: 4, thorInputQuirk: false });
    const a = tf.fill([1, 24, 24, 1], 0.25) as tf.Tensor4D;
    const b = tf.fill([1, 24, 24, 1], 0.75) as tf.Tensor4D;
    const dq = quirk.distanceMap(a, b);
    const df = fixed.distanceMap(a, b);
    // 4·0.25−3 = −2 vs 2·0.25−1 = −0.5 fed to identical weights → different distances.
    expect(Math.abs((await dq.data())[0]! - (await df.data())[0]!)).toBeGreaterThan(1e-6);
    tf.dispose([a, b, dq, df]);
    quirk.dispose();
    fixed.dispose();
  });

  it('loads torchvision + lpips state dicts and the full lpips.LPIPS naming', async () => {
    const src = new LpipsSqueeze({ seed: 5 });
    const sd = await exportStateDict(src);
    const torchvision = new Map([...sd].filter(([k]) => k.startsWith('features.')));
    torchvision.set('classifier.1.weight', { shape: [1000, 512, 1, 1], data: new Float32Array(512000) });
    const heads = new Map([...sd].filter(([k]) => k.startsWith('lin')));
    const dst = new LpipsSqueeze({ seed: 6 });
    const r = loadLpipsWeights(dst, torchvision, heads);
    expect(r.ignored).toEqual(['classifier.1.weight']);
    // Full lpips naming: features.3.* lives in slice2, features.12.* in slice7.
    const sliceOf = (i: number) => [1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 5, 6, 7][i];
    const full = new Map(
      [...sd].map(([k, v]) => {
        const m = /^features\.(\d+)\.(.*)$/.exec(k);
        return [m ? `net.slice${sliceOf(Number(m[1]))}.${m[1]}.${m[2]}` : k, v] as const;
      }),
    );
    const dst2 = new LpipsSqueeze({ seed: 7 });
    loadLpipsWeights(dst2, full);
    const x = new SeededRNG(8).rand([1, 20, 20, 1]) as tf.Tensor4D;
    const y = tf.zerosLike(x) as tf.Tensor4D;
    const [d0, d1, d2] = [src, dst, dst2].map((m) => m.distanceMap(x, y));
    const v0 = await d0!.data();
    expect(Array.from(await d1!.data())).toEqual(Array.from(v0));
    expect(Array.from(await d2!.data())).toEqual(Array.from(v0));
    expect(() => loadLpipsWeights(new LpipsSqueeze(), torchvision)).toThrow(WeightsError);
    tf.dispose([x, y, d0!, d1!, d2!]);
    [src, dst, dst2].forEach((m) => m.dispose());
  });
});
