/**
 * The detection both consumer scripts run (`detect.mjs` through `import`, `detect.cjs` through
 * `require`). It receives the package namespaces from its caller, so the same code runs against the
 * ESM build (dist/*.js) in one process and the CommonJS build (dist/*.cjs) in the other.
 *
 * Steps: wasm backend → phantom slices (@adx/io-medical) → percentile normalisation → THOR on the
 * demo's trained UNet with a strided chain (@adx/diffusion-core/node + @adx/guidance-thor) →
 * AUROC / AUPRC inside the brain (@adx/metrics). Prints one JSON line with the results.
 */
'use strict';

/** FNV-1a over the float32 bytes: ESM and CJS must produce bit-identical maps. */
function fnv1a(f32) {
  const bytes = new Uint8Array(f32.buffer, f32.byteOffset, f32.byteLength);
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i];
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

/** Names exported by every public entry (must be the same set in ESM and CJS). */
function exportNames(entries) {
  const out = {};
  for (const [name, mod] of Object.entries(entries))
    out[name] = Object.keys(mod)
      .filter((k) => k !== 'default' && k !== '__esModule' && k !== 'module.exports')
      .sort();
  return out;
}

async function runDetection(m, weightsDir, format) {
  const { tf, core, coreNode, thorPkg, io, metrics } = m;
  const info = await core.useBackend('wasm');
  const tensorsBefore = tf.memory().numTensors;

  // A trained THOR-style DiffusionModelUNet (examples/demo/weights/thor/model, 32x32 slices).
  const { model } = await coreNode.loadCheckpoint(weightsDir);
  const size = 32;
  const cases = io.generatePhantomSlices({ count: 3, size, seed: 'consumer-test', diseasedFraction: 1 });
  const data = new Float32Array(cases.length * size * size);
  cases.forEach((c, k) => {
    // 1st / 99th percentile of the nonzero pixels → [0, 1], as `adx detect` does.
    const nz = c.image.data.filter((v) => v > 0);
    const lo = io.percentile(nz, 1);
    const hi = io.percentile(nz, 99);
    c.image.data.forEach((v, i) => {
      data[k * size * size + i] = Math.min(1, Math.max(0, (v - lo) / (hi - lo || 1)));
    });
  });
  const x = tf.tensor4d(data, [cases.length, size, size, 1]);
  let steps = 0;
  const res = await thorPkg.thor(model, x, { rng: 7, tStart: 100, stride: 10, onStep: () => steps++ });
  const map = await res.anomalyMap.data();
  const rec = await res.reconstruction.data();
  tf.dispose([x, res.anomalyMap, res.reconstruction]);
  model.dispose();
  const leaked = tf.memory().numTensors - tensorsBefore;

  // Pixel AUROC / AUPRC inside the phantom's brain mask.
  const yTrue = [];
  const yScore = [];
  cases.forEach((c, k) => {
    for (let i = 0; i < size * size; i++)
      if (c.brainMask.data[i] > 0) {
        yTrue.push(c.mask.data[i] > 0 ? 1 : 0);
        yScore.push(map[k * size * size + i]);
      }
  });
  const auroc = metrics.rocAucScore(yTrue, yScore);
  const auprc = metrics.averagePrecisionScore(yTrue, yScore);
  return {
    format,
    backend: info.name ?? String(info),
    steps,
    leaked,
    mapHash: fnv1a(map),
    recHash: fnv1a(rec),
    finite: map.every(Number.isFinite) && rec.every(Number.isFinite),
    mapRange: [Math.min(...map), Math.max(...map)],
    scores: Array.from(res.score),
    auroc,
    auprc,
    positives: yTrue.filter((v) => v === 1).length,
    exports: exportNames(m.entries),
  };
}

module.exports = { runDetection };
