#!/usr/bin/env node
// Totals the vitest JSON reports of every package (test-results/vitest*.json, written by tools/vitest.preset.ts
// and the packages' `test:webgpu` scripts) and prints the
// closing line CI reads: "tests: N passed, N failed, N skipped". Exits 1 if any test failed or no
// report was found.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
let passed = 0;
let failed = 0;
let skipped = 0;
let reports = 0;
for (const group of ['packages', 'examples']) {
  const dir = join(root, group);
  if (!existsSync(dir)) continue;
  for (const name of readdirSync(dir)) {
    const resultsDir = join(dir, name, 'test-results');
    if (!existsSync(resultsDir)) continue;
    // vitest.json (unit suites) and vitest-<stage>.json (e.g. vitest-webgpu.json from `test:webgpu`).
    for (const file of readdirSync(resultsDir)
      .filter((f) => /^vitest(-[\w-]+)?\.json$/.test(f))
      .sort()) {
      const r = JSON.parse(readFileSync(join(resultsDir, file), 'utf8'));
      reports++;
      passed += r.numPassedTests ?? 0;
      failed += r.numFailedTests ?? 0;
      skipped += (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
      const stage = file === 'vitest.json' ? '' : ` (${file.slice(7, -5)})`;
      console.log(`${name}${stage}: ${r.numPassedTests} passed, ${r.numFailedTests} failed`);
    }
  }
}
if (reports === 0) {
  console.log('tests: 0 passed, 0 failed (no vitest reports found)');
  process.exit(1);
}
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 ? 1 : 0);
