#!/usr/bin/env node
/**
 * Release check: the packed tarballs install into an EMPTY project and work there.
 *
 *   node tools/consumer-test/run.mjs [--no-build] [--keep] [--no-changesets]
 *
 * 1. builds every publishable package (`nx run-many -t build`, cached by Nx) unless --no-build;
 * 2. `npm pack`s each non-private package of packages/* into a temporary folder;
 * 3. creates an empty project in os.tmpdir() (outside the repository, so nothing resolves to the
 *    workspace) and `npm install --prefer-offline`s the tarballs plus tfjs-core and the wasm/cpu
 *    backends from the registry (the npm cache, offline);
 * 4. runs `detect.mjs` (import) and `detect.cjs` (require): phantom slices → THOR on the demo's
 *    trained UNet (examples/demo/weights/thor/model) → AUROC/AUPRC; checks finite results, no
 *    leaked tensors, bit-identical ESM and CJS maps and identical export lists of every entry;
 * 5. type-checks a consumer file as ESM (.mts) and CJS (.cts) with module node16;
 * 6. runs the installed `adx` bin: --help, --version, `adx phantom`, `adx detect thor`;
 * 7. `changeset status` in the repository and `changeset version` on a scratch copy of the
 *    manifests (unless --no-changesets).
 *
 * Prints a pass/fail table with the seconds of every step; exits 1 on any failure.
 */
import { spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { performance } from 'node:perf_hooks';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '../..');
const PROJECT_FILES = join(HERE, 'project');
const WEIGHTS = join(ROOT, 'examples/demo/weights/thor/model');
const args = new Set(process.argv.slice(2));
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

const results = [];
const t0 = performance.now();

/** Runs a command; throws with its output on a non-zero exit. */
function sh(cmd, argv, opts = {}) {
  const r = spawnSync(cmd, argv, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  if (r.status !== 0) {
    const out = `${r.stdout ?? ''}\n${r.stderr ?? ''}`.trim().split('\n').slice(-30).join('\n');
    throw new Error(`\`${cmd} ${argv.join(' ')}\` exited with ${r.status ?? r.signal}\n${out}`);
  }
  return r.stdout;
}

function check(cond, message) {
  if (!cond) throw new Error(message);
}

/** Runs one named step, records pass/fail and seconds; later steps still run unless `required`. */
async function step(name, fn, { required = false } = {}) {
  const s = performance.now();
  process.stdout.write(`• ${name} … `);
  try {
    const detail = await fn();
    const sec = (performance.now() - s) / 1000;
    results.push({ name, ok: true, sec, detail: detail ?? '' });
    console.log(`ok (${sec.toFixed(1)} s)${detail ? ` — ${detail}` : ''}`);
  } catch (e) {
    const sec = (performance.now() - s) / 1000;
    results.push({ name, ok: false, sec, detail: e instanceof Error ? e.message : String(e) });
    console.log(`FAILED (${sec.toFixed(1)} s)\n${e instanceof Error ? e.message : e}`);
    if (required) finish();
  }
}

const temps = [];
function finish() {
  if (!args.has('--keep')) for (const d of temps) rmSync(d, { recursive: true, force: true });
  else console.log(`kept: ${temps.join(' ')}`);
  const failed = results.filter((r) => !r.ok);
  console.log('\nconsumer test summary');
  for (const r of results) console.log(`  ${r.ok ? 'PASS' : 'FAIL'}  ${r.sec.toFixed(1).padStart(6)} s  ${r.name}`);
  console.log(
    `${failed.length ? 'FAILED' : 'PASSED'}: ${results.length - failed.length}/${results.length} checks in ` +
      `${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  process.exit(failed.length ? 1 : 0);
}

const packages = readdirSync(join(ROOT, 'packages'))
  .map((d) => join(ROOT, 'packages', d))
  .filter((d) => existsSync(join(d, 'package.json')))
  .map((dir) => ({ dir, manifest: JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) }))
  .filter((p) => !p.manifest.private);
const tfVersion = JSON.parse(
  readFileSync(join(ROOT, 'node_modules/@tensorflow/tfjs-core/package.json'), 'utf8'),
).version;

const packDir = mkdtempSync(join(tmpdir(), 'adx-pack-'));
const project = mkdtempSync(join(tmpdir(), 'adx-consumer-'));
temps.push(packDir, project);
const tarballs = [];

if (!args.has('--no-build'))
  await step(
    `build the ${packages.length} publishable packages (nx run-many -t build)`,
    () => {
      const projects = packages.map((p) => p.manifest.name).join(',');
      sh('npx', ['nx', 'run-many', '-t', 'build', `--projects=${projects}`, '--outputStyle=static'], { cwd: ROOT });
    },
    { required: true },
  );

await step(
  'npm pack every publishable package',
  () => {
    for (const p of packages) {
      for (const f of ['dist/index.js', 'dist/index.cjs', 'dist/index.d.ts', 'dist/index.d.cts'])
        check(existsSync(join(p.dir, f)), `${p.manifest.name}: ${f} is missing (run the build)`);
      const out = sh(npm, ['pack', '--json', '--pack-destination', packDir, p.dir], { cwd: ROOT });
      const [info] = JSON.parse(out);
      check(!info.files.some((f) => /\.test\.ts$/.test(f.path)), `${p.manifest.name}: the tarball contains tests`);
      tarballs.push(join(packDir, info.filename));
    }
    return packages.map((p) => p.manifest.name).join(', ');
  },
  { required: true },
);

await step(
  'npm install the tarballs into an empty project (outside the repository)',
  () => {
    writeFileSync(
      join(project, 'package.json'),
      JSON.stringify({ name: 'adx-consumer', version: '1.0.0', private: true }, null, 2),
    );
    sh(
      npm,
      [
        'install',
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        '--loglevel=error',
        ...tarballs,
        `@tensorflow/tfjs-core@${tfVersion}`,
        `@tensorflow/tfjs-backend-wasm@${tfVersion}`,
        `@tensorflow/tfjs-backend-cpu@${tfVersion}`,
      ],
      { cwd: project },
    );
    for (const p of packages) {
      const installed = join(project, 'node_modules', p.manifest.name, 'package.json');
      check(existsSync(installed), `${p.manifest.name} is not installed`);
    }
    // No @adx package may be a link back into the workspace: real folders unpacked from the tarballs.
    const linked = readdirSync(join(project, 'node_modules/@adx')).filter((n) =>
      lstatSync(join(project, 'node_modules/@adx', n)).isSymbolicLink(),
    );
    check(linked.length === 0, `symlinked instead of installed: ${linked.join(', ')}`);
    for (const f of readdirSync(PROJECT_FILES)) cpSync(join(PROJECT_FILES, f), join(project, f));
    return `tfjs ${tfVersion}`;
  },
  { required: true },
);

const runs = {};
for (const [format, file] of [
  ['esm', 'detect.mjs'],
  ['cjs', 'detect.cjs'],
])
  await step(`${format.toUpperCase()} detection through public exports (${file})`, () => {
    const out = sh(process.execPath, [file, WEIGHTS], { cwd: project });
    const r = JSON.parse(out.trim().split('\n').pop());
    runs[format] = r;
    check(r.backend === 'wasm', `backend ${r.backend}, expected wasm`);
    check(r.finite, 'non-finite values in the anomaly map or reconstruction');
    check(r.leaked === 0, `${r.leaked} tensors leaked`);
    check(r.steps === 11, `THOR ran ${r.steps} denoising steps, expected 11 (t = 100, 90, …, 0)`);
    check(r.mapRange[0] >= 0 && r.mapRange[1] <= 0.999 + 1e-6, `map outside [0, 0.999]: ${r.mapRange}`);
    check(r.positives > 0, 'the phantom slices carry no lesion pixels');
    check(r.auroc > 0.5 && r.auroc <= 1, `pixel AUROC ${r.auroc} (the trained demo UNet should beat chance)`);
    check(r.auprc > 0 && r.auprc <= 1, `pixel AUPRC ${r.auprc}`);
    return `AUROC ${r.auroc.toFixed(4)}, AUPRC ${r.auprc.toFixed(4)}, scores ${r.scores.map((s) => s.toFixed(4)).join('/')}`;
  });

await step('ESM and CJS give identical results and export lists', () => {
  const { esm, cjs } = runs;
  check(esm && cjs, 'one of the two runs failed');
  check(esm.mapHash === cjs.mapHash && esm.recHash === cjs.recHash, 'anomaly maps / reconstructions differ');
  check(JSON.stringify(esm.scores) === JSON.stringify(cjs.scores), 'scores differ');
  check(esm.auroc === cjs.auroc && esm.auprc === cjs.auprc, 'metrics differ');
  for (const entry of Object.keys(esm.exports)) {
    const a = esm.exports[entry];
    const b = cjs.exports[entry] ?? [];
    check(a.length > 0, `${entry} exports nothing`);
    const onlyEsm = a.filter((k) => !b.includes(k));
    const onlyCjs = b.filter((k) => !a.includes(k));
    check(!onlyEsm.length && !onlyCjs.length, `${entry}: only ESM [${onlyEsm}], only CJS [${onlyCjs}]`);
  }
  return `map ${esm.mapHash}, ${Object.keys(esm.exports).length} entry points`;
});

await step('consumer type-check (module node16, .mts and .cts)', () => {
  sh(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: project });
});

await step('installed `adx` bin: --help, --version, phantom, detect thor', () => {
  const adx = join(project, 'node_modules/.bin/adx');
  const help = sh(adx, ['--help'], { cwd: project });
  for (const c of ['phantom', 'train', 'convert', 'detect']) check(help.includes(c), `--help does not list '${c}'`);
  const cliVersion = packages.find((p) => p.manifest.name === '@adx/cli').manifest.version;
  check(sh(adx, ['--version'], { cwd: project }).trim() === cliVersion, `--version is not ${cliVersion}`);
  const data = join(project, 'phantom');
  sh(adx, ['phantom', '-q', '-o', data, '--layout', 'ixi', '--subjects', '1', '--size', '32,32,8', '--seed', '3'], {
    cwd: project,
  });
  const t2 = readdirSync(join(data, 't2')).filter((f) => f.endsWith('.nii.gz'));
  check(t2.length === 1, `adx phantom wrote ${t2.length} T2 volumes, expected 1`);
  const maps = join(project, 'maps');
  sh(
    adx,
    [
      'detect',
      'thor',
      '-q',
      '-m',
      WEIGHTS,
      '-i',
      join(data, 't2', t2[0]),
      '-o',
      maps,
      '--size',
      '32',
      '--t-start',
      '5',
    ],
    { cwd: project },
  );
  const outputs = readdirSync(maps);
  check(outputs.includes('scores.json'), `adx detect wrote ${outputs.join(', ')}: no scores.json`);
  check(
    outputs.some((f) => f.endsWith('_anomaly.nii.gz')),
    `adx detect wrote no *_anomaly.nii.gz (${outputs})`,
  );
  const scores = JSON.stringify(JSON.parse(readFileSync(join(maps, 'scores.json'), 'utf8')));
  check(!/null|NaN/.test(scores), `scores.json holds null/NaN: ${scores.slice(0, 300)}`);
  return `${outputs.length} files from adx detect`;
});

if (!args.has('--no-changesets')) {
  await step('changeset status (repository)', () => {
    const out = sh('npx', ['changeset', 'status', '--verbose'], { cwd: ROOT });
    const pending = (out.match(/^\S.*?(major|minor|patch)/gim) ?? []).length;
    return `${pending ? 'pending bumps listed' : 'no pending bumps'}`;
  });
  await step('changeset version on a scratch copy of the manifests', () => {
    const scratch = mkdtempSync(join(tmpdir(), 'adx-changeset-'));
    temps.push(scratch);
    cpSync(join(ROOT, 'package.json'), join(scratch, 'package.json'));
    cpSync(join(ROOT, '.changeset'), join(scratch, '.changeset'), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules'), join(scratch, 'node_modules'), 'dir');
    const workspaces = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).workspaces;
    for (const pattern of workspaces) {
      const dirs = pattern.endsWith('/*')
        ? readdirSync(join(ROOT, pattern.slice(0, -2))).map((d) => `${pattern.slice(0, -2)}/${d}`)
        : [pattern];
      for (const d of dirs)
        if (existsSync(join(ROOT, d, 'package.json'))) {
          mkdirSync(join(scratch, d), { recursive: true });
          cpSync(join(ROOT, d, 'package.json'), join(scratch, d, 'package.json'));
          if (existsSync(join(ROOT, d, 'CHANGELOG.md')))
            cpSync(join(ROOT, d, 'CHANGELOG.md'), join(scratch, d, 'CHANGELOG.md'));
        }
    }
    const pending = readdirSync(join(scratch, '.changeset')).filter((f) => f.endsWith('.md') && f !== 'README.md');
    sh(process.execPath, [join(ROOT, 'node_modules/@changesets/cli/bin.js'), 'version'], { cwd: scratch });
    const bumped = [];
    for (const p of packages) {
      const rel = p.dir.slice(ROOT.length + 1);
      const after = JSON.parse(readFileSync(join(scratch, rel, 'package.json'), 'utf8'));
      if (after.version !== p.manifest.version) {
        bumped.push(`${p.manifest.name}@${after.version}`);
        check(existsSync(join(scratch, rel, 'CHANGELOG.md')), `${p.manifest.name}: no CHANGELOG.md written`);
        for (const [dep, range] of Object.entries(after.dependencies ?? {}))
          if (dep.startsWith('@adx/')) {
            const target = packages.find((q) => q.manifest.name === dep);
            const v = JSON.parse(
              readFileSync(join(scratch, target.dir.slice(ROOT.length + 1), 'package.json'), 'utf8'),
            ).version;
            check(range === v || range.endsWith(v), `${p.manifest.name} depends on ${dep}@${range}, bumped to ${v}`);
          }
      }
    }
    const left = readdirSync(join(scratch, '.changeset')).filter((f) => f.endsWith('.md') && f !== 'README.md');
    check(left.length === 0, `changeset version left ${left.length} changeset files`);
    check(pending.length === 0 || bumped.length > 0, `${pending.length} changesets but no package was bumped`);
    return `${pending.length} changesets → ${bumped.length ? bumped.join(', ') : 'no bumps'}`;
  });
}

finish();
