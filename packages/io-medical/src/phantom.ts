/**
 * Synthetic brain-MRI phantom with known lesions: the embedded default dataset for the demo, tests and benchmarks
 * (the real datasets cannot be shipped). It is not a physical simulation; it is built to *behave* like the
 * preprocessed scans the papers use:
 *
 * - anatomy: head ellipsoid with scalp, skull, subarachnoid CSF, a folded grey-matter cortex (sulci), white matter,
 *   lateral ventricles and deep grey nuclei, all under a smooth random deformation (healthy variability: head
 *   size, ventricle size, cortical thickness, folding pattern, small in-plane rotation);
 * - contrasts: T1-, T2- and FLAIR-like tissue intensities (CSF dark / bright / dark, WM brighter than GM on T1);
 * - acquisition: smooth multiplicative bias field, Rician noise, global intensity scale;
 * - lesions with masks: tumour (necrotic core + oedema; BraTS-like), stroke-like region (T1-hypointense, cortical
 *   and subcortical; ATLAS-like) and small periventricular MS-like hyperintensities (MSLUB-like);
 * - partial-volume edges (soft memberships) so that boundaries are not binary.
 *
 * Everything is driven by a seeded PRNG and is deterministic. A 64×64×40 volume with all three contrasts takes a
 * few tens of milliseconds.
 */
import { affineFromGeometry } from './affine.js';
import { IoArgumentError } from './errors.js';
import type { Image2D } from './image2d.js';
import { createRng, type Rng } from './rng.js';
import { createVolume, type Volume } from './volume.js';

export type Contrast = 't1' | 't1ce' | 't2' | 'flair';
export type LesionType = 'tumour' | 'stroke' | 'ms';

/** Codes of the phantom's tissue map (`PhantomVolume.tissue`: the tissue with the largest membership). */
export const PHANTOM_TISSUES = {
  background: 0,
  scalp: 1,
  skull: 2,
  csf: 3,
  gm: 4,
  wm: 5,
  tumourCore: 6,
  oedema: 7,
  stroke: 8,
  ms: 9,
} as const;

/** Label values of the phantom's segmentation. */
export const PHANTOM_LABELS = { background: 0, tumourCore: 1, oedema: 2, stroke: 3, ms: 4 } as const;

// tissue order in the membership vector
const T = { bg: 0, scalp: 1, skull: 2, csf: 3, gm: 4, wm: 5, core: 6, oedema: 7, stroke: 8, ms: 9 } as const;
const NT = 10;

/** Mean tissue intensities per contrast (arbitrary units, brain in ~[0, 1]). */
const INTENSITY: Record<Contrast, number[]> = {
  //      bg  scalp skull csf   gm    wm    core  oedema stroke ms
  t1: [0, 0.78, 0.08, 0.12, 0.45, 0.75, 0.25, 0.38, 0.18, 0.5],
  // T1 after contrast agent: the tumour core enhances
  t1ce: [0, 0.8, 0.08, 0.14, 0.47, 0.75, 0.92, 0.4, 0.2, 0.52],
  t2: [0, 0.45, 0.05, 1.0, 0.62, 0.42, 0.8, 0.88, 0.9, 0.82],
  flair: [0, 0.55, 0.05, 0.1, 0.6, 0.45, 0.72, 0.95, 0.8, 0.92],
};

export interface LesionSpec {
  type: LesionType;
  /** Centre in normalised head coordinates (roughly [-1, 1]); drawn at random when absent. */
  center?: [number, number, number];
  /** Radius in normalised units (tumour: core radius; oedema extends to ~1.8×). */
  radius?: number;
  /** MS only: number of foci (default 4–8). */
  count?: number;
}

export interface PhantomOptions {
  /** [nx, ny, nz] voxels (default [64, 64, 40]). */
  size?: readonly number[];
  /** Voxel spacing in mm (default: 200 mm in-plane field of view, 170 mm along z). */
  spacing?: readonly number[];
  seed?: number | string;
  /** Contrasts to render (default ['t1', 't2', 'flair']); `image` is the first. */
  contrasts?: Contrast[];
  /** Shorthand for `contrasts: [contrast]`. */
  contrast?: Contrast;
  /** Lesions to insert: a list of specs, a list of types, or 'none' (healthy). Default: one random type. */
  lesions?: (LesionSpec | LesionType)[] | 'none';
  /** Rician noise σ relative to the WM intensity (default 0.02). */
  noise?: number;
  /** Bias-field strength (log-amplitude, default 0.15; 0 = none). */
  biasField?: number;
  /** Global intensity scale; `true` = random in [0.8, 1.25] (default), a number = fixed. */
  intensityScale?: number | boolean;
  /** Zero everything outside the brain mask (BraTS-like skull-stripped data). */
  skullStrip?: boolean;
  /** World position (mm) of the grid centre relative to the head centre (default [0, 0, 0]). */
  centerMm?: readonly number[];
}

export interface LesionInfo {
  type: LesionType;
  center: [number, number, number];
  radius: number;
  voxels: number;
}

export interface PhantomVolume {
  /** The first requested contrast. */
  image: Volume<Float32Array>;
  contrasts: Partial<Record<Contrast, Volume<Float32Array>>>;
  /** Binary lesion mask (1 = any lesion). */
  mask: Volume<Uint8Array>;
  /** Labels: 0 background, 1 tumour core, 2 oedema, 3 stroke, 4 MS (see PHANTOM_LABELS). */
  seg: Volume<Uint8Array>;
  /** 1 inside the intracranial brain tissue (GM, WM, ventricles, deep GM, lesions). */
  brainMask: Volume<Uint8Array>;
  /** Dominant tissue per voxel (PHANTOM_TISSUES codes). */
  tissue: Volume<Uint8Array>;
  /** 1 if any lesion voxel exists. */
  label: 0 | 1;
  /** Per axial slice (axis 2): 1 if the slice contains lesion voxels (weak slice labels). */
  sliceLabels: Uint8Array;
  lesions: LesionInfo[];
  seed: number | string;
}

interface Anatomy {
  axes: [number, number, number];
  rot: number;
  deform: { f: [number, number, number]; phase: number; amp: number }[];
  cortexInner: number;
  gyri: { k1: number; k2: number; p1: number; p2: number; depth: number };
  ventScale: number;
  ventOffset: number;
  deepGm: number;
  texture: { f: [number, number, number]; phase: number }[];
}

function drawAnatomy(rng: Rng): Anatomy {
  const deform = Array.from({ length: 4 }, () => ({
    f: [rng.range(1, 3), rng.range(1, 3), rng.range(1, 3)] as [number, number, number],
    phase: rng.range(0, 2 * Math.PI),
    amp: rng.range(0.01, 0.03),
  }));
  return {
    axes: [rng.range(64, 74), rng.range(84, 96), rng.range(70, 80)],
    rot: rng.range(-0.12, 0.12),
    deform,
    cortexInner: rng.range(0.72, 0.77),
    gyri: {
      k1: rng.range(14, 20),
      k2: rng.range(9, 13),
      p1: rng.range(0, 6.28),
      p2: rng.range(0, 6.28),
      depth: rng.range(0.035, 0.05),
    },
    ventScale: rng.range(0.75, 1.35),
    ventOffset: rng.range(-0.03, 0.03),
    deepGm: rng.range(0.85, 1.15),
    texture: Array.from({ length: 3 }, () => ({
      f: [rng.range(4, 9), rng.range(4, 9), rng.range(4, 9)] as [number, number, number],
      phase: rng.range(0, 6.28),
    })),
  };
}

interface Lesion {
  type: LesionType;
  c: [number, number, number];
  r: number;
  /** shape perturbation */
  k: [number, number, number];
  ph: number;
}

function drawLesions(rng: Rng, specs: (LesionSpec | LesionType)[]): Lesion[] {
  const out: Lesion[] = [];
  for (const s0 of specs) {
    const s: LesionSpec = typeof s0 === 'string' ? { type: s0 } : s0;
    const k: [number, number, number] = [rng.range(2, 5), rng.range(2, 5), rng.range(2, 5)];
    const ph = rng.range(0, 6.28);
    if (s.type === 'tumour') {
      const ang = rng.range(0, 2 * Math.PI);
      const rr = rng.range(0.15, 0.4);
      const c = s.center ?? [rr * Math.cos(ang), rr * Math.sin(ang) * 0.9, rng.range(-0.05, 0.35)];
      out.push({ type: 'tumour', c: c as [number, number, number], r: s.radius ?? rng.range(0.09, 0.15), k, ph });
    } else if (s.type === 'stroke') {
      const ang = rng.range(0, 2 * Math.PI);
      const c = s.center ?? [0.6 * Math.cos(ang), 0.6 * Math.sin(ang), rng.range(0.0, 0.35)];
      out.push({ type: 'stroke', c: c as [number, number, number], r: s.radius ?? rng.range(0.14, 0.24), k, ph });
    } else if (s.type === 'ms') {
      const n = s.count ?? rng.int(4, 9);
      for (let i = 0; i < n; i++) {
        const side = rng.uniform() < 0.5 ? -1 : 1;
        const c: [number, number, number] =
          s.center && i === 0 ? s.center : [side * rng.range(0.2, 0.35), rng.range(-0.3, 0.35), rng.range(0.0, 0.35)];
        out.push({ type: 'ms', c, r: s.radius ?? rng.range(0.035, 0.06), k, ph: rng.range(0, 6.28) });
      }
    } else {
      throw new IoArgumentError('lesions', `unknown lesion type ${JSON.stringify((s as { type: unknown }).type)}`);
    }
  }
  return out;
}

const clamp01 = (x: number) => (x < 0 ? 0 : x > 1 ? 1 : x);

interface Grid {
  shape: [number, number, number];
  spacing: [number, number, number];
  /** world (mm) of voxel [0,0,0]; RAS, axes aligned */
  origin: [number, number, number];
}

interface Rendered {
  weights: Float32Array; // NT per voxel
  texture: Float32Array;
  seg: Uint8Array;
  brain: Uint8Array;
  normPos: Float32Array; // normalised coordinates (for bias field)
}

/** Moves a fraction `f` of the replaceable tissue (GM, WM and, for tumours, intracranial CSF) into tissue `t`. */
function takeTissue(wv: Float64Array, f: number, t: number, withCsf: boolean, fBrain: number): void {
  if (f <= 0) return;
  const csf = withCsf ? wv[T.csf]! * fBrain : 0;
  const avail = wv[T.gm]! + wv[T.wm]! + csf;
  if (avail <= 0) return;
  const amount = Math.min(f, 1) * avail;
  const sg = wv[T.gm]! / avail;
  const sw = wv[T.wm]! / avail;
  const sc = csf / avail;
  wv[T.gm] -= amount * sg;
  wv[T.wm] -= amount * sw;
  wv[T.csf] -= amount * sc;
  wv[t] += amount;
}

/** Tissue memberships of every voxel of the grid (the anatomy and lesions evaluated at voxel centres). */
function render(anat: Anatomy, lesions: Lesion[], grid: Grid): Rendered {
  const [nx, ny, nz] = grid.shape;
  const n = nx * ny * nz;
  const weights = new Float32Array(n * NT);
  const texture = new Float32Array(n);
  const seg = new Uint8Array(n);
  const brain = new Uint8Array(n);
  const normPos = new Float32Array(n * 3);
  const [ax, ay, az] = anat.axes;
  const cr = Math.cos(anat.rot);
  const sr = Math.sin(anat.rot);
  // half-width of the soft edges in normalised units (about half a voxel)
  const w = (0.6 * Math.min(grid.spacing[0], grid.spacing[1])) / ax;
  const sm = (d: number) => clamp01(d / w + 0.5);
  const g = anat.gyri;
  // flattened smooth deformation terms: [fx, fy, fz, phase, amplitude] × 4
  const def = Float64Array.from(anat.deform.flatMap((t) => [t.f[0], t.f[1], t.f[2], t.phase, t.amp]));
  const tex = Float64Array.from(anat.texture.flatMap((t) => [t.f[0], t.f[1], t.f[2], t.phase]));
  const nDef = anat.deform.length;
  const nTex = anat.texture.length;
  // the folding pattern only matters between the deepest possible WM edge and the brain surface
  const foldLo = anat.cortexInner - g.depth - 2 * w;
  const foldHi = 0.83 + 2 * w;
  const vs = anat.ventScale;
  const ew = w * 1.5;
  const wv = new Float64Array(NT);
  let idx = 0;
  for (let k = 0; k < nz; k++) {
    const z = grid.origin[2] + k * grid.spacing[2];
    for (let j = 0; j < ny; j++) {
      const y0 = grid.origin[1] + j * grid.spacing[1];
      for (let i = 0; i < nx; i++, idx++) {
        const x0 = grid.origin[0] + i * grid.spacing[0];
        // in-plane rotation, then normalisation by the head semi-axes
        const qx = (cr * x0 + sr * y0) / ax;
        const qy = (-sr * x0 + cr * y0) / ay;
        const qz = z / az;
        normPos[3 * idx] = qx;
        normPos[3 * idx + 1] = qy;
        normPos[3 * idx + 2] = qz;
        const base = idx * NT;
        const r0 = Math.sqrt(qx * qx + qy * qy + qz * qz);
        if (r0 > 1.25) {
          weights[base] = 1;
          continue;
        }
        let d = 0;
        for (let m = 0; m < nDef; m++) {
          const o = 5 * m;
          d += def[o + 4]! * Math.sin(def[o]! * qx + def[o + 1]! * qy + def[o + 2]! * qz + def[o + 3]!);
        }
        const r = r0 * (1 + d);
        if (r > 1.08) {
          weights[base] = 1;
          continue;
        }
        wv.fill(0);
        // nested shells: head, skull, CSF, brain (cortex outer surface), white matter
        const fHead = sm(1.0 - r);
        const fSkull = sm(0.93 - r);
        const fCsf = sm(0.87 - r);
        // brain is flattened at the base (no brain below qz < -0.55)
        const fBrain = Math.min(sm(0.83 - r), sm(qz + 0.6));
        // cortical folding: sulci (CSF) cut into the grey matter where the folding pattern is high
        let fold = 0;
        if (r > foldLo && r < foldHi) {
          const theta = Math.atan2(qy, qx);
          const phi = Math.acos(Math.max(-1, Math.min(1, qz / Math.max(r0, 1e-6))));
          fold = Math.sin(g.k1 * theta + g.p1) * Math.sin(g.k2 * phi + g.p2);
        }
        const wmEdge = anat.cortexInner + g.depth * fold;
        const fWm = Math.min(sm(wmEdge - r), fBrain);
        const fSulcus = fold > 0.55 ? Math.min(sm(r - (0.83 - 0.13 * (fold - 0.55))), 1) * fBrain * (1 - fWm) : 0;
        wv[T.bg] = 1 - fHead;
        wv[T.scalp] = fHead - fSkull;
        wv[T.skull] = fSkull - fCsf;
        wv[T.csf] = fCsf - fBrain + fSulcus;
        wv[T.gm] = fBrain - fWm - fSulcus;
        wv[T.wm] = fWm;
        // lateral ventricles (CSF) and deep grey nuclei inside the white matter
        if (fWm > 0) {
          let fVent = 0;
          for (let side = -1; side <= 1; side += 2) {
            const vx = (qx - side * 0.1 * vs) / (0.07 * vs);
            const vy = (qy - anat.ventOffset - 0.05) / (0.32 * vs);
            const vz = (qz - 0.12) / (0.12 * vs);
            fVent = Math.max(fVent, sm((1 - Math.sqrt(vx * vx + vy * vy + vz * vz)) * 0.07 * vs));
            const dx = (qx - side * 0.24) / (0.1 * anat.deepGm);
            const dy = (qy + 0.02) / (0.16 * anat.deepGm);
            const dz = (qz - 0.02) / (0.1 * anat.deepGm);
            const fDeep = sm((1 - Math.sqrt(dx * dx + dy * dy + dz * dz)) * 0.1) * wv[T.wm]!;
            wv[T.wm] -= fDeep;
            wv[T.gm] += fDeep;
          }
          if (fVent > 0) {
            const both = wv[T.wm]! + wv[T.gm]!;
            const take = fVent * both;
            const fw = both > 0 ? wv[T.wm]! / both : 0;
            wv[T.wm] -= take * fw;
            wv[T.gm] -= take * (1 - fw);
            wv[T.csf] += take;
          }
        }
        // lesions replace brain tissue (GM, WM; tumours also push into intracranial CSF)
        let label = 0;
        for (let l = 0; l < lesions.length; l++) {
          const les = lesions[l]!;
          const dx = qx - les.c[0];
          const dy = qy - les.c[1];
          const dz = qz - les.c[2];
          const dist = Math.sqrt(dx * dx + dy * dy + dz * dz);
          if (dist > les.r * 2.2) continue;
          const wobble = 1 + 0.18 * Math.sin((les.k[0] * dx + les.k[1] * dy + les.k[2] * dz) / les.r + les.ph);
          const isTumour = les.type === 'tumour';
          if (wv[T.gm]! + wv[T.wm]! + (isTumour ? wv[T.csf]! * fBrain : 0) <= 0) continue;
          if (isTumour) {
            const fE = clamp01((les.r * 1.8 * wobble - dist) / ew + 0.5);
            const fC = clamp01((les.r * wobble - dist) / ew + 0.5);
            takeTissue(wv, fE - fC, T.oedema, true, fBrain);
            takeTissue(wv, fC, T.core, true, fBrain);
            if (fC >= 0.5) label = PHANTOM_LABELS.tumourCore;
            else if (fE >= 0.5 && label === 0) label = PHANTOM_LABELS.oedema;
          } else if (les.type === 'stroke') {
            const f = clamp01((les.r * wobble - dist) / ew + 0.5);
            takeTissue(wv, f, T.stroke, false, fBrain);
            if (f >= 0.5 && label === 0) label = PHANTOM_LABELS.stroke;
          } else {
            const f = clamp01((les.r * wobble - dist) / ew + 0.5);
            takeTissue(wv, f * (fWm > 0.5 ? 1 : 0.5), T.ms, false, fBrain);
            if (f >= 0.5 && fWm > 0.3 && label === 0) label = PHANTOM_LABELS.ms;
          }
        }
        const inBrain = fBrain >= 0.5 && r < 0.86;
        seg[idx] = inBrain ? label : 0;
        brain[idx] = inBrain ? 1 : 0;
        for (let t = 0; t < NT; t++) weights[base + t] = wv[t]! < 0 ? 0 : wv[t]!;
        let tx = 0;
        for (let m = 0; m < nTex; m++) {
          const o = 4 * m;
          tx += Math.sin(tex[o]! * qx + tex[o + 1]! * qy + tex[o + 2]! * qz + tex[o + 3]!);
        }
        texture[idx] = 1 + 0.025 * tx;
      }
    }
  }
  return { weights, texture, seg, brain, normPos };
}

function contrastImage(
  rd: Rendered,
  contrast: Contrast,
  rng: Rng,
  opts: { noise: number; bias: number; scale: number; skullStrip: boolean },
): Float32Array {
  const n = rd.texture.length;
  const out = new Float32Array(n);
  const table = INTENSITY[contrast];
  // bias field: exp of a random low-order polynomial in the normalised coordinates
  const c = Array.from({ length: 6 }, () => rng.normal() * opts.bias);
  const sigma = opts.noise * 0.75;
  for (let i = 0; i < n; i++) {
    let v = 0;
    const base = i * NT;
    for (let t = 0; t < NT; t++) v += rd.weights[base + t]! * table[t]!;
    if (rd.weights[base + T.bg]! < 1) v *= rd.texture[i]!;
    const x = rd.normPos[3 * i]!;
    const y = rd.normPos[3 * i + 1]!;
    const z = rd.normPos[3 * i + 2]!;
    if (opts.bias !== 0)
      v *= Math.exp(c[0]! * x + c[1]! * y + c[2]! * z + 0.5 * (c[3]! * x * x + c[4]! * y * y + c[5]! * x * y));
    // Rician noise: magnitude of a complex signal with Gaussian noise in both channels
    if (sigma > 0) {
      const re = v + sigma * rng.normal();
      const im = sigma * rng.normal();
      v = Math.sqrt(re * re + im * im);
    }
    if (opts.skullStrip && !rd.brain[i]) v = 0;
    out[i] = v * opts.scale;
  }
  return out;
}

function tissueMap(weights: Float32Array): Uint8Array {
  const n = weights.length / NT;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let t = 1; t < NT; t++) if (weights[i * NT + t]! > weights[i * NT + best]!) best = t;
    out[i] = best;
  }
  return out;
}

function defaultSpacing(size: readonly number[]): [number, number, number] {
  return [200 / size[0]!, 200 / size[1]!, 170 / size[2]!];
}

/**
 * Generates one seeded 3-D phantom subject (RAS+ grid centred on the head). Same options + seed → identical output.
 */
export function generatePhantomVolume(options: PhantomOptions = {}): PhantomVolume {
  const size = options.size ?? [64, 64, 40];
  if (size.length !== 3 || size.some((s) => !Number.isInteger(s) || s < 1)) {
    throw new IoArgumentError('size', `expected 3 positive integers, got [${size.join(', ')}]`);
  }
  const spacing = (options.spacing ?? defaultSpacing(size)) as [number, number, number];
  const seed = options.seed ?? 0;
  const rng = createRng(seed);
  const anat = drawAnatomy(rng.fork('anatomy'));
  const lesionRng = rng.fork('lesions');
  const types: LesionType[] = ['tumour', 'stroke', 'ms'];
  const specs = options.lesions === 'none' ? [] : (options.lesions ?? [types[lesionRng.int(0, 3)]!]);
  const lesions = drawLesions(lesionRng, specs);
  const centre = options.centerMm ?? [0, 0, 0];
  const origin = [0, 1, 2].map((d) => (centre[d] ?? 0) + (-(size[d]! - 1) / 2) * spacing[d]!) as [
    number,
    number,
    number,
  ];
  const grid: Grid = { shape: size as [number, number, number], spacing, origin };
  const rd = render(anat, lesions, grid);
  const acqRng = rng.fork('acquisition');
  const scale =
    typeof options.intensityScale === 'number'
      ? options.intensityScale
      : options.intensityScale === false
        ? 1
        : acqRng.range(0.8, 1.25);
  const contrasts = options.contrasts ?? (options.contrast ? [options.contrast] : ['t1', 't2', 'flair']);
  if (contrasts.length === 0) throw new IoArgumentError('contrasts', 'needs at least one contrast');
  const affine = affineFromGeometry(
    [
      [1, 0, 0],
      [0, 1, 0],
      [0, 0, 1],
    ],
    spacing,
    origin,
  );
  const meta = { format: 'phantom', seed };
  const vols: Partial<Record<Contrast, Volume<Float32Array>>> = {};
  for (const c of contrasts) {
    if (!(c in INTENSITY))
      throw new IoArgumentError('contrasts', `unknown contrast ${JSON.stringify(c)} (t1, t1ce, t2, flair)`);
    const data = contrastImage(rd, c, acqRng.fork(c), {
      noise: options.noise ?? 0.02,
      bias: options.biasField ?? 0.15,
      scale,
      skullStrip: options.skullStrip ?? false,
    });
    vols[c] = createVolume({ data, shape: size, affine, metadata: { ...meta, contrast: c } });
  }
  const mask = new Uint8Array(rd.seg.length);
  for (let i = 0; i < mask.length; i++) mask[i] = rd.seg[i]! > 0 ? 1 : 0;
  const [nx, ny, nz] = size as [number, number, number];
  const sliceLabels = new Uint8Array(nz);
  for (let k = 0; k < nz; k++) {
    for (let p = k * nx * ny; p < (k + 1) * nx * ny; p++) {
      if (mask[p]) {
        sliceLabels[k] = 1;
        break;
      }
    }
  }
  const lesionInfo: LesionInfo[] = lesions.map((l) => ({ type: l.type, center: l.c, radius: l.r, voxels: 0 }));
  const code = { tumour: [1, 2], stroke: [3], ms: [4] } as const;
  for (const li of lesionInfo) {
    let count = 0;
    for (let i = 0; i < rd.seg.length; i++) if ((code[li.type] as readonly number[]).includes(rd.seg[i]!)) count++;
    li.voxels = count;
  }
  const label: 0 | 1 = mask.some((v) => v > 0) ? 1 : 0;
  return {
    image: vols[contrasts[0]!]!,
    contrasts: vols,
    mask: createVolume({ data: mask, shape: size, affine, metadata: { ...meta, kind: 'mask' } }),
    seg: createVolume({ data: rd.seg, shape: size, affine, metadata: { ...meta, kind: 'seg' } }),
    brainMask: createVolume({ data: rd.brain, shape: size, affine, metadata: { ...meta, kind: 'brainMask' } }),
    tissue: createVolume({ data: tissueMap(rd.weights), shape: size, affine, metadata: { ...meta, kind: 'tissue' } }),
    label,
    sliceLabels,
    lesions: lesionInfo,
    seed,
  };
}

export interface PhantomSlice {
  image: Image2D;
  mask: Image2D;
  brainMask: Image2D;
  label: 0 | 1;
  subjectId: string;
  sliceIndex: number;
  contrast: Contrast;
}

/**
 * 2-D phantom slices (THOR-like single axial slices), one random subject per slice, cut near the level of the
 * lateral ventricles. `diseasedFraction` of them carry a lesion crossing the slice.
 */
export function generatePhantomSlices(options: {
  count: number;
  size?: number;
  seed?: number | string;
  contrast?: Contrast;
  diseasedFraction?: number;
  lesionTypes?: LesionType[];
  noise?: number;
  biasField?: number;
}): PhantomSlice[] {
  const size = options.size ?? 128;
  const contrast = options.contrast ?? 't1';
  const rng = createRng(options.seed ?? 0);
  const out: PhantomSlice[] = [];
  for (let s = 0; s < options.count; s++) {
    const srng = rng.fork(s);
    const diseased = srng.uniform() < (options.diseasedFraction ?? 0.5);
    const types = options.lesionTypes ?? ['tumour', 'stroke', 'ms'];
    const z = srng.range(0.08, 0.25);
    const lesions: LesionSpec[] = [];
    if (diseased) {
      const type = types[srng.int(0, types.length)]!;
      const ang = srng.range(0, 2 * Math.PI);
      const rad = type === 'stroke' ? 0.6 : type === 'tumour' ? srng.range(0.15, 0.4) : 0.28;
      lesions.push({ type, center: [rad * Math.cos(ang), rad * Math.sin(ang), z + srng.range(-0.03, 0.03)] });
    }
    const spacing = 200 / size;
    const vol = generatePhantomVolume({
      size: [size, size, 1],
      spacing: [spacing, spacing, 1],
      seed: `${String(options.seed ?? 0)}/slice${s}`,
      contrasts: [contrast],
      lesions: diseased ? lesions : 'none',
      noise: options.noise,
      biasField: options.biasField,
      centerMm: [0, 0, z * 75],
    });
    const img = (v: Volume): Image2D => ({
      data: Float32Array.from(v.data as ArrayLike<number>),
      width: size,
      height: size,
    });
    out.push({
      image: img(vol.image),
      mask: img(vol.mask),
      brainMask: img(vol.brainMask),
      label: vol.label,
      subjectId: `phantom-${String(options.seed ?? 0)}-${s}`,
      sliceIndex: 0,
      contrast,
    });
  }
  return out;
}

/** Tiles images into one montage (row-major, `columns` per row), each min–max normalised to [0, 1]. */
export function montage(images: Image2D[], columns = Math.ceil(Math.sqrt(images.length)), normalize = true): Image2D {
  if (images.length === 0) throw new IoArgumentError('images', 'is empty');
  const w = Math.max(...images.map((i) => i.width));
  const h = Math.max(...images.map((i) => i.height));
  const rows = Math.ceil(images.length / columns);
  const W = w * columns;
  const data = new Float32Array(W * h * rows);
  images.forEach((im, n) => {
    let lo = 0;
    let hi = 1;
    if (normalize) {
      lo = Infinity;
      hi = -Infinity;
      for (const v of im.data) {
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
    const span = hi > lo ? hi - lo : 1;
    const ox = (n % columns) * w;
    const oy = Math.floor(n / columns) * h;
    for (let r = 0; r < im.height; r++)
      for (let c = 0; c < im.width; c++) data[(oy + r) * W + ox + c] = (im.data[r * im.width + c]! - lo) / span;
  });
  return { data, width: W, height: h * rows };
}
