// The walkthrough in ten lines (defaults everywhere): npx tsx --conditions=@adx/source src/ten-lines.ts scan.nii.gz (writes out/anomaly-map.nii.gz)
import { useBackend, type DiffusionModelUNet } from '@adx/diffusion-core';
import { loadCheckpoint } from '@adx/diffusion-core/node';
import { runSlicewise, thor } from '@adx/guidance-thor';
import { brainMaskFromNonzero, percentileNormalize, readNiftiFile, writeNiftiFile } from '@adx/io-medical/node';

await useBackend('wasm');
const { model } = await loadCheckpoint(new URL('../../demo/weights/thor/model', import.meta.url).pathname);
const { volume } = await readNiftiFile(process.argv[2] ?? 'scan.nii.gz');
const scan = percentileNormalize(volume, { mask: brainMaskFromNonzero(volume) }); // 1–99 % → [0, 1]
const unet = model as unknown as DiffusionModelUNet;
const r = await runSlicewise(scan, (b) => thor(unet, b, { stride: 5 }), { size: 32 }); // maps on the scan's grid
await writeNiftiFile('out/anomaly-map.nii.gz', r.anomalyMap);
console.log(`score ${r.score.toFixed(4)}`);
