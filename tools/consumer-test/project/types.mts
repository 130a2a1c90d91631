// Type-level consumer check: compiled with `tsc --noEmit` (module node16) as ESM (.mts) and as
// CommonJS (.cts, identical text), so both the dist/*.d.ts and dist/*.d.cts declarations are used.
import * as tf from '@tensorflow/tfjs-core';
import { DiffusionModelUNet, useBackend, type BackendName } from '@adx/diffusion-core';
import { loadCheckpoint } from '@adx/diffusion-core/node';
import { thor, type ThorOptions, type ThorResult } from '@adx/guidance-thor';
import { generatePhantomSlices, type PhantomSlice } from '@adx/io-medical';
import { writeNiftiFile } from '@adx/io-medical/node';
import { rocAucScore } from '@adx/metrics';

export async function typed(dir: string, backend: BackendName): Promise<number> {
  await useBackend(backend);
  const { model } = await loadCheckpoint(dir);
  const slices: PhantomSlice[] = generatePhantomSlices({ count: 1, size: 32 });
  const x: tf.Tensor4D = tf.tensor4d(slices[0]!.image.data, [1, 32, 32, 1]);
  const options: ThorOptions = { tStart: 10, stride: 5 };
  const res: ThorResult = await thor(model as DiffusionModelUNet, x, options);
  const map = (await res.anomalyMap.data()) as Float32Array;
  void writeNiftiFile;
  return rocAucScore(slices[0]!.mask.data, map);
}
