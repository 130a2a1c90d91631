import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it, beforeAll } from 'vitest';
import { setTestBackend } from '@adx/test-utils';
import { SeededRNG } from '../random/rng.js';
import type { Module } from '../nn/module.js';
import { DiffusionModelUNet } from '../models/monai-unet.js';
import { UNetModel } from '../models/openai-unet.js';
import { ConditionedUNetModel } from '../models/conditioned-unet.js';
import { ResNetEncoder } from '../models/resnet.js';
import { registerWasmTrainingKernels } from './wasm-kernels.js';

/**
 * Whole-network gradient checks: every parameter gradient of tiny configs of the three papers'
 * UNets and the cDDPM ResNet encoder, on wasm (ADX training kernels) against the cpu backend,
 * from identical weights and inputs. Criterion per parameter tensor: max |Δ| ≤ 1e-4 · max |g_cpu|
 * (tensors whose cpu gradient is ~0 are compared absolutely against 1e-4 · the global max).
 */

type Build = () => { model: Module; loss: () => tf.Scalar; dispose: () => void };

async function paramGrads(build: Build, backend: 'cpu' | 'wasm'): Promise<Map<string, Float32Array>> {
  await setTestBackend(backend);
  const { model, loss, dispose } = build();
  const named = model.namedParameters();
  const vars = [...named.values()].map((p) => p.variable);
  const before = tf.memory().numTensors;
  const { value, grads } = tf.variableGrads(loss, vars);
  const out = new Map<string, Float32Array>();
  for (const [key, p] of named) {
    const g = grads[p.variable.name];
    if (g) out.set(key, (await g.data()) as Float32Array);
  }
  tf.dispose([value, ...Object.values(grads)]);
  expect(tf.memory().numTensors, `${backend}: tensors left by the training step`).toBe(before);
  dispose();
  return out;
}

async function compare(build: Build): Promise<void> {
  const ref = await paramGrads(build, 'cpu');
  const got = await paramGrads(build, 'wasm');
  expect([...got.keys()].sort()).toEqual([...ref.keys()].sort());
  let globalMax = 0;
  for (const r of ref.values()) for (const v of r) globalMax = Math.max(globalMax, Math.abs(v));
  expect(globalMax).toBeGreaterThan(0);
  for (const [key, r] of ref) {
    const g = got.get(key)!;
    let scale = 0;
    let diff = 0;
    for (let i = 0; i < r.length; i++) {
      scale = Math.max(scale, Math.abs(r[i]!));
      diff = Math.max(diff, Math.abs(r[i]! - g[i]!));
    }
    expect(diff, `${key}: max |g_wasm − g_cpu| (cpu max ${scale})`).toBeLessThanOrEqual(
      1e-4 * Math.max(scale, 1e-3 * globalMax),
    );
  }
}

const x = (): tf.Tensor4D => new SeededRNG(11).randn([2, 8, 8, 1]) as tf.Tensor4D;

describe('whole-network gradients: wasm vs cpu', () => {
  beforeAll(() => {
    registerWasmTrainingKernels();
  });

  it('THOR DiffusionModelUNet (MONAI), ε-MSE', async () => {
    await compare(() => {
      const m = DiffusionModelUNet.fromConfig(
        {
          inChannels: 1,
          outChannels: 1,
          numChannels: [16, 16],
          attentionLevels: [false, true],
          numResBlocks: 1,
          numHeadChannels: 16,
          normNumGroups: 8,
          resblockUpdown: true,
        },
        { seed: 1 },
      );
      const xi = x();
      const eps = new SeededRNG(5).randn([2, 8, 8, 1]);
      return {
        model: m,
        loss: () => tf.mean(tf.squaredDifference(m.apply(xi, [3, 500]), eps)) as tf.Scalar,
        dispose: () => {
          tf.dispose([xi, eps]);
          m.dispose();
        },
      };
    });
  });

  it('Wolleb UNetModel (guided-diffusion, class-conditional, learned sigma), with dropout', async () => {
    await compare(() => {
      const u = UNetModel.fromConfig(
        {
          imageSize: 8,
          inChannels: 1,
          modelChannels: 32,
          outChannels: 2,
          numResBlocks: 1,
          attentionResolutions: [2],
          channelMult: [1, 1],
          numHeadChannels: 16,
          useScaleShiftNorm: true,
          useNewAttentionOrder: true,
          dropout: 0.1,
          numClasses: 3,
        },
        { seed: 2 },
      );
      const xi = x();
      // Target for both output channels (ε and the variance interpolation v); zero-initialised
      // output convs make a target-free loss's gradient vanish.
      const target = new SeededRNG(6).randn([2, 8, 8, 2]);
      return {
        model: u,
        loss: () =>
          tf.mean(
            tf.squaredDifference(
              u.apply(xi, [1, 2], { classLabels: [0, 2] }, { training: true, rng: new SeededRNG(1) }),
              target,
            ),
          ) as tf.Scalar,
        dispose: () => {
          tf.dispose([xi, target]);
          u.dispose();
        },
      };
    });
  });

  it('Behrendt ConditionedUNetModel with the ResNet encoder trained jointly, x0-L1', async () => {
    await compare(() => {
      const c = ConditionedUNetModel.fromConfig(
        {
          imageSize: 8,
          inChannels: 1,
          modelChannels: 32,
          outChannels: 1,
          numResBlocks: 1,
          attentionResolutions: [2],
          channelMult: [1, 1],
          numHeadChannels: 16,
          numClasses: 8,
          resblockUpdown: true,
        },
        { seed: 3 },
      );
      const enc = ResNetEncoder.fromConfig(
        {
          className: 'ResNetEncoder',
          block: 'BasicBlock',
          layers: [1, 1],
          stemWidth: 8,
          stagePlanes: [8, 16],
          inChannels: 1,
          outFeatures: 8,
        },
        { seed: 4 },
      );
      const xi = x();
      // One Module holding both, so namedParameters() covers encoder and UNet.
      const both = {
        namedParameters: () =>
          new Map([
            ...[...c.namedParameters()].map(([k, v]) => [`unet.${k}`, v] as const),
            ...[...enc.namedParameters()].map(([k, v]) => [`encoder.${k}`, v] as const),
          ]),
      } as unknown as Module;
      return {
        model: both,
        loss: () =>
          tf.mean(
            tf.abs(tf.sub(c.apply(xi, [1, 2], { condition: enc.apply(xi, { training: false }) }), xi)),
          ) as tf.Scalar,
        dispose: () => {
          xi.dispose();
          c.dispose();
          enc.dispose();
        },
      };
    });
  });
});
