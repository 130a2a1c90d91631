/**
 * The cDDPM model of Behrendt et al. ("Guided Reconstruction with Conditioned Diffusion Models for
 * Unsupervised Anomaly Detection in Brain MRIs", CBM 2025) and its two baselines, as one
 * config-serialisable wrapper: `src/models/DDPM_2D.py` (cDDPM, DDPM) and
 * `src/models/DDPM_2D_patched.py` (pDDPM) of `FinnBehrendt/Conditioned-Diffusion-Models-UAD` @ c5904a71
 * (conditioned.md §1, §2, §6, §7).
 *
 *   c   = encoder(x)                     ResNet-50 on the clean [0,1] slice → GAP → fc (512)   (§1.1)
 *   x̂₀ = UNet(x_t, t, c)                 conditioned OpenAI UNet, emb = [time | MLP(c)], FiLM   (§1.2)
 *   x_t = √ᾱ_t·(2x − 1) + √(1−ᾱ_t)·n     Behrendt cosine schedule (float32 buffers), simplex n   (§2)
 *
 * The DDPM and pDDPM baselines are the same network without the condition (`num_classes=None`).
 */
import type * as tf from '@tensorflow/tfjs-core';
import {
  ConditionedUNetModel,
  ConfigError,
  DDPMScheduler,
  ResNetEncoder,
  WeightsError,
  checkConfigKeys,
  loadStateDict,
  resolveConditionedUNetModelConfig,
  resolveResNetEncoderConfig,
  type ConditionedUNetModelConfig,
  type DDPMSchedulerConfig,
  type ResNetEncoderConfig,
  type LoadStateDictResult,
  type TimestepsInput,
  type TorchTensor,
} from '@adx/diffusion-core';

/** PyTorch-layout state dicts (key → tensor) of the two networks, keys as the upstream modules name them. */
export interface CDDPMStateDicts {
  /** `OpenAI_Unet.UNetModel.state_dict()`. */
  unet: Map<string, TorchTensor> | Record<string, TorchTensor>;
  /** timm/torchvision ResNet `state_dict()` (cDDPM only; `num_batches_tracked` is skipped). */
  encoder?: Map<string, TorchTensor> | Record<string, TorchTensor>;
}

/** `cDDPM` (conditioned), `DDPM` (plain, full-image noise) or `pDDPM` (patched). */
export type CDDPMVariant = 'cDDPM' | 'DDPM' | 'pDDPM';

/** JSON config of a {@link CDDPM} (camelCase ports of the official yaml keys). */
export interface CDDPMConfig {
  className: 'CDDPM';
  variant: CDDPMVariant;
  /** Condition encoder (`backbone: Spark_Encoder_2D`, `version: resnet50`); null without `condition`. */
  encoder: ResNetEncoderConfig | null;
  /** Denoiser (`OpenAI_Unet.UNetModel`; `numClasses` = `cond_dim` or null). */
  unet: ConditionedUNetModelConfig;
  /** Diffusion (`timesteps 1000`, cosine, `objective pred_x0`): the `behrendt` DDPM preset. */
  scheduler: DDPMSchedulerConfig;
  /** `noise_ensemble`: average one x̂₀ per level of `stepEnsemble` (true for cDDPM). */
  noiseEnsemble: boolean;
  /** `step_ensemble` (default [250, 500, 750]); levels are used at schedule index t − 1. */
  stepEnsemble: number[];
  /** `test_timesteps` (500 in every experiment yaml): the single level without the ensemble. */
  testTimesteps: number;
  /** `patch_size` of pDDPM's grid boxes (48), or null for full-image noising. */
  patchSize: number | null;
}

export type CDDPMConfigInput = Partial<Omit<CDDPMConfig, 'className' | 'encoder' | 'unet' | 'scheduler'>> & {
  className?: 'CDDPM';
  variant: CDDPMVariant;
  encoder?: Partial<ResNetEncoderConfig> | null;
  /** UNet kwargs; anything not given takes the paper's value (`DDPM_2D.py` L33-56 at 96×96). */
  unet?: Partial<ConditionedUNetModelConfig>;
  scheduler?: Partial<DDPMSchedulerConfig>;
};

const NAME = 'CDDPM';
const KEYS = [
  'className',
  'variant',
  'encoder',
  'unet',
  'scheduler',
  'noiseEnsemble',
  'stepEnsemble',
  'testTimesteps',
  'patchSize',
] as const;

const VARIANTS: readonly CDDPMVariant[] = ['cDDPM', 'DDPM', 'pDDPM'];

/**
 * The paper-size configuration of each variant (conditioned.md §3.2, §6, §7): 96×96 slices,
 * `unet_dim 128`, `dim_mults [1,2,2]`, 3 ResBlocks, middle attention only (64 head channels),
 * FiLM, ResBlock up/down; cDDPM adds a 1-channel ResNet-50 with `cond_dim = 4·unet_dim = 512`.
 * (pDDPM's `attention_resolutions` (6,12,24) also select the middle block only.)
 */
export function paperConfig(variant: CDDPMVariant): CDDPMConfig {
  if (!VARIANTS.includes(variant))
    throw new ConfigError(NAME, 'variant', `expected cDDPM | DDPM | pDDPM, got ${String(variant)}`);
  return resolveConfig({
    variant,
    encoder: variant === 'cDDPM' ? { outFeatures: PAPER_COND_DIM } : null,
  });
}

const PAPER_UNET_DIM = 128;
/** `DDPM_2D.py` L24-28 overwrites `cfg.cond_dim` with `unet_dim*4` (512). */
const PAPER_COND_DIM = 4 * PAPER_UNET_DIM;

/**
 * The UNet kwargs of `DDPM_2D.py` L33-56 (cDDPM, DDPM) and `DDPM_2D_patched.py` (pDDPM), used as
 * defaults under the given config: 1 channel in/out, `num_res_blocks 3`, `dim_mults [1,2,2]`,
 * `att_res` (3,6,12) | (6,12,24) (middle block only either way), 64 head channels, FiLM, ResBlock
 * up/down, new attention order; `numClasses` = the encoder width for cDDPM, none for the baselines.
 */
function unetDefaults(variant: CDDPMVariant, condDim: number | null): Partial<ConditionedUNetModelConfig> {
  return {
    imageSize: [96, 96],
    inChannels: 1,
    modelChannels: PAPER_UNET_DIM,
    outChannels: 1,
    numResBlocks: 3,
    attentionResolutions: variant === 'pDDPM' ? [6, 12, 24] : [3, 6, 12],
    dropout: 0,
    channelMult: [1, 2, 2],
    convResample: true,
    spatialDims: 2,
    numClasses: condDim,
    useCheckpoint: variant === 'pDDPM',
    useFp16: true,
    numHeads: 1,
    numHeadChannels: 64,
    numHeadsUpsample: -1,
    useScaleShiftNorm: true,
    resblockUpdown: true,
    useNewAttentionOrder: true,
    useSpatialTransformer: false,
    transformerDepth: 1,
  };
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Validates a (partial) config and fills the official defaults; unknown keys → ConfigError. */
export function resolveConfig(config: unknown): CDDPMConfig {
  checkConfigKeys(NAME, config, KEYS);
  const c = config as Record<string, unknown>;
  if (c.className !== undefined && c.className !== NAME)
    throw new ConfigError(NAME, 'className', `expected '${NAME}', got ${String(c.className)}`);
  const variant = c.variant as CDDPMVariant;
  if (!VARIANTS.includes(variant))
    throw new ConfigError(NAME, 'variant', `expected cDDPM | DDPM | pDDPM, got ${String(c.variant)}`);
  if (c.unet !== undefined && !isObject(c.unet))
    throw new ConfigError(NAME, 'unet', 'expected a ConditionedUNetModel config object');
  let encoder: ResNetEncoderConfig | null = null;
  if (c.encoder !== undefined && c.encoder !== null) {
    if (!isObject(c.encoder)) throw new ConfigError(NAME, 'encoder', 'expected a ResNetEncoder config object or null');
    encoder = resolveResNetEncoderConfig(c.encoder);
  }
  const { className: _unetClass, ...unetGiven } = (c.unet ?? {}) as Record<string, unknown>;
  void _unetClass;
  const given = Object.fromEntries(Object.entries(unetGiven).filter(([, v]) => v !== undefined));
  const unet = resolveConditionedUNetModelConfig({
    ...unetDefaults(variant, variant === 'cDDPM' ? (encoder?.outFeatures ?? PAPER_COND_DIM) : null),
    ...given,
  });
  const scheduler = DDPMScheduler.fromPreset(
    'behrendt',
    (c.scheduler ?? {}) as Partial<DDPMSchedulerConfig>,
  ).toConfig();
  if (scheduler.predictionType !== 'sample')
    throw new ConfigError(NAME, 'scheduler', `cDDPM predicts x0 (objective pred_x0): predictionType must be 'sample'`);

  if (variant === 'cDDPM') {
    if (!encoder) throw new ConfigError(NAME, 'encoder', 'the cDDPM variant needs a condition encoder');
    if (unet.numClasses !== encoder.outFeatures)
      throw new ConfigError(
        NAME,
        'unet',
        `numClasses (${String(unet.numClasses)}) must equal the encoder's outFeatures (${encoder.outFeatures})`,
      );
    if (encoder.inChannels !== unet.inChannels)
      throw new ConfigError(NAME, 'encoder', `inChannels must equal the UNet's (${unet.inChannels})`);
  } else {
    if (encoder) throw new ConfigError(NAME, 'encoder', `the ${variant} baseline is unconditioned (encoder: null)`);
    if (unet.numClasses !== null)
      throw new ConfigError(NAME, 'unet', `the ${variant} baseline is unconditioned (numClasses: null)`);
  }

  const T = scheduler.numTrainTimesteps;
  const level = (key: string, t: unknown): number => {
    if (typeof t !== 'number' || !Number.isInteger(t) || t < 1 || t > T)
      throw new ConfigError(NAME, key, `levels must be integers in [1, ${T}], got ${String(t)}`);
    return t;
  };
  const noiseEnsemble = c.noiseEnsemble === undefined ? variant === 'cDDPM' : c.noiseEnsemble;
  if (typeof noiseEnsemble !== 'boolean') throw new ConfigError(NAME, 'noiseEnsemble', 'expected a boolean');
  const se = c.stepEnsemble ?? [250, 500, 750];
  if (!Array.isArray(se) || se.length === 0) throw new ConfigError(NAME, 'stepEnsemble', 'expected a non-empty array');
  const stepEnsemble = se.map((t) => level('stepEnsemble', t));
  const testTimesteps = level('testTimesteps', c.testTimesteps ?? 500);

  const ps = c.patchSize === undefined ? (variant === 'pDDPM' ? 48 : null) : c.patchSize;
  if (variant === 'pDDPM') {
    if (typeof ps !== 'number' || !Number.isInteger(ps) || ps < 1)
      throw new ConfigError(NAME, 'patchSize', `pDDPM needs a positive integer patch size, got ${String(ps)}`);
  } else if (ps !== null) {
    throw new ConfigError(NAME, 'patchSize', `only the pDDPM variant uses patches (got ${String(ps)})`);
  }
  return {
    className: NAME,
    variant,
    encoder,
    unet,
    scheduler,
    noiseEnsemble,
    stepEnsemble,
    testTimesteps,
    patchSize: ps as number | null,
  };
}

/**
 * cDDPM (or a baseline): the condition encoder, the denoiser and the diffusion schedule of one
 * trained model. Inference is in `detect.ts`; the caller owns the instance (`dispose()`).
 */
export class CDDPM {
  readonly className = NAME;
  readonly config: CDDPMConfig;
  /** ResNet condition encoder (eval mode), or null for the DDPM / pDDPM baselines. */
  readonly encoder: ResNetEncoder | null;
  readonly unet: ConditionedUNetModel;
  readonly scheduler: DDPMScheduler;

  /** @param options.seed initialisation seed of the networks (default 0). */
  constructor(config: CDDPMConfigInput | CDDPMConfig, options: { seed?: number } = {}) {
    const c = (this.config = resolveConfig(config));
    const seed = options.seed ?? 0;
    this.unet = ConditionedUNetModel.fromConfig(c.unet, { seed });
    this.encoder = c.encoder ? ResNetEncoder.fromConfig(c.encoder, { seed: seed + 1 }) : null;
    this.encoder?.eval();
    this.scheduler = DDPMScheduler.fromConfig(c.scheduler);
  }

  static fromConfig(config: unknown, options: { seed?: number } = {}): CDDPM {
    return new CDDPM(resolveConfig(config), options);
  }

  /** Plain JSON (round-trips through {@link CDDPM.fromConfig}). */
  toConfig(): CDDPMConfig {
    return JSON.parse(JSON.stringify(this.config)) as CDDPMConfig;
  }

  get variant(): CDDPMVariant {
    return this.config.variant;
  }

  /** The diffusion levels used at test time: `stepEnsemble` with the ensemble, else `[testTimesteps]`. */
  get testLevels(): number[] {
    return this.config.noiseEnsemble ? [...this.config.stepEnsemble] : [this.config.testTimesteps];
  }

  /**
   * Condition vectors c = encoder(x) from clean slices `[N,H,W,1]` in [0,1] (`DDPM_2D.forward`,
   * encoder in eval mode), or null for the unconditioned baselines.
   */
  condition(x01: tf.Tensor4D): tf.Tensor2D | null {
    return this.encoder ? this.encoder.apply(x01, { training: false }) : null;
  }

  /** x̂₀ = UNet(x_t, t, c) in [−1, 1] (not clamped; `objective pred_x0`). */
  predictX0(xt: tf.Tensor4D, timesteps: TimestepsInput, condition: tf.Tensor2D | null): tf.Tensor4D {
    return this.unet.apply(xt, timesteps, condition ? { condition } : {});
  }

  /**
   * Loads trained weights (strict: every parameter exactly once, PyTorch layouts converted by
   * `loadStateDict`). The encoder's BatchNorm running statistics are part of its state dict.
   */
  loadWeights(
    weights: CDDPMStateDicts,
    source = 'weights',
  ): { unet: LoadStateDictResult; encoder?: LoadStateDictResult } {
    if (this.encoder && !weights.encoder)
      throw new WeightsError(source, 'the cDDPM variant needs the encoder state dict as well');
    if (!this.encoder && weights.encoder)
      throw new WeightsError(source, `the ${this.variant} baseline has no encoder; drop the encoder state dict`);
    const unet = loadStateDict(this.unet, weights.unet, { source: `${source} (unet)` });
    if (!this.encoder || !weights.encoder) return { unet };
    const encoder = loadStateDict(this.encoder, weights.encoder, {
      ignore: ResNetEncoder.ignoredTorchKeys,
      source: `${source} (encoder)`,
    });
    return { unet, encoder };
  }

  numParameters(): number {
    return this.unet.numParameters() + (this.encoder?.numParameters() ?? 0);
  }

  trainableVariables(): tf.Variable[] {
    return [...(this.encoder?.trainableVariables() ?? []), ...this.unet.trainableVariables()];
  }

  dispose(): void {
    this.unet.dispose();
    this.encoder?.dispose();
  }
}
