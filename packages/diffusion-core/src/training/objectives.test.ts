import * as tf from '@tensorflow/tfjs-core';
import { describeBackends, expectNoLeaks } from '@adx/test-utils';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { DiffusionModelUNet } from '../models/monai-unet.js';
import { EncoderUNetModel, UNetModel } from '../models/openai-unet.js';
import { SeededRNG } from '../random/rng.js';
import { DDPMScheduler } from '../schedulers/ddpm.js';
import { registerBatchNormGradient } from './batchnorm-grad.js';
import { InMemoryDataset } from './data.js';
import {
  approxStandardNormalCdf,
  ClassifierObjective,
  crossEntropyLoss,
  DiffusionObjective,
  discretizedGaussianLogLikelihood,
  normalKl,
  stopGradient,
  vbTermBpd,
} from './objectives.js';
import { Trainer } from './trainer.js';
import { registerTrainingGradients } from './gradients.js';

const values = async (t: tf.Tensor) => Array.from(await t.data());

/** Φ approximation of guided-diffusion, by hand. */
const phi = (x: number) => 0.5 * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));

const tinyWolleb = () =>
  UNetModel.fromConfig(
    {
      imageSize: 8,
      inChannels: 1,
      modelChannels: 32,
      outChannels: 2,
      numResBlocks: 1,
      attentionResolutions: [2],
      dropout: 0,
      channelMult: [1, 1],
      numClasses: 2,
      useCheckpoint: false,
      useFp16: false,
      numHeads: 1,
      numHeadChannels: -1,
      numHeadsUpsample: -1,
      useScaleShiftNorm: false,
      resblockUpdown: false,
      useNewAttentionOrder: false,
    },
    { seed: 1 },
  );

describe('guided-diffusion loss pieces [cpu]', () => {
  it('normal_kl and the discretised Gaussian log-likelihood match hand computations', async () => {
    await tf.setBackend('cpu');
    registerTrainingGradients();
    // KL(N(0, 1) ‖ N(1, e)) = ½(−1 + 1 − 0 + e^{−1} + 1·e^{−1}) = e^{−1}
    const kl = normalKl(tf.scalar(0), tf.scalar(0), tf.scalar(1), tf.scalar(1));
    expect((await values(kl))[0]).toBeCloseTo(Math.exp(-1), 6);
    expect((await values(approxStandardNormalCdf(tf.tensor1d([0, 1]))))[1]).toBeCloseTo(phi(1), 6);
    // interior bin, lower edge (x < −0.999), upper edge (x > 0.999); σ = e^{−1}
    const x = tf.tensor1d([0.2, -1, 1]);
    const m = tf.tensor1d([0.1, -0.9, 0.95]);
    const ll = await values(discretizedGaussianLogLikelihood(x, m, tf.fill([3], -1)));
    const s = Math.E; // 1/σ
    expect(ll[0]).toBeCloseTo(Math.log(phi(s * (0.1 + 1 / 255)) - phi(s * (0.1 - 1 / 255))), 4);
    expect(ll[1]).toBeCloseTo(Math.log(phi(s * (-0.1 + 1 / 255))), 5);
    expect(ll[2]).toBeCloseTo(Math.log(1 - phi(s * (0.05 - 1 / 255))), 5);
    tf.dispose([kl, x, m]);
  });

  it('stopGradient is the identity forward and blocks the gradient', async () => {
    const g = tf.grad((x: tf.Tensor) => tf.sum(tf.add(tf.mul(stopGradient(x), x), x)));
    const x = tf.tensor1d([1, 2]);
    expect(await values(stopGradient(x))).toEqual([1, 2]);
    expect(await values(g(x))).toEqual([2, 3]); // d/dx (c·x + x) with c = x frozen
    x.dispose();
  });

  it('VB term: decoder NLL at t = 0, KL in bits otherwise; trains only the variance half', async () => {
    const sched = DDPMScheduler.fromPreset('wolleb');
    const rng = new SeededRNG(4);
    const x0 = tf.clipByValue(rng.randn([2, 4, 4, 1]), -1, 1) as tf.Tensor4D;
    const xt = rng.randn([2, 4, 4, 1]) as tf.Tensor4D;
    const out = tf.mul(rng.randn([2, 4, 4, 2]), 0.5) as tf.Tensor4D;
    const t = [0, 500];
    const vb = await values(vbTermBpd(sched, out, x0, xt, t));
    const pm = sched.pMeanVariance(out, t, xt, { clipDenoised: false });
    const truth = sched.qPosteriorMeanVariance(x0, xt, t);
    const klAll = await values(tf.mean(normalKl(truth.mean, truth.logVariance, pm.mean, pm.logVariance), [1, 2, 3]));
    const nllAll = await values(
      tf.mean(tf.neg(discretizedGaussianLogLikelihood(x0, pm.mean, tf.mul(0.5, pm.logVariance))), [1, 2, 3]),
    );
    expect(vb[0]).toBeCloseTo(nllAll[0]! / Math.LN2, 4);
    expect(vb[1]).toBeCloseTo(klAll[1]! / Math.LN2, 4);
    const grad = tf.grad((o: tf.Tensor) => tf.sum(vbTermBpd(sched, o as tf.Tensor4D, x0, xt, t)))(out);
    const [gEps, gV] = tf.split(grad, 2, 3);
    expect(await values(gEps!)).toEqual(new Array(32).fill(0));
    expect((await values(gV!)).some((v) => v !== 0)).toBe(true);
    tf.dispose([x0, xt, out, grad, gEps!, gV!, pm.mean, pm.variance, pm.logVariance, pm.predOriginalSample]);
    tf.dispose([truth.mean, truth.variance, truth.logVariance]);
  });

  it('hybrid per-sample loss = ε-MSE + VB term (Wolleb: not rescaled)', async () => {
    const model = tinyWolleb();
    const sched = DDPMScheduler.fromPreset('wolleb');
    const objective = DiffusionObjective.wolleb(model, sched);
    const x = tf.tensor4d(new SeededRNG(2).uniformArray(2 * 8 * 8), [2, 8, 8, 1]);
    const label = tf.tensor1d([0, 1], 'int32');
    const t = [0, 700];
    const got = await expectNoLeaks(async () => {
      const l = objective.perSampleLoss(
        { image: x, label },
        { rng: new SeededRNG(9), dropoutRng: new SeededRNG(0) },
        t,
      );
      const v = await values(l);
      l.dispose();
      return v;
    });
    // by hand: the same noise (first draw of the generator), the model call, then the terms
    const noise = new SeededRNG(9).randn([2, 8, 8, 1]);
    const xt = sched.addNoise(x, noise, t) as tf.Tensor4D;
    const out = model.apply(xt, t, { classLabels: label });
    const [eps] = tf.split(out, 2, 3);
    const mse = await values(tf.mean(tf.square(tf.sub(eps!, noise)), [1, 2, 3]));
    const vb = await values(vbTermBpd(sched, out, x, xt, t));
    expect(got[0]).toBeCloseTo(mse[0]! + vb[0]!, 4);
    expect(got[1]).toBeCloseTo(mse[1]! + vb[1]!, 4);
    tf.dispose([x, label, noise, xt, out, eps!]);
    model.dispose();
  });

  it('cross-entropy with class weights as torch F.cross_entropy(weight=…)', async () => {
    const logits = tf.tensor2d([0, Math.log(3), 0, Math.log(3)], [2, 2]);
    const labels = tf.tensor1d([0, 1], 'int32');
    const plain = (await values(crossEntropyLoss(logits, labels)))[0]!;
    expect(plain).toBeCloseTo((Math.log(4) + Math.log(4 / 3)) / 2, 5);
    const w = (await values(crossEntropyLoss(logits, labels, [3, 1])))[0]!;
    expect(w).toBeCloseTo((3 * Math.log(4) + Math.log(4 / 3)) / 4, 5);
    tf.dispose([logits, labels]);
  });

  it('validates objective configs against the model and scheduler', () => {
    const thor = DiffusionModelUNet.fromConfig({
      spatialDims: 2,
      inChannels: 1,
      outChannels: 1,
      numChannels: [4, 8],
      attentionLevels: [false, false],
      numResBlocks: 1,
      normNumGroups: 4,
    });
    expect(
      () => new DiffusionObjective({ model: thor }, DDPMScheduler.fromPreset('thor'), { lossType: 'hybrid' }),
    ).toThrow(ConfigError);
    expect(() => DiffusionObjective.wolleb(thor, DDPMScheduler.fromPreset('wolleb'))).toThrow(/output channels/);
    expect(
      () => new DiffusionObjective({ model: thor }, DDPMScheduler.fromPreset('thor'), { loss: 'l2' } as never),
    ).toThrow(/unknown key/);
    const obj = DiffusionObjective.thor(thor, DDPMScheduler.fromPreset('thor'));
    expect(obj.toConfig()).toMatchObject({ className: 'DiffusionObjective', lossType: 'mse', noiseType: 'gaussian' });
    thor.dispose();
  });

  it('FusedBatchNorm gradient matches central finite differences', async () => {
    registerBatchNormGradient();
    const rng = new SeededRNG(3);
    const x0 = rng.randn([2, 2, 2, 3]);
    const gamma0 = tf.tensor1d([1.5, -0.5, 2]);
    const beta0 = tf.tensor1d([0.1, 0.2, 0.3]);
    const w = rng.randn([2, 2, 2, 3]);
    const f = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
      tf.tidy(() => {
        const { mean, variance } = tf.moments(x, [0, 1, 2]);
        return tf.sum(
          tf.mul(
            w,
            tf.batchNorm4d(
              x as tf.Tensor4D,
              mean as tf.Tensor1D,
              variance as tf.Tensor1D,
              b as tf.Tensor1D,
              g as tf.Tensor1D,
              1e-3,
            ),
          ),
        );
      });
    const grads = tf.grads((x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => f(x, g, b))([x0, gamma0, beta0]);
    const h = 1e-2;
    for (const [which, base] of [
      [0, x0],
      [1, gamma0],
    ] as const) {
      const analytic = await values(grads[which]!);
      const data = Array.from(await base.data());
      for (const i of [0, 2, data.length - 1]) {
        const plus = data.slice();
        const minus = data.slice();
        plus[i]! += h;
        minus[i]! -= h;
        const args = (d: number[]) => {
          const t = tf.tensor(d, base.shape);
          return which === 0 ? f(t, gamma0, beta0) : f(x0, t, beta0);
        };
        const fp = (await values(args(plus)))[0]!;
        const fm = (await values(args(minus)))[0]!;
        expect(analytic[i]!).toBeCloseTo((fp - fm) / (2 * h), 2);
      }
    }
    expect(await values(grads[2]!)).toEqual(
      Array.from(await tf.sum(w, [0, 1, 2]).data()).map((v) => expect.closeTo(v, 5)),
    );
    tf.dispose([x0, gamma0, beta0, w, ...grads]);
  });
});

describeBackends(
  'objectives in the trainer',
  () => {
    it('Wolleb: class-conditional hybrid-loss steps with AdamW and EMA', async () => {
      const model = tinyWolleb();
      const data = new InMemoryDataset(
        { data: new SeededRNG(1).uniformArray(4 * 64), shape: [4, 8, 8, 1] },
        { batchSize: 2, labels: [0, 1, 1, 0] },
      );
      const trainer = new Trainer({
        objective: DiffusionObjective.wolleb(model, DDPMScheduler.fromPreset('wolleb')),
        optimizer: { type: 'adamw', lr: 1e-4, weightDecay: 0 },
        ema: { decay: 0.9999 },
        seed: 1,
      });
      const r = await trainer.fit({ data, steps: 2 });
      expect(r.step).toBe(2);
      expect(Number.isFinite(r.loss)).toBe(true);
      trainer.dispose();
      model.dispose();
    });

    it('noisy classifier: cross-entropy at uniform t', async () => {
      const clf = EncoderUNetModel.fromConfig(
        {
          imageSize: 8,
          inChannels: 1,
          modelChannels: 32,
          outChannels: 2,
          numResBlocks: 1,
          attentionResolutions: [2],
          channelMult: [1, 1],
          useFp16: false,
          numHeadChannels: 32,
          useScaleShiftNorm: true,
          resblockUpdown: true,
          pool: 'attention',
        },
        { seed: 2 },
      );
      const objective = new ClassifierObjective(clf, DDPMScheduler.fromPreset('wolleb'), { classWeights: [3, 1] });
      const data = new InMemoryDataset(
        { data: new SeededRNG(1).uniformArray(4 * 64), shape: [4, 8, 8, 1] },
        { batchSize: 2, labels: [0, 1, 1, 0] },
      );
      const trainer = new Trainer({ objective, optimizer: { type: 'adamw', lr: 1e-4, weightDecay: 0 }, seed: 2 });
      const r = await trainer.fit({ data, steps: 2 });
      // at initialisation the logits are near 0, so the CE is near ln 2
      expect(r.loss).toBeGreaterThan(0.3);
      expect(r.loss).toBeLessThan(1.5);
      trainer.dispose();
      clf.dispose();
    });
  },
  ['wasm'],
);
