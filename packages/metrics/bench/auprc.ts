/**
 * Benchmark: exact AUROC + AUPRC (scikit-learn semantics) over 10^7 pixels, and the streaming
 * histogram variant. Run with `npm run bench` (or `npx tsx bench/auprc.ts [n]`).
 *
 * Data: a synthetic pooled anomaly map, float32 scores clipped to [0, 1] with ~2 % lesion pixels
 * (lesion pixels score higher on average), drawn from a seeded xorshift32 + Box–Muller generator (seed 2024). Timings are wall
 * time of single calls on one thread after one warm-up call.
 */
import { HistogramRanking, averagePrecisionScore, rankingMetrics, rocAucScore } from '../src/index.js';

const n = Number(process.argv[2] ?? 1e7);
// Self-contained seeded generator (metrics has no dependency on diffusion-core).
let state = 2024;
const next = () => {
  state ^= state << 13;
  state >>>= 0;
  state ^= state >>> 17;
  state ^= state << 5;
  state >>>= 0;
  return state / 4294967296;
};
const rng = {
  uniform: next,
  normal: () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next()),
};
const yTrue = new Uint8Array(n);
const yScore = new Float32Array(n);
for (let i = 0; i < n; i++) {
  const lesion = rng.uniform() < 0.02;
  yTrue[i] = lesion ? 1 : 0;
  const v = (lesion ? 0.35 : 0.15) + 0.12 * rng.normal();
  yScore[i] = v < 0 ? 0 : v > 1 ? 1 : v;
}

function time<T>(label: string, fn: () => T): T {
  fn(); // warm-up
  const t0 = performance.now();
  const r = fn();
  const ms = performance.now() - t0;
  console.log(`${label.padEnd(44)} ${(ms / 1000).toFixed(3)} s`);
  return r;
}

console.log(`n = ${n.toExponential(1)} float32 scores, node ${process.version}`);
const both = time('rankingMetrics (AUROC + AUPRC, one sort)', () => rankingMetrics(yTrue, yScore));
time('rocAucScore', () => rocAucScore(yTrue, yScore));
time('averagePrecisionScore', () => averagePrecisionScore(yTrue, yScore));
const f64 = Float64Array.from(yScore);
f64[0] = f64[0]! + 1e-12; // not float32-exact -> native Float64Array sort path
time('averagePrecisionScore (float64 sort path)', () => averagePrecisionScore(yTrue, f64));
const h = time('HistogramRanking 2^16 bins (update + both)', () => {
  const hr = new HistogramRanking({ bins: 1 << 16 }).update(yTrue, yScore);
  return { rocAuc: hr.rocAuc(), averagePrecision: hr.averagePrecision(), bounds: hr.errorBounds() };
});
console.log(`exact:     AUROC ${both.rocAuc.toFixed(9)}  AUPRC ${both.averagePrecision.toFixed(9)}`);
console.log(
  `histogram: AUROC ${h.rocAuc.toFixed(9)}  AUPRC ${h.averagePrecision.toFixed(9)}  ` +
    `|err| ${Math.abs(h.rocAuc - both.rocAuc).toExponential(2)} / ${Math.abs(h.averagePrecision - both.averagePrecision).toExponential(2)}  ` +
    `bounds ${h.bounds.rocAuc.toExponential(2)} / ${h.bounds.averagePrecision.toExponential(2)}`,
);
