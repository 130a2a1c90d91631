import { percentile, type Image2D } from '@adx/io-medical';

/**
 * Maps a slice to [0, 1] by its 1st/99th percentile inside the nonzero region: the convention of
 * `adx train` / `adx detect` (packages/cli), so test images match the training distribution.
 */
export function normalize01(img: Image2D): Image2D {
  const nz = img.data.filter((v) => v > 0);
  const lo = nz.length ? percentile(nz, 1) : 0;
  const hi = nz.length ? percentile(nz, 99) : 1;
  const span = hi > lo ? hi - lo : 1;
  const data = new Float32Array(img.data.length);
  for (let i = 0; i < data.length; i++) data[i] = Math.min(1, Math.max(0, (img.data[i]! - lo) / span));
  return { data, width: img.width, height: img.height };
}
