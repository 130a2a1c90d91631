import * as tf from '@tensorflow/tfjs-core';
import { describe, it, expect } from 'vitest';
import { describeBackends, expectClose, expectNoLeaks } from '@adx/test-utils';
import { ConfigError } from '../errors.js';
import { Adam, AdamW, clipGradNorm } from './optimizers.js';
import { EMA } from './ema.js';
import { registerTrainingGradients } from './gradients.js';

registerTrainingGradients();

/**
 * Scalar float64 reference of torch.optim.Adam / AdamW, transcribed from the algorithm boxes in the
 * torch documentation (not from optimizers.ts).
 */
function torchAdamRef(
  theta0: number[],
  grads: number[][],
  o: { lr: number; b1: number; b2: number; eps: number; wd: number; decoupled: boolean },
): number[][] {
  const theta = theta0.slice();
  const m = theta.map(() => 0);
  const v = theta.map(() => 0);
  const out: number[][] = [];
  grads.forEach((g, k) => {
    const t = k + 1;
    for (let i = 0; i < theta.length; i++) {
      let gi = g[i]!;
      if (o.decoupled) theta[i] = theta[i]! - o.lr * o.wd * theta[i]!;
      else gi = gi + o.wd * theta[i]!;
      m[i] = o.b1 * m[i]! + (1 - o.b1) * gi;
      v[i] = o.b2 * v[i]! + (1 - o.b2) * gi * gi;
      const mHat = m[i]! / (1 - o.b1 ** t);
      const vHat = v[i]! / (1 - o.b2 ** t);
      theta[i] = theta[i]! - (o.lr * mHat) / (Math.sqrt(vHat) + o.eps);
    }
    out.push(theta.slice());
  });
  return out;
}

const theta0 = [1, -2, 0.5];
const grads = [
  [0.5, -1, 0],
  [0.1, 0.2, -0.3],
  [-0.3, 0.4, 0.05],
];

async function runOptimizer(opt: (p: tf.Variable[]) => Adam): Promise<number[][]> {
  const p = tf.variable(tf.tensor1d(theta0));
  const o = opt([p]);
  const out: number[][] = [];
  for (const g of grads) {
    const gt = tf.tensor1d(g);
    o.step([gt]);
    gt.dispose();
    out.push(Array.from(await p.data()));
  }
  o.dispose();
  p.dispose();
  return out;
}

describeBackends('Adam / AdamW', () => {
  it('Adam step 1 moves every coordinate by lr·sign(g) (bias-corrected m̂/√v̂ = ±1)', async () => {
    const got = await runOptimizer((p) => new Adam(p, { lr: 0.1 }));
    // g = 0 gives m̂ = 0: no move. Others: lr·|g|/(|g| + 1e-8).
    expectClose(got[0]!, [1 - 0.1 * (0.5 / (0.5 + 1e-8)), -2 + 0.1 * (1 / (1 + 1e-8)), 0.5], 1e-6, 'step 1');
  });

  it('Adam matches torch.optim.Adam for 3 steps (default betas, eps)', async () => {
    const got = await runOptimizer((p) => new Adam(p, { lr: 0.1 }));
    const ref = torchAdamRef(theta0, grads, { lr: 0.1, b1: 0.9, b2: 0.999, eps: 1e-8, wd: 0, decoupled: false });
    got.forEach((g, i) => expectClose(g, ref[i]!, 1e-6, `step ${i + 1}`));
  });

  it('Adam with weight decay adds λθ to the gradient (L2)', async () => {
    const got = await runOptimizer((p) => new Adam(p, { lr: 0.05, betas: [0.8, 0.99], eps: 1e-6, weightDecay: 0.1 }));
    const ref = torchAdamRef(theta0, grads, { lr: 0.05, b1: 0.8, b2: 0.99, eps: 1e-6, wd: 0.1, decoupled: false });
    got.forEach((g, i) => expectClose(g, ref[i]!, 1e-6, `step ${i + 1}`));
  });

  it('AdamW decays θ by (1 − lr·λ) before the Adam step (decoupled), default λ = 0.01', async () => {
    const w = new AdamW([tf.variable(tf.zeros([1]))]);
    expect(w.config.weightDecay).toBe(0.01);
    w.dispose();
    const got = await runOptimizer((p) => new AdamW(p, { lr: 0.1, betas: [0.9, 0.95], weightDecay: 0.05 }));
    const ref = torchAdamRef(theta0, grads, { lr: 0.1, b1: 0.9, b2: 0.95, eps: 1e-8, wd: 0.05, decoupled: true });
    got.forEach((g, i) => expectClose(g, ref[i]!, 1e-6, `step ${i + 1}`));
    // Hand check of step 1, coordinate 3 (g = 0): only the decay acts: 0.5·(1 − 0.1·0.05) = 0.4975.
    expect(got[0]![2]).toBeCloseTo(0.4975, 6);
  });

  it('accepts named maps and tf.variableGrads output; getState/setState resumes exactly; no leaks', async () => {
    const mk = (): Record<string, tf.Variable> => ({
      w: tf.variable(
        tf.tensor2d([
          [1, 2],
          [3, 4],
        ]),
      ),
      b: tf.variable(tf.tensor1d([0.5])),
    });
    const x = tf.tensor2d([[1, -1]]);
    const lossOf = (p: Record<string, tf.Variable>) => () =>
      tf.sum(tf.square(tf.add(tf.matMul(x, p.w!), p.b!))) as tf.Scalar;
    const stepOnce = (p: Record<string, tf.Variable>, o: Adam): void => {
      const { value, grads: g } = tf.variableGrads(lossOf(p), Object.values(p));
      // variableGrads keys by variable.name; the optimizer maps them to the map's names.
      o.step(g);
      tf.dispose([value, ...Object.values(g)]);
    };
    const a = mk();
    const optA = new AdamW(a, { lr: 0.01 });
    const before = tf.memory().numTensors;
    await expectNoLeaks(() => {
      for (let i = 0; i < 5; i++) stepOnce(a, optA);
    });
    expect(tf.memory().numTensors).toBe(before);
    const state = optA.getState();
    expect(state.step).toBe(5);
    expect(Object.keys(state.expAvg).sort()).toEqual(['b', 'w']);
    // Continue A one step; B = fresh params copied from A's pre-step values + restored state.
    const b = mk();
    b.w!.assign(a.w!);
    b.b!.assign(a.b!);
    const optB = new AdamW(b, { lr: 0.01 });
    optB.setState(state);
    stepOnce(a, optA);
    stepOnce(b, optB);
    expect(Array.from(await b.w!.data())).toEqual(Array.from(await a.w!.data()));
    expect(Array.from(await b.b!.data())).toEqual(Array.from(await a.b!.data()));
    expect(optB.stepCount).toBe(6);
    tf.dispose([
      ...Object.values(state.expAvg),
      ...Object.values(state.expAvgSq),
      x,
      ...Object.values(a),
      ...Object.values(b),
    ]);
    optA.dispose();
    optB.dispose();
  });

  it('toConfig / fromConfig round-trip; unknown keys are rejected', () => {
    const p = [tf.variable(tf.zeros([2]))];
    const o = new Adam(p, { lr: 3e-4, betas: [0.9, 0.95] });
    const cfg = o.toConfig();
    expect(JSON.parse(JSON.stringify(cfg))).toEqual({
      lr: 3e-4,
      betas: [0.9, 0.95],
      eps: 1e-8,
      weightDecay: 0,
      amsgrad: false,
    });
    const o2 = Adam.fromConfig(p, cfg);
    expect(o2.toConfig()).toEqual(cfg);
    expect(() => AdamW.fromConfig(p, { lr: 1, momentum: 0.9 })).toThrow(ConfigError);
    expect(() => new Adam(p, { betas: [1.2, 0.9] })).toThrow(ConfigError);
    [o, o2].forEach((x) => x.dispose());
    tf.dispose(p);
  });
});

describeBackends('clipGradNorm', () => {
  it('scales by maxNorm / (‖g‖ + 1e-6) when above, returns the total norm (torch clip_grad_norm_)', async () => {
    const g = { a: tf.tensor1d([3, 4]), b: tf.tensor1d([12]) };
    await expectNoLeaks(async () => {
      const r = clipGradNorm(g, 6.5);
      expect(await r.totalNorm.data()).toEqual(new Float32Array([13]));
      const c = 6.5 / (13 + 1e-6);
      expectClose(await r.grads.a.data(), [3 * c, 4 * c], 1e-6);
      expectClose(await r.grads.b.data(), [12 * c], 1e-6);
      tf.dispose([r.totalNorm, r.grads.a, r.grads.b]);
      // Below the threshold: coefficient clamped to 1.
      const r2 = clipGradNorm([g.a, g.b], 26);
      expectClose(await r2.grads[0]!.data(), [3, 4], 0);
      tf.dispose([r2.totalNorm, ...r2.grads]);
      // ∞-norm: max |g| = 12.
      const r3 = clipGradNorm(g, 6, Infinity);
      expect((await r3.totalNorm.data())[0]).toBe(12);
      expectClose(await r3.grads.b.data(), [12 * (6 / (12 + 1e-6))], 1e-6);
      tf.dispose([r3.totalNorm, r3.grads.a, r3.grads.b]);
    });
    tf.dispose([g.a, g.b]);
  });
});

describeBackends('EMA', () => {
  it("warmup 'none' (guided-diffusion): θ_ema ← 0.9·θ_ema + 0.1·θ, hand-computed", async () => {
    const p = tf.variable(tf.tensor1d([1, -1]));
    const ema = new EMA([p], { decay: 0.9 });
    tf.tidy(() => p.assign(tf.tensor1d([2, 1])));
    expect(ema.update()).toBe(0.9);
    expectClose(await ema.shadow[p.name]!.data(), [1.1, -0.8], 1e-6);
    tf.tidy(() => p.assign(tf.tensor1d([3, 1])));
    ema.update();
    expectClose(await ema.shadow[p.name]!.data(), [1.29, -0.62], 1e-6);
    ema.dispose();
    p.dispose();
  });

  it("warmup 'diffusers' and 'power' follow EMAModel.get_decay; copyTo; state round trip; no leaks", async () => {
    const p = tf.variable(tf.tensor1d([4]));
    const ema = new EMA({ w: p }, { decay: 0.5, warmup: 'diffusers' });
    // n = 1: s = 0 → d = 0 (copy); n = 2: s = 1 → 2/11; n = 3: s = 2 → 3/12; n = 10: s = 9 → 10/19 > 0.5 → 0.5.
    expect([1, 2, 3, 10].map((n) => ema.decayAt(n))).toEqual([0, 2 / 11, 3 / 12, 0.5]);
    const pw = new EMA({ w: p }, { warmup: 'power', invGamma: 1, power: 2 / 3, updateAfterStep: 2 });
    expect(pw.decayAt(3)).toBe(0);
    expect(pw.decayAt(4)).toBeCloseTo(1 - Math.pow(2, -2 / 3), 12);
    pw.dispose();
    await expectNoLeaks(async () => {
      tf.tidy(() => p.assign(tf.tensor1d([6])));
      expect(ema.update()).toBe(0);
      expect(Array.from(await ema.shadow.w!.data())).toEqual([6]);
      tf.tidy(() => p.assign(tf.tensor1d([-5])));
      ema.update(); // 6·2/11 + (−5)·9/11 = −3
      expectClose(await ema.shadow.w!.data(), [-3], 1e-6);
    });
    const state = ema.getState();
    const ema2 = new EMA({ w: p }, ema.toConfig());
    ema2.setState(state);
    expect(ema2.step).toBe(2);
    ema2.copyTo();
    expectClose(await p.data(), [-3], 1e-6);
    expect(() => EMA.fromConfig({ w: p }, { decay: 0.9, rate: 1 })).toThrow(ConfigError);
    tf.dispose([...Object.values(state.shadow), p]);
    ema.dispose();
    ema2.dispose();
  });
});

describeBackends('optimizer and EMA lifetimes', () => {
  it('construction, state restore and dispose leave no tensors behind', async () => {
    const params = [tf.variable(tf.ones([3, 2])), tf.variable(tf.zeros([4]))];
    const before = tf.memory().numTensors;
    const adam = new Adam(params, { lr: 0.1, amsgrad: true });
    const ema = new EMA(params, { decay: 0.9 });
    // Each moment/shadow is exactly one live variable.
    expect(tf.memory().numTensors - before).toBe(3 * params.length + params.length);
    // getState returns tensors the caller owns; tidy releases them after the round trip.
    tf.tidy(() => adam.setState(adam.getState()));
    tf.tidy(() => ema.setState(ema.getState()));
    expect(tf.memory().numTensors - before).toBe(3 * params.length + params.length);
    adam.dispose();
    ema.dispose();
    expect(tf.memory().numTensors).toBe(before);
    params.forEach((p) => p.dispose());
  });
});

describe('optimizer argument checks', () => {
  it('rejects gradients of the wrong shape', () => {
    const p = tf.variable(tf.zeros([2]));
    const o = new Adam([p]);
    const g = tf.zeros([3]);
    expect(() => o.step([g])).toThrow(/does not match/);
    tf.dispose([p, g]);
    o.dispose();
  });
});
