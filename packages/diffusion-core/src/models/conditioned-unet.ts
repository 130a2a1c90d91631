/**
 * Behrendt et al.'s conditioned OpenAI UNet (`FinnBehrendt/Conditioned-Diffusion-Models-UAD`,
 * `src/models/modules/OpenAI_Unet.py`, helpers in `src/models/LDM/modules/diffusionmodules/util.py`).
 *
 * The body is guided-diffusion's ({@link OpenAIUNetBase}); the embedding differs:
 *   time = time_embed(timestep_embedding(t, mc))              (Linear mc→4mc, SiLU, Linear 4mc→4mc)
 *   cond = label_emb(c)                                        (Linear K→4mc, SiLU, Linear 4mc→4mc)
 *   emb  = concat([time, cond], −1)                            (8·mc wide, `fac = 2`)
 * and every ResBlock maps `emb` to (scale, shift) (FiLM, `use_scale_shift_norm=True` in the paper).
 * Without `numClasses` the model is a plain LDM UNet (emb = time, 4·mc wide).
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError, checkConfigKeys, ConfigError } from '../errors.js';
import { SeededRNG } from '../random/rng.js';
import { EmbeddingMLP } from '../nn/embeddings.js';
import { BODY_KEYS, OpenAIUNetBase, resolveBodyConfig, type OpenAIUNetBodyConfig } from './openai-unet.js';
import { cfg, type ModelConditioning } from './types.js';

export interface ConditionedUNetModelConfig extends OpenAIUNetBodyConfig {
  className: 'ConditionedUNetModel';
  /** Width of the condition vector (`num_classes` upstream, set to `cond_dim`), or null for no condition. */
  numClasses: number | null;
  /** Cross-attention path of the LDM UNet; off in the paper and not supported. */
  useSpatialTransformer: false;
  transformerDepth: number;
}

const NAME = 'ConditionedUNetModel';
const KEYS = [...BODY_KEYS, 'numClasses', 'useSpatialTransformer', 'transformerDepth'] as const;

export function resolveConditionedUNetModelConfig(config: unknown): ConditionedUNetModelConfig {
  checkConfigKeys(NAME, config, KEYS);
  const body = resolveBodyConfig(NAME, config);
  if (config.useSpatialTransformer !== undefined && config.useSpatialTransformer !== false) {
    throw new ConfigError(
      NAME,
      'useSpatialTransformer',
      'the cross-attention path is not supported (upstream it crashes: context_dim is never passed)',
    );
  }
  const nc = config.numClasses;
  return {
    className: NAME,
    ...body,
    numClasses: nc === undefined || nc === null ? null : cfg.int(NAME, 'numClasses', nc, 1),
    useSpatialTransformer: false,
    transformerDepth: cfg.int(NAME, 'transformerDepth', config.transformerDepth ?? 1, 1),
  };
}

/** Behrendt's cDDPM UNet: x̂₀ from (x_t, t, condition vector). */
export class ConditionedUNetModel extends OpenAIUNetBase {
  readonly className = NAME;
  readonly config: ConditionedUNetModelConfig;
  private readonly labelEmb: EmbeddingMLP | null;

  constructor(config: Partial<ConditionedUNetModelConfig>, options: { seed?: number } = {}) {
    const c = resolveConditionedUNetModelConfig(config);
    const rng = new SeededRNG(options.seed ?? 0);
    const timeEmbedDim = 4 * c.modelChannels;
    super(NAME, c, timeEmbedDim, c.numClasses === null ? timeEmbedDim : 2 * timeEmbedDim, rng);
    this.config = c;
    this.labelEmb =
      c.numClasses === null ? null : this.addModule('label_emb', new EmbeddingMLP(c.numClasses, timeEmbedDim, { rng }));
  }

  static fromConfig(config: unknown, options: { seed?: number } = {}): ConditionedUNetModel {
    return new ConditionedUNetModel(resolveConditionedUNetModelConfig(config), options);
  }

  toConfig(): ConditionedUNetModelConfig {
    return JSON.parse(JSON.stringify(this.config)) as ConditionedUNetModelConfig;
  }

  /** emb = cat([time_embed(t), label_emb(cond)], 1); a shape-[1] time embedding is broadcast first. */
  protected embed(timeEmb: tf.Tensor2D, cond: ModelConditioning, batch: number): tf.Tensor2D {
    if (!this.labelEmb) return timeEmb;
    const k = this.config.numClasses!;
    const c = cond.condition;
    if (!c) throw new ArgumentError('cond.condition', `${NAME} needs a condition vector [N, ${k}]`);
    if (c.rank !== 2 || c.shape[0] !== batch || c.shape[1] !== k) {
      throw new ArgumentError('cond.condition', `expected shape [${batch}, ${k}], got [${c.shape.join(', ')}]`);
    }
    const time = timeEmb.shape[0] === batch ? timeEmb : tf.tile(timeEmb, [batch, 1]);
    return tf.concat([time, this.labelEmb.apply(c)], 1);
  }
}
