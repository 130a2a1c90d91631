import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DiffusionModelUNet, useBackend } from '@adx/diffusion-core';
import { saveCheckpoint } from '@adx/diffusion-core/node';
import { createVolume } from '@adx/io-medical';
import { readPngFile, writeNiftiFile, writePngFile } from '@adx/io-medical/node';
import {
  THOR_LESION_BINS,
  behrendtPerVolumeProtocol,
  collectWarnings,
  imageLevelProtocol,
  thorBrainProtocol,
  type MetricEntry,
} from '@adx/metrics';
import { main } from '../cli.js';
import { findCaseFile } from './evaluate.js';

const dir = mkdtempSync(join(tmpdir(), 'adx-evaluate-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(args: string[]) {
  let out = '';
  let err = '';
  const code = await main(['-q', 'evaluate', ...args], { stdout: (s) => (out += s), stderr: (s) => (err += s) });
  return { code, out, err };
}

const entry = (entries: MetricEntry[], metric: string, subset?: string) =>
  entries.find((e) => e.metric === metric && (subset === undefined || e.subset === subset));

/** 4×4 PNG slices as `adx detect` writes them (maps + scores.json) and their masks. */
async function pngSet(name: string, maps: number[][], masks: number[][], scores?: number[]) {
  const root = join(dir, name);
  mkdirSync(join(root, 'maps'), { recursive: true });
  mkdirSync(join(root, 'masks'), { recursive: true });
  const records = [];
  for (let k = 0; k < maps.length; k++) {
    const id = `s${k}`;
    await writePngFile(
      join(root, 'maps', `${id}_anomaly.png`),
      { data: Float32Array.from(maps[k]!), width: 4, height: 4 },
      { bitDepth: 16 },
    );
    await writePngFile(join(root, 'masks', `${id}.png`), { data: Float32Array.from(masks[k]!), width: 4, height: 4 });
    records.push({
      input: `png/${id}.png`,
      kind: 'png',
      score: scores?.[k] ?? 0,
      outputs: [join(root, 'maps', `${id}_anomaly.png`), join(root, 'maps', `${id}_healthy.png`)],
      seconds: 0,
    });
  }
  if (scores) writeFileSync(join(root, 'maps', 'scores.json'), JSON.stringify({ method: 'thor', records }));
  return root;
}

const zeros = () => new Array<number>(16).fill(0);
const withPixels = (idx: number[], v = 1) => zeros().map((_, i) => (idx.includes(i) ? v : 0));

describe('adx evaluate', () => {
  it('image-level: AUROC / AUPRC of the scores.json scores against labels from the masks (sklearn example)', async () => {
    // sklearn's docstring example: y = [0, 0, 1, 1], s = [0.1, 0.4, 0.35, 0.8] → AUROC 0.75, AP 0.8333.
    const root = await pngSet(
      'image-level',
      [0.1, 0.4, 0.35, 0.8].map((v) => new Array<number>(16).fill(v)),
      [zeros(), zeros(), withPixels([5]), withPixels([6, 7])],
      [0.1, 0.4, 0.35, 0.8],
    );
    const out = join(root, 'eval');
    const r = await run(['-p', 'image-level', '-m', join(root, 'maps'), '-g', join(root, 'masks'), '-o', out]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const s = JSON.parse(r.out) as { entries: MetricEntry[]; cases: number };
    expect(s.cases).toBe(4);
    expect(entry(s.entries, 'AUROC')!.value).toBeCloseTo(0.75, 12);
    expect(entry(s.entries, 'AUPRC')!.value).toBeCloseTo(5 / 6, 12);
    for (const f of ['report.md', 'report.json', 'roc.svg', 'pr.svg', 'roc.png', 'pr.png']) {
      expect(existsSync(join(out, f)), f).toBe(true);
    }
    const json = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as {
      cases: { id: string; label: number; gt: string }[];
      report: { protocol: string };
    };
    expect(json.report.protocol).toBe('image-level');
    expect(json.cases.map((c) => [c.id, c.label])).toEqual([
      ['s0', 0],
      ['s1', 0],
      ['s2', 1],
      ['s3', 1],
    ]);
    expect(readFileSync(join(out, 'report.md'), 'utf8')).toMatch(/\| AUROC \| +\| 0\.7500 \| 4 \| image-level/);

    // The same from the map means (16-bit PNG round trip keeps the order) and from a labels CSV.
    writeFileSync(join(root, 'labels.csv'), 'filename,label\npng/s0.png,0\npng/s1.png,1\npng/s2.png,1\npng/s3.png,0\n');
    const m = await run(
      ['-p', 'image-level', '-m', join(root, 'maps'), '-l', join(root, 'labels.csv')].concat([
        '--score',
        'mean',
        '-o',
        join(root, 'eval2'),
      ]),
    );
    expect(m.code).toBe(0);
    // labels [0, 1, 1, 0], scores [0.1, 0.4, 0.35, 0.8]: positive > negative in 2 of 4 pairs → 0.5;
    // AP: ranks 0.8(−), 0.4(+), 0.35(+) → precisions 1/2, 2/3 at recalls 1/2, 1 → (1/2)(1/2) + (1/2)(2/3) = 7/12.
    const ms = JSON.parse(m.out) as { entries: MetricEntry[] };
    expect(entry(ms.entries, 'AUROC')!.value).toBeCloseTo(0.5, 12);
    expect(entry(ms.entries, 'AUPRC')!.value).toBeCloseTo(7 / 12, 12);
  });

  it('thor: equals thorBrainProtocol on the maps read back, with bins scaled from 128² by area', async () => {
    const maps = [
      zeros().map((_, i) => (i % 5) / 5),
      zeros().map((_, i) => (i === 3 ? 1 : 0.2)),
      zeros().map((_, i) => i / 20),
    ];
    const masks = [withPixels([0, 5, 10]), withPixels([3]), zeros()];
    const root = await pngSet('thor', maps, masks, [0, 0, 0]);
    const r = await run(['-p', 'thor', '-m', join(root, 'maps'), '-g', join(root, 'masks'), '-o', join(root, 'e')]);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.out) as { entries: MetricEntry[] };
    const back = await Promise.all(maps.map((_, k) => readPngFile(join(root, 'maps', `s${k}_anomaly.png`))));
    const f = 16 / (128 * 128);
    const expected = collectWarnings(() =>
      thorBrainProtocol(
        back.map((b, k) => ({
          id: `s${k}`,
          map: { data: Float64Array.from(b.data), shape: [4, 4] },
          gt: { data: Float64Array.from(masks[k]!), shape: [4, 4] },
        })),
        { bins: THOR_LESION_BINS.map((b) => ({ ...b, min: b.min * f, max: b.max * f })) },
      ),
    ).result;
    expect(s.entries).toHaveLength(expected.entries.length);
    s.entries.forEach((e, i) => {
      const x = expected.entries[i]!;
      expect([e.metric, e.subset, e.n]).toEqual([x.metric, x.subset, x.n]);
      if (Number.isNaN(x.value)) expect(e.value).toBeNull();
      else expect(e.value).toBeCloseTo(x.value, 12);
    });
    // By hand (×16/128²): small (0.0029, 0.0693] and medium (0.0693, 0.5566] px hold nothing, large
    // (0.5566, 9.77] holds s0 (3 px) and s1 (1 px): 2 images pooled; s2 (no lesion) is in no bin.
    expect(entry(s.entries, 'AUPRC', 'large (0.556640625, 9.765625]')!.n).toBe(2);
  });

  it('lesion-detection and behrendt on NIfTI volumes (hand counts; behrendtPerVolumeProtocol values)', async () => {
    const root = join(dir, 'nifti');
    for (const d of ['maps', 'gt', 'brain']) mkdirSync(join(root, d), { recursive: true });
    // 6×6×2 volumes (x, y, z); NIfTI index x + 6·(y + 6·z).
    const at = (x: number, y: number, z: number) => x + 6 * (y + 6 * z);
    const gtData = new Float32Array(72);
    const mapData = new Float32Array(72);
    for (const [x, y] of [
      [0, 0],
      [1, 0],
    ])
      gtData[at(x, y, 0)] = 1; // lesion A (found)
    gtData[at(4, 4, 1)] = 1; // lesion B (missed)
    mapData[at(0, 0, 0)] = 0.9; // overlaps A
    mapData[at(5, 0, 1)] = 0.8; // false positive
    mapData[at(2, 2, 0)] = 0.3; // below the threshold
    const brain = new Float32Array(72).fill(1);
    const vol = (data: Float32Array) => createVolume({ data, shape: [6, 6, 2] });
    await writeNiftiFile(join(root, 'maps', 'sub1_flair_anomaly.nii.gz'), vol(mapData));
    await writeNiftiFile(join(root, 'gt', 'sub1_seg.nii.gz'), vol(gtData));
    await writeNiftiFile(join(root, 'brain', 'sub1_mask.nii.gz'), vol(brain));
    const base = ['-m', join(root, 'maps'), '-g', join(root, 'gt'), '-b', join(root, 'brain')];
    const ld = await run(['-p', 'lesion-detection', ...base, '-t', '0.5', '--min-size', '1', '-o', join(root, 'ld')]);
    expect(ld.err).toBe('');
    expect(ld.code).toBe(0);
    const l = JSON.parse(ld.out) as { entries: MetricEntry[] };
    expect(l.entries.map((e) => [e.metric, e.value])).toEqual([
      ['lesion TP', 1],
      ['lesion FP', 1],
      ['lesion FN', 1],
      ['lesion recall', 0.5],
      ['lesion precision', 0.5],
    ]);

    const b = await run(['-p', 'behrendt', ...base, '-t', '0.5', '-o', join(root, 'b')]);
    expect(b.code).toBe(0);
    const got = (JSON.parse(b.out) as { entries: MetricEntry[] }).entries;
    const shape = [2, 6, 6]; // C order of the NIfTI [x, y, z] data
    const expected = collectWarnings(() =>
      behrendtPerVolumeProtocol(
        [
          {
            id: 'sub1_flair',
            map: { data: mapData, shape },
            gt: { data: gtData, shape },
            brainMask: { data: brain, shape },
          },
        ],
        { threshold: 0.5, sliceAxis: 0 },
      ),
    ).result;
    expect(got.map((e) => e.metric)).toEqual(expected.entries.map((e) => e.metric));
    got.forEach((e, i) => {
      const x = expected.entries[i]!.value;
      if (Number.isNaN(x)) expect(e.value).toBeNull();
      else expect(e.value).toBeCloseTo(x, 12);
    });
    // By hand: after removing components ≤ 7 voxels nothing is predicted → Dice 0.
    expect(entry(got, 'Dice')!.value).toBe(0);
  });

  it('errors name the case and files: missing map (exit 2), missing ground truth (2), shape mismatch (1)', async () => {
    const root = await pngSet('errors', [zeros(), zeros()], [withPixels([1]), zeros()], [0.5, 0.1]);
    const maps = join(root, 'maps');
    // scores.json lists a map that is gone
    const scores = JSON.parse(readFileSync(join(maps, 'scores.json'), 'utf8')) as { records: unknown[] };
    writeFileSync(join(root, 'scores-extra.json'), '');
    const extra = {
      ...scores,
      records: [...scores.records, { input: 'png/s9.png', score: 0, outputs: [join(maps, 's9_anomaly.png')] }],
    };
    mkdirSync(join(root, 'maps2'));
    writeFileSync(join(root, 'maps2', 'scores.json'), JSON.stringify(extra));
    const missing = await run(['-p', 'thor', '-m', join(root, 'maps2'), '-g', join(root, 'masks'), '-o', root]);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/case 's9'.*s9_anomaly\.png/);
    // a --cases list naming a case without a map
    writeFileSync(join(root, 'cases.txt'), 's0\ns1\ns7\n');
    const listed = await run(
      ['-p', 'thor', '-m', maps, '-g', join(root, 'masks'), '--cases', join(root, 'cases.txt')].concat(['-o', root]),
    );
    expect(listed.code).toBe(2);
    expect(listed.err).toMatch(/case 's7'.*no anomaly map/);
    // no ground truth for a case
    rmSync(join(root, 'masks', 's1.png'));
    const noGt = await run(['-p', 'thor', '-m', maps, '-g', join(root, 'masks'), '-o', root]);
    expect(noGt.code).toBe(2);
    expect(noGt.err).toMatch(/case 's1': no ground truth/);
    // a mask of another size
    await writePngFile(join(root, 'masks', 's1.png'), { data: new Float32Array(6), width: 3, height: 2 });
    const bad = await run(['-p', 'thor', '-m', maps, '-g', join(root, 'masks'), '-o', root]);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain(join(maps, 's1_anomaly.png'));
    expect(bad.err).toContain(join(root, 'masks', 's1.png'));
    expect(bad.err).toMatch(/\[4, 4\].*\[2, 3\]/);
    // usage: protocol needs a threshold
    const noT = await run(['-p', 'lesion-detection', '-m', maps, '-g', join(root, 'masks'), '-o', root]);
    expect(noT.code).toBe(2);
    expect(noT.err).toMatch(/--threshold/);
    const badP = await run(['-p', 'nope', '-m', maps, '-o', root]);
    expect(badP.code).toBe(2);
  });

  it('evaluates what adx detect wrote: thor maps of PNG slices against THOR-layout masks (end to end)', async () => {
    const root = join(dir, 'e2e');
    await useBackend('cpu');
    const model = DiffusionModelUNet.fromConfig(
      {
        className: 'DiffusionModelUNet',
        inChannels: 1,
        outChannels: 1,
        numChannels: [32, 32],
        attentionLevels: [false, false],
        numResBlocks: 1,
        numHeadChannels: 32,
      },
      { seed: 3 },
    );
    await saveCheckpoint(join(root, 'unet'), model);
    model.dispose();
    // 3 slices 12×10 with a bright square; masks mark it on two of them
    const masks: Float32Array[] = [];
    for (let k = 0; k < 3; k++) {
      const img = new Float32Array(120).fill(0.2);
      const mask = new Float32Array(120);
      if (k < 2) for (const i of [25, 26, 37, 38]) [img[i], mask[i]] = [0.9, 1];
      masks.push(mask);
      await writePngFile(join(root, 'png', `sub${k}_slice4.png`), { data: img, width: 12, height: 10 });
      await writePngFile(join(root, 'masks', `sub${k}_slice4.png`), { data: mask, width: 12, height: 10 });
    }
    const det = await main(
      ['-q', 'detect', 'thor', '-m', join(root, 'unet'), '-i', join(root, 'png'), '-o', join(root, 'maps')].concat([
        '--size',
        '16',
        '--t-start',
        '2',
        '--backend',
        'cpu',
      ]),
      { stdout: () => {}, stderr: () => {} },
    );
    expect(det).toBe(0);
    const r = await run([
      '-p',
      'image-level',
      '-m',
      join(root, 'maps'),
      '-g',
      join(root, 'masks'),
      '-o',
      join(root, 'e'),
    ]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const got = JSON.parse(r.out) as { entries: MetricEntry[]; cases: number };
    expect(got.cases).toBe(3);
    const scores = JSON.parse(readFileSync(join(root, 'maps', 'scores.json'), 'utf8')) as {
      records: { input: string; score: number }[];
    };
    const byName = new Map(scores.records.map((x) => [x.input.split('/').pop()!, x.score]));
    const expected = collectWarnings(() =>
      imageLevelProtocol(
        [0, 1, 2].map((k) => byName.get(`sub${k}_slice4.png`)!),
        [1, 1, 0],
      ),
    ).result;
    expect(entry(got.entries, 'AUROC')!.value).toBeCloseTo(expected.entries[0]!.value, 12);
    // thor on the same maps: at 12×10 the bins scale by 120/128², so the 4-px lesions fall in medium (0.520, 4.175]
    const t = await run(['-p', 'thor', '-m', join(root, 'maps'), '-g', join(root, 'masks'), '-o', join(root, 't')]);
    expect(t.code).toBe(0);
    const read = (f: string) =>
      Promise.all([0, 1, 2].map(async (k) => (await readPngFile(join(root, f.replace('K', String(k))))).data));
    const back = await read('maps/subK_slice4_anomaly.png');
    const inputs = await read('png/subK_slice4.png');
    const recs = await read('maps/subK_slice4_healthy.png');
    const f = 120 / (128 * 128);
    const thorExpected = collectWarnings(() =>
      thorBrainProtocol(
        back.map((b, k) => ({
          map: { data: b, shape: [10, 12] },
          gt: { data: masks[k]!, shape: [10, 12] },
          input: { data: inputs[k]!, shape: [10, 12] },
          reconstruction: { data: recs[k]!, shape: [10, 12] },
        })),
        { bins: THOR_LESION_BINS.map((b) => ({ ...b, min: b.min * f, max: b.max * f })) },
      ),
    ).result;
    const thorGot = (JSON.parse(t.out) as { entries: MetricEntry[] }).entries;
    expect(thorGot.map((e) => [e.metric, e.subset, e.n])).toEqual(
      thorExpected.entries.map((e) => [e.metric, e.subset, e.n]),
    );
    thorGot.forEach((e, i) => {
      const x = thorExpected.entries[i]!.value;
      if (Number.isNaN(x)) expect(e.value).toBeNull();
      else expect(e.value).toBeCloseTo(x, 12);
    });
    expect(entry(thorGot, 'AUPRC', 'medium (0.52001953125, 4.1748046875]')!.n).toBe(2);
    // MAE / SSIM of the input PNG vs detect's `_healthy` reconstruction are part of it
    expect(entry(thorGot, 'SSIM', 'medium (0.52001953125, 4.1748046875]')!.n).toBe(2);
  });

  it('finds ground truth by case, subject + suffix (BraTS, ATLAS, IXI names), never the map itself', () => {
    const index = new Map<string, string[]>([
      ['BraTS2021_00001_flair', ['brats/BraTS2021_00001/BraTS2021_00001_flair.nii.gz']],
      ['BraTS2021_00001_seg', ['brats/BraTS2021_00001/BraTS2021_00001_seg.nii.gz']],
      ['BraTS2021_00001_mask', ['brats/BraTS2021_00001/BraTS2021_00001_mask.nii.gz']],
      ['sub-r001s1_label-L_desc-T1lesion_mask', ['atlas/sub-r001s1_label-L_desc-T1lesion_mask.nii.gz']],
      ['slice3', ['masks/slice3.png']],
    ]);
    expect(findCaseFile(index, 'BraTS2021_00001_flair', ['_seg', '_mask']).path).toMatch(/_seg\.nii\.gz$/);
    expect(findCaseFile(index, 'BraTS2021_00001_flair', ['_mask']).path).toMatch(/_mask\.nii\.gz$/);
    expect(findCaseFile(index, 'sub-r001s1_T1w', ['_seg', '_label-L_desc-T1lesion_mask']).path).toMatch(/lesion_mask/);
    expect(findCaseFile(index, 'slice3', ['_seg']).path).toBe('masks/slice3.png');
    const self = 'brats/BraTS2021_00001/BraTS2021_00001_flair.nii.gz';
    expect(findCaseFile(index, 'BraTS2021_00001_flair', [], [self]).path).toBeUndefined();
    const none = findCaseFile(index, 'x_y', ['_seg']);
    expect(none.path).toBeUndefined();
    expect(none.tried).toEqual(['x_y_seg', 'x_seg', 'x_y']);
  });
});
