/**
 * Executes `walkthrough.ipynb` headless with `jupyter nbconvert --execute` on the tslab TypeScript
 * kernel and checks its outputs. Needs Jupyter (Debian: `apt-get install jupyter-nbconvert
 * python3-ipykernel`); without it the suite is skipped, visibly. tslab itself comes from npm
 * (devDependency); its kernel spec is written to a temporary JUPYTER_PATH, nothing is installed
 * globally. The kernel runs the @adx packages from source (`--conditions=@adx/source` + tsx);
 * tslab's type checker reads their built `.d.ts` (Nx builds them first: `dependsOn: ^build`).
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const HERE = fileURLToPath(new URL('..', import.meta.url));
const hasJupyter =
  spawnSync('jupyter', ['nbconvert', '--version'], { encoding: 'utf8' }).status === 0 &&
  spawnSync('jupyter', ['kernelspec', 'list'], { encoding: 'utf8' }).status === 0;

interface Output {
  output_type: string;
  text?: string[] | string;
  data?: Record<string, string | string[]>;
  ename?: string;
  evalue?: string;
}
interface Notebook {
  cells: { cell_type: string; source: string[] | string; outputs?: Output[] }[];
  metadata: { kernelspec: { name: string } };
}

describe.skipIf(!hasJupyter)('walkthrough.ipynb (tslab kernel, executed headless)', () => {
  let dir: string;
  let executed: Notebook;
  let text: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'adx-notebook-test-'));
    const tslab = join(dirname(createRequire(import.meta.url).resolve('tslab/package.json')), 'bin', 'tslab');
    const spec = join(dir, 'jupyter', 'kernels', 'tslab');
    await mkdir(spec, { recursive: true });
    await writeFile(
      join(spec, 'kernel.json'),
      JSON.stringify({
        argv: [tslab, 'kernel', '--config-path', '{connection_file}'],
        display_name: 'TypeScript',
        language: 'typescript',
        env: { NODE_OPTIONS: '--conditions=@adx/source --import tsx' },
      }),
    );
    const out = join(dir, 'executed.ipynb');
    const r = spawnSync(
      'jupyter',
      [
        'nbconvert',
        '--to',
        'notebook',
        '--execute',
        '--ExecutePreprocessor.timeout=300',
        '--output',
        out,
        'walkthrough.ipynb',
      ],
      { cwd: HERE, encoding: 'utf8', env: { ...process.env, JUPYTER_PATH: join(dir, 'jupyter') } },
    );
    if (r.status !== 0) throw new Error(`nbconvert exited with ${r.status}:\n${r.stderr.slice(-3000)}`);
    executed = JSON.parse(await readFile(out, 'utf8')) as Notebook;
    text = executed.cells
      .flatMap((c) => c.outputs ?? [])
      .map((o) => (Array.isArray(o.text) ? o.text.join('') : (o.text ?? '')))
      .join('');
  }, 300_000);

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('the committed notebook has no outputs and names the tslab kernel', async () => {
    const nb = JSON.parse(await readFile(join(HERE, 'walkthrough.ipynb'), 'utf8')) as Notebook;
    expect(nb.metadata.kernelspec.name).toBe('tslab');
    expect(nb.cells.flatMap((c) => c.outputs ?? [])).toEqual([]);
  });

  it('runs every cell without an error on wasm', () => {
    const errors = executed.cells.flatMap((c) => c.outputs ?? []).filter((o) => o.output_type === 'error');
    expect(errors.map((e) => `${e.ename}: ${e.evalue}`)).toEqual([]);
    expect(text).toContain('backend: wasm');
  });

  it('maps back onto the scan grid and scores above chance, leak-free', () => {
    const line = text.split('\n').find((l) => l.startsWith('RESULT '));
    expect(line).toBeDefined();
    const r = JSON.parse(line!.slice('RESULT '.length)) as { shape: number[]; auroc: number; auprc: number };
    expect(r.shape).toEqual([48, 40, 12]);
    expect(r.auroc).toBeGreaterThan(0.5);
    expect(r.auroc).toBeLessThanOrEqual(1);
    expect(r.auprc).toBeGreaterThan(0);
    expect(r.auprc).toBeLessThanOrEqual(1);
    expect(text).toContain('LEAKED 0');
  });

  it('displays the panel as a PNG', () => {
    const pngs = executed.cells
      .flatMap((c) => c.outputs ?? [])
      .map((o) => o.data?.['image/png'])
      .filter((p): p is string | string[] => p !== undefined);
    expect(pngs).toHaveLength(1);
    const bytes = Buffer.from(Array.isArray(pngs[0]) ? pngs[0].join('') : pngs[0]!, 'base64');
    expect([...bytes.subarray(1, 4)].map((b) => String.fromCharCode(b)).join('')).toBe('PNG');
    // 4 tiles of 3·48 × 3·40: IHDR width and height (big-endian at bytes 16 and 20).
    expect([bytes.readUInt32BE(16), bytes.readUInt32BE(20)]).toEqual([4 * 3 * 48, 3 * 40]);
  });
});
