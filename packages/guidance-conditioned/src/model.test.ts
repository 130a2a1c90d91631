import { describe, expect, it } from 'vitest';
import { ConfigError, DDPMScheduler, WeightsError } from '@adx/diffusion-core';
import { CDDPM, paperConfig, resolveConfig } from './model.js';
import { fixture, tinyConfig, tinyUNet } from './__tests__/fixtures.js';

describe('CDDPM config', () => {
  it('fixture model: parameter counts of both official modules, config JSON round trip', () => {
    const m = new CDDPM(tinyConfig, { seed: 3 });
    expect(m.unet.numParameters()).toBe(fixture('cddpm_unet').config.param_count);
    expect(m.encoder!.numParameters()).toBe(fixture('cddpm_encoder_resnet50').config.param_count);
    expect(m.numParameters()).toBe(
      fixture('cddpm_unet').config.param_count + fixture('cddpm_encoder_resnet50').config.param_count,
    );
    const c = m.toConfig();
    expect(c.className).toBe('CDDPM');
    expect(c.noiseEnsemble).toBe(true);
    expect(c.stepEnsemble).toEqual([250, 500, 750]);
    expect(m.testLevels).toEqual([250, 500, 750]);
    const m2 = CDDPM.fromConfig(JSON.parse(JSON.stringify(c)));
    expect(m2.toConfig()).toEqual(c);
    expect(c.scheduler).toEqual(DDPMScheduler.fromPreset('behrendt').toConfig());
    m.dispose();
    m2.dispose();
  });

  it('paper configs (conditioned.md §3.2, §6, §7): cond_dim 4·unet_dim = 512, baselines unconditioned', () => {
    const c = paperConfig('cDDPM');
    expect(c.unet.modelChannels).toBe(128);
    expect(c.unet.channelMult).toEqual([1, 2, 2]);
    expect(c.unet.numResBlocks).toBe(3);
    expect(c.unet.numHeadChannels).toBe(64);
    expect(c.unet.numClasses).toBe(512);
    expect(c.encoder!.outFeatures).toBe(512);
    expect(c.encoder!.layers).toEqual([3, 4, 6, 3]);
    expect(c.encoder!.block).toBe('Bottleneck');
    expect(c.scheduler.betaSchedule).toBe('behrendtCosine');
    expect(c.scheduler.predictionType).toBe('sample');
    const d = paperConfig('DDPM');
    expect(d.encoder).toBeNull();
    expect(d.unet.numClasses).toBeNull();
    expect(d.noiseEnsemble).toBe(false);
    expect(d.testTimesteps).toBe(500);
    const p = paperConfig('pDDPM');
    expect(p.patchSize).toBe(48);
    expect(p.unet.attentionResolutions).toEqual([6, 12, 24]);
    expect(resolveConfig(JSON.parse(JSON.stringify(p)))).toEqual(p);
  });

  it('typed config errors', () => {
    expect(() => resolveConfig({ ...tinyConfig, bogus: 1 })).toThrow(ConfigError);
    expect(() => resolveConfig({ ...tinyConfig, variant: 'xDDPM' })).toThrow(/variant/);
    expect(() => resolveConfig({ ...tinyConfig, encoder: null })).toThrow(/needs a condition encoder/);
    expect(() => resolveConfig({ ...tinyConfig, unet: { ...tinyUNet, numClasses: 32 } })).toThrow(/numClasses/);
    expect(() => resolveConfig({ ...tinyConfig, variant: 'DDPM' })).toThrow(/unconditioned/);
    expect(() => resolveConfig({ variant: 'DDPM', unet: { ...tinyUNet, numClasses: null }, patchSize: 16 })).toThrow(
      /patchSize/,
    );
    expect(() => resolveConfig({ ...tinyConfig, stepEnsemble: [0, 500] })).toThrow(/stepEnsemble/);
    expect(() => resolveConfig({ ...tinyConfig, scheduler: { predictionType: 'epsilon' } })).toThrow(/pred_x0/);
    expect(() => resolveConfig({ ...tinyConfig, encoder: { depth: 3 } })).toThrow(ConfigError);
    expect(() => paperConfig('nope' as never)).toThrow(ConfigError);
  });

  it('loadWeights: strict keys, encoder required exactly for cDDPM', () => {
    const m = new CDDPM(tinyConfig);
    const unet = fixture('cddpm_unet').weights;
    const encoder = fixture('cddpm_encoder_resnet50').weights;
    expect(() => m.loadWeights({ unet })).toThrow(WeightsError);
    const r = m.loadWeights({ unet, encoder });
    expect(r.unet.loaded.length).toBe(unet.size);
    expect(r.encoder!.ignored.every((k) => k.endsWith('num_batches_tracked'))).toBe(true);
    expect(() => m.loadWeights({ unet: encoder, encoder })).toThrow(/unet/);
    m.dispose();
    const d = new CDDPM({ variant: 'DDPM', unet: { ...tinyUNet, numClasses: null } });
    expect(() => d.loadWeights({ unet, encoder })).toThrow(/no encoder/);
    d.dispose();
  });
});
