/**
 * `adx evaluate`: the metrics report of one paper's protocol (`@adx/metrics`) for the anomaly maps
 * `adx detect` wrote, against ground-truth masks, brain masks and image labels on disk.
 *
 * Cases come from the maps folder: the records of its `scores*.json` files (all shards) or, without
 * them, its `<case>_anomaly.{nii.gz,nii,png}` files. Each case's ground truth / brain mask is the file
 * in `--gt` / `--brain-masks` (searched recursively) named `<case><suffix>` or
 * `<subject><suffix>` (the case name without its last `_token`, e.g. the modality of
 * `BraTS2021_00000_flair`), or exactly `<case>` — see {@link GT_SUFFIXES}, {@link BRAIN_SUFFIXES}.
 * No post-processing is applied to the maps except setting them to 0 outside the brain mask (when
 * given); per-slice protocols (thor, wolleb) cut volumes into slices along `--axis`.
 *
 * Writes `<out>/<name>.md`, `<name>.json`, and the pooled ROC / PR curves (`roc.svg`, `pr.svg`,
 * `roc.png`, `pr.png`), each file atomically.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import {
  THOR_LESION_BINS,
  baurPooledProtocol,
  behrendtPerVolumeProtocol,
  binarize,
  collectWarnings,
  imageLevelProtocol,
  lesionDetection,
  lineChartPng,
  precisionRecallCurve,
  precisionRecallCurveSvg,
  rankingMetrics,
  reportToJson,
  reportToMarkdown,
  rocCurve,
  rocCurveSvg,
  thorBrainProtocol,
  wollebPerSliceProtocol,
  type EvaluationCase,
  type MetricEntry,
  type MetricsReport,
  type NdArray,
} from '@adx/metrics';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { parseCsv } from '@adx/io-medical';
import { readNiftiFile, readPngFile, writeFileAtomic } from '@adx/io-medical/node';
import { UsageError } from '../errors.js';
import { createProgress } from '../progress.js';

export const EVALUATE_PROTOCOLS = ['thor', 'behrendt', 'wolleb', 'baur', 'lesion-detection', 'image-level'] as const;
export type EvaluateProtocol = (typeof EVALUATE_PROTOCOLS)[number];

/** Ground-truth file suffixes tried after `<case>` and `<subject>` (BraTS/MSLUB `_seg`, ATLAS v2.0 lesion mask, …). */
export const GT_SUFFIXES = ['_seg', '_label-L_desc-T1lesion_mask', '_lesion', '_gt', '_label', '_mask'] as const;
/** Brain-mask suffixes (IXI/BraTS/MSLUB `_mask`, ATLAS `_desc-brain_mask`). */
export const BRAIN_SUFFIXES = ['_mask', '_desc-brain_mask', '_brainmask', '_brain_mask'] as const;

/** A data problem (not a usage problem): exit code 1, the message names the file(s). */
export class EvaluateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EvaluateError';
  }
}

export interface EvaluateCommandOptions {
  protocol: string;
  /** Folder `adx detect` wrote (maps + scores*.json), or one scores JSON file. */
  maps: string;
  /** Folder of ground-truth masks (> 0 = lesion). */
  gt?: string;
  /** Folder of brain masks (maps are set to 0 outside, and behrendt's slice/volume scores use them). */
  brainMasks?: string;
  /** Image labels: CSV (a case/id/filename column + `label`) or JSON (`{case: label}` or `[{case, label}]`). */
  labels?: string;
  /** Case list (one id per line, or a CSV/JSON like `--labels`): every listed case must have a map. */
  cases?: string;
  /** Maps folder of a labelled validation set (behrendt τ, baur realistic Dice); GT from `--gt`. */
  validation?: string;
  /** Fixed threshold (behrendt τ, lesion-detection). */
  threshold?: number;
  /** Slice axis of NIfTI volumes (0, 1, 2 = x, y, z) for the per-slice protocols. Default 2. */
  axis?: number;
  /** Image score for image-level: `json` (scores.json, default when present), `mean` or `max` of the map. */
  score?: 'json' | 'mean' | 'max';
  /** Predicted components smaller than this are ignored (lesion-detection). Default 8. */
  minSize?: number;
  out: string;
  /** File stem of the report. Default `report`. */
  name?: string;
  quiet?: boolean;
}

export interface EvaluatedCase {
  id: string;
  map: string;
  /** PNG cases of the thor protocol: the input and its reconstruction (for MAE / SSIM). */
  input?: string;
  reconstruction?: string;
  gt?: string;
  brainMask?: string;
  label?: number;
  score?: number;
}

export interface EvaluateSummary {
  protocol: EvaluateProtocol;
  out: string;
  files: string[];
  cases: EvaluatedCase[];
  entries: MetricEntry[];
}

interface MapCase {
  id: string;
  map: string;
  score?: number;
  /** Input image of the detect run (scores.json) and the `<case>_healthy` reconstruction beside the map. */
  input?: string;
  healthy?: string;
}

const MAP_RE = /_anomaly\.(nii\.gz|nii|png)$/i;
const IMAGE_RE = /\.(nii\.gz|nii|png)$/i;

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

async function isDir(p: string, option: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    throw new UsageError(`${option} '${p}' does not exist`);
  }
}

/** File name without its image extension (`.nii.gz`, `.nii`, `.png`) or, for other files, its last extension. */
function stemOf(path: string): string {
  const b = basename(path);
  return IMAGE_RE.test(b) ? b.replace(IMAGE_RE, '') : b.replace(/\.[^.]*$/, '');
}

/** Cases of a maps folder (or scores file): scores*.json records first, else `*_anomaly.*` files. */
export async function listMapCases(maps: string, option = '--maps'): Promise<MapCase[]> {
  const folder = await isDir(maps, option);
  const dir = folder ? maps : dirname(maps);
  const names = (await readdir(dir)).sort();
  const scoreFiles = folder
    ? names.filter((n) => /^scores(\.shard\d+of\d+)?\.json$/.test(n)).map((n) => join(dir, n))
    : [maps];
  const cases = new Map<string, MapCase>();
  if (scoreFiles.length) {
    for (const file of scoreFiles) {
      let json: { records?: { input?: string; score?: number; outputs?: string[] }[] };
      try {
        json = JSON.parse(await readFile(file, 'utf8')) as typeof json;
      } catch (e) {
        throw new UsageError(`${option}: cannot read '${file}' (${(e as Error).message})`);
      }
      if (!Array.isArray(json.records)) throw new UsageError(`${option}: '${file}' has no 'records' list`);
      for (const r of json.records) {
        const out = (r.outputs ?? []).find((o) => MAP_RE.test(o));
        if (!out) throw new UsageError(`${option}: a record of '${file}' (input '${r.input}') lists no *_anomaly map`);
        const id = basename(out).replace(MAP_RE, '');
        // Paths are as detect saw them; fall back to the maps folder if the folder was moved.
        const path = (await exists(out)) ? out : join(dir, basename(out));
        if (!(await exists(path))) {
          throw new UsageError(`case '${id}': anomaly map '${out}' listed in '${file}' does not exist`);
        }
        const healthy = path.replace(MAP_RE, (_m, ext: string) => `_healthy.${ext}`);
        cases.set(id, {
          id,
          map: path,
          ...(typeof r.score === 'number' ? { score: r.score } : {}),
          ...(r.input && (await exists(r.input)) ? { input: r.input } : {}),
          ...((await exists(healthy)) ? { healthy } : {}),
        });
      }
    }
  } else {
    for (const n of names.filter((n) => MAP_RE.test(n))) {
      const id = n.replace(MAP_RE, '');
      cases.set(id, { id, map: join(dir, n) });
    }
  }
  if (cases.size === 0) {
    throw new UsageError(
      `${option}: no anomaly maps in '${maps}' (expected scores.json or <case>_anomaly.nii.gz/.png)`,
    );
  }
  return [...cases.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** All NIfTI / PNG files below `dir` (depth ≤ 4), by stem. */
async function indexFolder(dir: string, option: string): Promise<Map<string, string[]>> {
  if (!(await isDir(dir, option))) throw new UsageError(`${option} '${dir}' is not a folder`);
  const index = new Map<string, string[]>();
  const walk = async (d: string, depth: number) => {
    for (const e of (await readdir(d, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (e.name.startsWith('.')) continue;
      const p = join(d, e.name);
      if (e.isDirectory() && depth < 4) await walk(p, depth + 1);
      else if (e.isFile() && IMAGE_RE.test(e.name)) {
        const s = stemOf(e.name);
        index.set(s, [...(index.get(s) ?? []), p]);
      }
    }
  };
  await walk(dir, 0);
  return index;
}

/** The file for a case: `<case><suffix>`, `<subject><suffix>`, then exactly `<case>`; returns the names tried too. */
export function findCaseFile(
  index: Map<string, string[]>,
  id: string,
  suffixes: readonly string[],
  exclude: readonly string[] = [],
): { path?: string; tried: string[] } {
  const subject = id.includes('_') ? id.slice(0, id.lastIndexOf('_')) : undefined;
  const tried = [...suffixes.map((s) => id + s), ...(subject ? suffixes.map((s) => subject + s) : []), id];
  for (const t of tried) {
    const hit = (index.get(t) ?? []).find((p) => !exclude.includes(p));
    if (hit) return { path: hit, tried };
  }
  return { tried };
}

/** A map / mask as a C-order array: PNG `[H, W]`, NIfTI `[z, y, x]` (its file order read backwards). */
async function readArray(path: string): Promise<NdArray<Float32Array | Float64Array>> {
  if (/\.png$/i.test(path)) {
    const img = await readPngFile(path);
    return { data: img.data, shape: [img.height, img.width] };
  }
  const { volume } = await readNiftiFile(path);
  const shape = [...volume.shape];
  while (shape.length > 3 && shape[shape.length - 1] === 1) shape.pop();
  if (shape.length > 3) throw new EvaluateError(`'${path}' is a ${shape.length}-D image; expected 2-D or 3-D`);
  return { data: volume.data, shape: shape.reverse() };
}

function anyPositive(a: NdArray): boolean {
  for (let i = 0; i < a.data.length; i++) if ((a.data[i] as number) > 0) return true;
  return false;
}

function sameShape(a: NdArray, b: NdArray): boolean {
  return a.shape.length === b.shape.length && a.shape.every((s, i) => s === b.shape[i]);
}

async function readCaseList(file: string, option: string): Promise<Map<string, number | undefined>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new UsageError(`${option} '${file}' does not exist`);
  }
  const out = new Map<string, number | undefined>();
  const put = (key: unknown, label: unknown) => {
    if (key === undefined || key === null || key === '') return;
    const l = label === undefined || label === '' || label === null ? undefined : Number(label);
    if (l !== undefined && !Number.isFinite(l))
      throw new UsageError(`${option} '${file}': label '${label}' is not a number`);
    out.set(stemOf(String(key)), l);
  };
  if (/\.json$/i.test(file)) {
    const json = JSON.parse(text) as unknown;
    if (Array.isArray(json)) {
      for (const r of json as Record<string, unknown>[]) put(r.case ?? r.id ?? r.filename ?? r.name, r.label);
    } else if (json && typeof json === 'object') {
      for (const [k, v] of Object.entries(json as Record<string, unknown>)) put(k, v);
    } else throw new UsageError(`${option} '${file}': expected an object or a list`);
    return out;
  }
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length && !lines[0]!.includes(',')) {
    for (const l of lines) put(l.trim(), undefined); // plain list of ids
    return out;
  }
  const rows = parseCsv(text, file);
  const keyCol = ['case', 'id', 'filename', 'name', 'subject_id'].find((c) => rows[0] && c in rows[0]);
  if (!keyCol) throw new UsageError(`${option} '${file}': needs a 'case', 'id' or 'filename' column`);
  for (const r of rows) put(r[keyCol], r.label);
  return out;
}

/** Same element type as `a` (float32 maps keep the radix-sort path of the ranking metrics). */
function like(a: NdArray, n: number): Float32Array | Float64Array {
  return a.data instanceof Float32Array ? new Float32Array(n) : new Float64Array(n);
}

/** Units of a per-slice protocol: images as they are, volumes cut along C-order axis `cAxis`. */
function slicesOf(id: string, a: NdArray, cAxis: number): { id: string; arr: NdArray }[] {
  if (a.shape.length === 2) return [{ id, arr: a }];
  const [d0, d1, d2] = a.shape as [number, number, number];
  const n = a.shape[cAxis]!;
  const inPlane = a.shape.filter((_, k) => k !== cAxis) as [number, number];
  const out: { id: string; arr: NdArray }[] = [];
  for (let s = 0; s < n; s++) {
    const data = like(a, inPlane[0] * inPlane[1]);
    let o = 0;
    for (let i = 0; i < d0; i++)
      for (let j = 0; j < d1; j++)
        for (let k = 0; k < d2; k++) {
          if ((cAxis === 0 ? i : cAxis === 1 ? j : k) !== s) continue;
          data[o++] = a.data[(i * d1 + j) * d2 + k] as number;
        }
    out.push({ id: `${id}:${s}`, arr: { data, shape: inPlane } });
  }
  return out;
}

function masked(map: NdArray, brain: NdArray | undefined): NdArray {
  if (!brain) return map;
  const data = like(map, map.data.length);
  for (let i = 0; i < data.length; i++) data[i] = (brain.data[i] as number) > 0 ? (map.data[i] as number) : 0;
  return { data, shape: map.shape };
}

interface Loaded {
  id: string;
  map: NdArray;
  input?: NdArray;
  reconstruction?: NdArray;
  gt?: NdArray;
  brain?: NdArray;
  files: EvaluatedCase;
}

async function loadCases(
  cases: MapCase[],
  o: {
    gt?: string;
    brainMasks?: string;
    labels?: Map<string, number | undefined>;
    needGt: boolean;
    /** Load input + reconstruction of PNG cases (thor's MAE / SSIM). */
    reconstructions?: boolean;
    quiet?: boolean;
  },
  label: string,
): Promise<Loaded[]> {
  const gtIndex = o.gt ? await indexFolder(o.gt, '--gt') : undefined;
  const brainIndex = o.brainMasks ? await indexFolder(o.brainMasks, '--brain-masks') : undefined;
  const progress = createProgress(`evaluate: reading ${label}`, cases.length, { quiet: o.quiet });
  const out: Loaded[] = [];
  for (const [n, c] of cases.entries()) {
    const files: EvaluatedCase = { id: c.id, map: c.map, ...(c.score !== undefined ? { score: c.score } : {}) };
    const map = await readArray(c.map);
    let gt: NdArray | undefined;
    let brain: NdArray | undefined;
    if (gtIndex) {
      const f = findCaseFile(gtIndex, c.id, GT_SUFFIXES, [c.map]);
      if (!f.path) {
        throw new UsageError(
          `case '${c.id}': no ground truth in '${o.gt}' (tried ${f.tried.map((t) => `${t}.nii.gz/.nii/.png`).join(', ')})`,
        );
      }
      gt = await readArray(f.path);
      if (!sameShape(map, gt)) {
        throw new EvaluateError(
          `case '${c.id}': anomaly map '${c.map}' has shape [${map.shape.join(', ')}] but ground truth '${f.path}' has [${gt.shape.join(', ')}]`,
        );
      }
      files.gt = f.path;
    } else if (o.needGt) {
      throw new UsageError('--gt is required for this protocol');
    }
    if (brainIndex) {
      const f = findCaseFile(brainIndex, c.id, BRAIN_SUFFIXES, [c.map, ...(files.gt ? [files.gt] : [])]);
      if (!f.path) {
        throw new UsageError(
          `case '${c.id}': no brain mask in '${o.brainMasks}' (tried ${f.tried.map((t) => `${t}.nii.gz/.nii/.png`).join(', ')})`,
        );
      }
      brain = await readArray(f.path);
      if (!sameShape(map, brain)) {
        throw new EvaluateError(
          `case '${c.id}': anomaly map '${c.map}' has shape [${map.shape.join(', ')}] but brain mask '${f.path}' has [${brain.shape.join(', ')}]`,
        );
      }
      files.brainMask = f.path;
    }
    // PNG input and `_healthy` reconstruction, both in the input's geometry and [0, 1] scale as detect wrote them.
    let input: NdArray | undefined;
    let reconstruction: NdArray | undefined;
    if (o.reconstructions && c.input && c.healthy && /\.png$/i.test(c.input) && /\.png$/i.test(c.healthy)) {
      const a = await readArray(c.input);
      const b = await readArray(c.healthy);
      if (sameShape(a, map) && sameShape(b, map)) {
        [input, reconstruction] = [a, b];
        files.input = c.input;
        files.reconstruction = c.healthy;
      }
    }
    const l = o.labels?.get(c.id);
    if (l !== undefined) files.label = l;
    else if (gt) files.label = anyPositive(gt) ? 1 : 0;
    out.push({
      id: c.id,
      map: masked(map, brain),
      ...(gt ? { gt } : {}),
      ...(brain ? { brain } : {}),
      ...(input && reconstruction ? { input, reconstruction } : {}),
      files,
    });
    progress.update(n + 1);
  }
  progress.stop();
  const kinds = new Set(out.map((c) => c.map.shape.length));
  if (kinds.size > 1) {
    const a = out.find((c) => c.map.shape.length === 2)!;
    const b = out.find((c) => c.map.shape.length === 3)!;
    throw new EvaluateError(
      `mixed 2-D and 3-D maps ('${a.files.map}' vs '${b.files.map}'); evaluate one kind at a time`,
    );
  }
  return out;
}

function meanOrMax(map: NdArray, brain: NdArray | undefined, how: 'mean' | 'max'): number {
  let s = 0;
  let n = 0;
  let m = -Infinity;
  for (let i = 0; i < map.data.length; i++) {
    if (brain && (brain.data[i] as number) <= 0) continue;
    const v = map.data[i] as number;
    s += v;
    n++;
    if (v > m) m = v;
  }
  return how === 'mean' ? (n ? s / n : 0) : m;
}

/** THOR's bins are lesion areas at 128²; images of another size get them scaled by area. */
function thorBins(h: number, w: number) {
  const f = (h * w) / (128 * 128);
  return THOR_LESION_BINS.map((b) => ({ name: b.name, min: b.min * f, max: b.max * f }));
}

function lesionDetectionReport(cases: Loaded[], threshold: number, minSize: number): MetricsReport {
  let tp = 0;
  let fp = 0;
  let fn = 0;
  let predicted = 0;
  let predictedTp = 0;
  const perCase = cases.map((c) => {
    const d = lesionDetection(binarize(c.map, threshold), c.gt!, { minPredictedSize: minSize });
    tp += d.tp;
    fp += d.fp;
    fn += d.fn;
    predicted += d.predictedLesions;
    predictedTp += d.predictedLesions - d.fp;
    return { id: c.id, ...d };
  });
  const n = cases.length;
  const e = (metric: string, value: number): MetricEntry => ({
    metric,
    value,
    n,
    aggregation: 'pooled',
    thresholdSource: 'fixed',
    threshold,
  });
  return {
    protocol: 'lesion-detection',
    description: `Lesion-wise detection (Baur et al.): connected components (${cases[0]!.map.shape.length === 3 ? '26' : '8'}-connected) of map > ${threshold} and of the ground truth; a GT lesion is found if a kept predicted component (≥ ${minSize} voxels) overlaps it; counts summed over cases.`,
    entries: [
      e('lesion TP', tp),
      e('lesion FP', fp),
      e('lesion FN', fn),
      e('lesion recall', tp + fn === 0 ? NaN : tp / (tp + fn)),
      e('lesion precision', predicted === 0 ? NaN : predictedTp / predicted),
    ],
    details: { perCase },
  };
}

export async function evaluateCommand(o: EvaluateCommandOptions): Promise<EvaluateSummary> {
  if (!EVALUATE_PROTOCOLS.includes(o.protocol as EvaluateProtocol)) {
    throw new UsageError(`--protocol must be one of ${EVALUATE_PROTOCOLS.join(', ')}, got '${o.protocol}'`);
  }
  const protocol = o.protocol as EvaluateProtocol;
  const axis = o.axis ?? 2;
  if (![0, 1, 2].includes(axis)) throw new UsageError(`--axis must be 0, 1 or 2, got ${axis}`);
  const cAxis = 2 - axis; // NIfTI axis a is C-order axis 2 − a of the [z, y, x] arrays
  if (o.threshold !== undefined && !Number.isFinite(o.threshold)) throw new UsageError('--threshold must be a number');
  const minSize = o.minSize ?? 8;
  const labels = o.labels ? await readCaseList(o.labels, '--labels') : undefined;
  let mapCases = await listMapCases(o.maps);
  if (o.cases) {
    const wanted = await readCaseList(o.cases, '--cases');
    const have = new Map(mapCases.map((c) => [c.id, c]));
    for (const id of wanted.keys()) {
      if (!have.has(id)) {
        throw new UsageError(
          `case '${id}' (listed in '${o.cases}'): no anomaly map in '${o.maps}' (expected ${id}_anomaly.nii.gz or ${id}_anomaly.png)`,
        );
      }
    }
    mapCases = mapCases.filter((c) => wanted.has(c.id));
  }
  const needGt = protocol !== 'image-level';
  if (needGt && !o.gt) throw new UsageError(`--gt is required for --protocol ${protocol}`);
  if (protocol === 'lesion-detection' && o.threshold === undefined) {
    throw new UsageError('--threshold is required for --protocol lesion-detection (the map is binarised at map > t)');
  }
  if (protocol === 'behrendt' && o.threshold === undefined && !o.validation) {
    throw new UsageError('--protocol behrendt needs --threshold or --validation (a labelled maps folder for τ)');
  }
  const common = {
    gt: o.gt,
    brainMasks: o.brainMasks,
    labels,
    needGt,
    quiet: o.quiet,
    reconstructions: protocol === 'thor',
  };
  const cases = await loadCases(mapCases, common, 'test maps');
  const validation = o.validation
    ? await loadCases(await listMapCases(o.validation, '--validation'), { ...common, needGt: true }, 'validation maps')
    : undefined;
  const asCase = (c: Loaded): EvaluationCase => ({ id: c.id, map: c.map, gt: c.gt! });

  const { result, warnings } = collectWarnings((): MetricsReport => {
    switch (protocol) {
      case 'thor':
      case 'wolleb': {
        const units = cases.flatMap((c) => {
          const maps = slicesOf(c.id, c.map, cAxis);
          const gts = slicesOf(c.id, c.gt!, cAxis);
          const rec = c.input && c.reconstruction ? { input: c.input, reconstruction: c.reconstruction } : {};
          return maps.map((m, k) => ({ id: m.id, map: m.arr, gt: gts[k]!.arr, ...rec }));
        });
        if (protocol === 'thor') {
          const [h, w] = units[0]!.map.shape as [number, number];
          const r = thorBrainProtocol(units, { bins: thorBins(h, w) });
          return {
            ...r,
            description:
              `${r.description} Bins scaled from 128² to ${h}×${w} by area; ` +
              (units.some((u) => 'input' in u)
                ? 'MAE / SSIM of the input PNG vs its `_healthy` reconstruction (as detect wrote them).'
                : 'MAE / SSIM not computed (no PNG input + `_healthy` reconstruction).'),
          };
        }
        const images = cases.every((c) => c.map.shape.length === 2 && c.files.score !== undefined);
        return wollebPerSliceProtocol(
          units,
          images
            ? { imageScores: { scores: cases.map((c) => c.files.score!), labels: cases.map((c) => c.files.label!) } }
            : {},
        );
      }
      case 'behrendt':
        return behrendtPerVolumeProtocol(
          cases.map((c) => ({ ...asCase(c), ...(c.brain ? { brainMask: c.brain } : {}) })),
          {
            ...(o.threshold !== undefined ? { threshold: o.threshold } : { validation: validation!.map(asCase) }),
            sliceAxis: cAxis,
          },
        );
      case 'baur':
        return baurPooledProtocol(cases.map(asCase), {
          ...(validation ? { validation: validation.map(asCase) } : {}),
          ...(o.threshold !== undefined && !validation ? { threshold: o.threshold } : {}),
        });
      case 'lesion-detection':
        return lesionDetectionReport(cases, o.threshold!, minSize);
      case 'image-level': {
        const how = o.score ?? (cases.every((c) => c.files.score !== undefined) ? 'json' : 'mean');
        for (const c of cases) {
          if (how === 'json' && c.files.score === undefined) {
            throw new UsageError(`--score json: case '${c.id}' has no score (no scores.json record)`);
          }
          if (how !== 'json') c.files.score = meanOrMax(c.map, c.brain, how);
          if (c.files.label === undefined) {
            throw new UsageError(`case '${c.id}': no image label (give --labels or --gt)`);
          }
        }
        return imageLevelProtocol(
          cases.map((c) => c.files.score!),
          cases.map((c) => c.files.label!),
          { scoreName: how === 'json' ? 'score of adx detect (scores.json)' : `${how} of the anomaly map` },
        );
      }
    }
  });
  const report: MetricsReport = warnings.length ? { ...result, details: { ...result.details, warnings } } : result;

  // Pooled ROC / PR: pixels (inside the brain masks, if given) or, for image-level, the image scores.
  let yTrue: Uint8Array;
  let yScore: Float32Array | Float64Array;
  if (protocol === 'image-level') {
    yTrue = Uint8Array.from(cases, (c) => (c.files.label! > 0 ? 1 : 0));
    yScore = Float64Array.from(cases, (c) => c.files.score!);
  } else {
    const inside = (c: Loaded, i: number) => !c.brain || (c.brain.data[i] as number) > 0;
    let n = 0;
    for (const c of cases) for (let i = 0; i < c.map.data.length; i++) if (inside(c, i)) n++;
    yTrue = new Uint8Array(n);
    yScore = cases.every((c) => c.map.data instanceof Float32Array) ? new Float32Array(n) : new Float64Array(n);
    let k = 0;
    for (const c of cases)
      for (let i = 0; i < c.map.data.length; i++) {
        if (!inside(c, i)) continue;
        yTrue[k] = (c.gt!.data[i] as number) > 0 ? 1 : 0;
        yScore[k++] = c.map.data[i] as number;
      }
  }
  const name = o.name ?? 'report';
  const files: string[] = [];
  const put = async (file: string, data: string | Uint8Array) => {
    const p = join(o.out, file);
    await writeFileAtomic(p, data);
    files.push(p);
  };
  const positives = yTrue.reduce((s, v) => s + v, 0);
  const unit = protocol === 'image-level' ? 'image' : 'pixel';
  let curves = '';
  if (positives > 0 && positives < yTrue.length) {
    const r = rankingMetrics(yTrue, yScore);
    const roc = rocCurve(yTrue, yScore, { dropIntermediate: true });
    const pr = precisionRecallCurve(yTrue, yScore);
    await put('roc.svg', rocCurveSvg(roc, { auc: r.rocAuc, title: `${protocol}: pooled ${unit} ROC` }));
    await put(
      'pr.svg',
      precisionRecallCurveSvg(pr, { ap: r.averagePrecision, title: `${protocol}: pooled ${unit} PR` }),
    );
    await put(
      'roc.png',
      lineChartPng([{ x: roc.fpr, y: roc.tpr }], { diagonal: true, xRange: [0, 1], yRange: [0, 1] }),
    );
    await put(
      'pr.png',
      lineChartPng([{ x: pr.recall, y: pr.precision, step: true }], { xRange: [0, 1], yRange: [0, 1] }),
    );
    curves = `Pooled ${unit} curves over ${yTrue.length} ${unit}s${o.brainMasks && unit === 'pixel' ? ' inside the brain masks' : ''}: AUROC ${r.rocAuc.toFixed(4)}, AUPRC ${r.averagePrecision.toFixed(4)} (roc.svg, pr.svg; roc.png, pr.png without text).`;
  } else {
    curves = `No ROC / PR plots: the pooled ${unit}s hold only one class.`;
  }
  const caseList = cases.map((c) => c.files);
  const md = [
    `# adx evaluate: ${protocol}`,
    '',
    `Maps: \`${o.maps}\` (${cases.length} cases)` +
      (o.gt ? `; ground truth: \`${o.gt}\`` : '') +
      (o.brainMasks ? `; brain masks: \`${o.brainMasks}\` (maps set to 0 outside)` : '') +
      (validation ? `; validation: \`${o.validation}\` (${validation.length} cases)` : '') +
      '. No other post-processing was applied to the maps.',
    '',
    reportToMarkdown(report),
    curves,
    '',
    '## Cases',
    '',
    '| case | map | ground truth | brain mask | label | score |',
    '| --- | --- | --- | --- | --- | --- |',
    ...caseList.map(
      (c) =>
        `| ${c.id} | ${relative(o.out, c.map)} | ${c.gt ? relative(o.out, c.gt) : ''} | ${c.brainMask ? relative(o.out, c.brainMask) : ''} | ${c.label ?? ''} | ${c.score === undefined ? '' : c.score.toPrecision(6)} |`,
    ),
    '',
  ].join('\n');
  const json = JSON.stringify(
    {
      tool: 'adx evaluate',
      protocol,
      maps: o.maps,
      gt: o.gt ?? null,
      brainMasks: o.brainMasks ?? null,
      validation: o.validation ?? null,
      cases: caseList,
      report: JSON.parse(reportToJson(report)) as unknown,
    },
    null,
    2,
  );
  // Report files last, so a complete report means complete plots.
  await put(`${name}.json`, json);
  await put(`${name}.md`, md);
  return { protocol, out: o.out, files, cases: caseList, entries: report.entries };
}

/** Registers `adx evaluate` on the program (kept here so cli.ts needs one line). */
export function addEvaluateCommand(
  program: Command,
  ctx: { print: (value: unknown) => void; quiet: () => boolean },
): void {
  const num = (name: string) => (v: string) => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number`);
    return n;
  };
  program
    .command('evaluate')
    .description("metrics report of a paper's protocol for the maps adx detect wrote (Markdown, JSON, ROC/PR plots)")
    .addOption(
      new Option('-p, --protocol <name>', 'evaluation protocol').choices([...EVALUATE_PROTOCOLS]).makeOptionMandatory(),
    )
    .requiredOption('-m, --maps <dir>', 'folder adx detect wrote (<case>_anomaly.nii.gz/.png + scores.json)')
    .option(
      '-g, --gt <dir>',
      'folder of ground-truth masks (<case>_seg, <subject>_seg, <case>, …; searched recursively)',
    )
    .option('-b, --brain-masks <dir>', 'folder of brain masks (maps are set to 0 outside)')
    .option('-l, --labels <file>', 'image labels: CSV (case/id/filename + label columns) or JSON')
    .option('--cases <file>', 'case list (one id per line, CSV or JSON): every listed case must have a map')
    .option('--validation <dir>', 'maps folder of a labelled validation set (behrendt τ, baur realistic Dice)')
    .option('-t, --threshold <t>', 'fixed threshold (behrendt τ, lesion-detection, baur)', num('--threshold'))
    .option('--axis <n>', 'slice axis of NIfTI volumes for per-slice protocols (0, 1, 2)', num('--axis'), 2)
    .addOption(new Option('--score <how>', 'image score for image-level').choices(['json', 'mean', 'max']))
    .option(
      '--min-size <n>',
      'lesion-detection: ignore predicted components smaller than n voxels',
      num('--min-size'),
      8,
    )
    .requiredOption('-o, --out <dir>', 'output folder (report.md, report.json, roc/pr .svg/.png)')
    .option('--name <stem>', 'file stem of the report', 'report')
    .action(async (o) => {
      const s = await evaluateCommand({ ...o, quiet: ctx.quiet() } as EvaluateCommandOptions);
      ctx.print({ protocol: s.protocol, out: s.out, cases: s.cases.length, files: s.files, entries: s.entries });
    });
}
