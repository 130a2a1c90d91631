import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import { expectNoLeaks } from '@adx/test-utils';
import { createVolume, sameGeometry } from '@adx/io-medical';
import { runSlicewise, type SliceMethod } from './volume.js';

it('runs a 2D method slice-wise and maps the results back onto the input grid', async () => {
  // 12×10×5 volume (axis 2 = 5 slices); slice k has a bright voxel block iff k is odd.
  const shape = [12, 10, 5];
  const data = new Float32Array(12 * 10 * 5).fill(0.2);
  for (let k = 1; k < 5; k += 2)
    for (let j = 3; j < 6; j++) for (let i = 4; i < 8; i++) data[i + 12 * (j + 10 * k)] = 0.9;
  const affine = [
    [2, 0, 0, -10],
    [0, 2, 0, -8],
    [0, 0, 3, 5],
    [0, 0, 0, 1],
  ];
  const volume = createVolume({ data, shape, affine });
  // "Detector": anomaly = |x − 0.2|, reconstruction = 0.2 everywhere.
  const seenBatches: number[] = [];
  const method: SliceMethod = async (b) => {
    seenBatches.push(b.shape[0]);
    const anomalyMap = tf.tidy(() => tf.abs(tf.sub(b, 0.2))) as tf.Tensor4D;
    const s = tf.mean(anomalyMap, [1, 2, 3]);
    const score = Float32Array.from(await s.data());
    s.dispose();
    return { anomalyMap, reconstruction: tf.fill(b.shape, 0.2) as tf.Tensor4D, score };
  };
  const res = await expectNoLeaks(() => runSlicewise(volume, method, { size: 16, batchSize: 2 }));
  expect(seenBatches).toEqual([2, 2, 1]);
  expect(sameGeometry(res.anomalyMap, volume)).toBe(true);
  expect(res.anomalyMap.shape).toEqual(shape);
  // The block survives pad → resize → restore: high inside, ~0 far away, 0 on even slices.
  const at = (i: number, j: number, k: number) => res.anomalyMap.data[i + 12 * (j + 10 * k)]!;
  expect(at(5, 4, 1)).toBeGreaterThan(0.4);
  expect(at(0, 9, 1)).toBeLessThan(0.05);
  expect(Math.max(...Array.from({ length: 120 }, (_, n) => res.anomalyMap.data[n + 120 * 2]!))).toBeLessThan(1e-6);
  expect(res.sliceScores[0]).toBeCloseTo(0, 6);
  expect(res.sliceScores[1]).toBeGreaterThan(0);
  expect(res.reconstruction.data[0]).toBeCloseTo(0.2, 5);
});

it('skips empty slices when asked and validates arguments', async () => {
  const volume = createVolume({ data: new Float32Array(8 * 8 * 3), shape: [8, 8, 3] });
  let calls = 0;
  const method: SliceMethod = async (b) => {
    calls++;
    return { anomalyMap: tf.zerosLike(b), reconstruction: tf.zerosLike(b), score: new Float32Array(b.shape[0]) };
  };
  const res = await runSlicewise(volume, method, { size: 8, skipEmptyBelow: 0 });
  expect(calls).toBe(0);
  expect(res.score).toBe(0);
  await expect(runSlicewise(volume, method, { batchSize: 0 })).rejects.toThrow(/batchSize/);
});
