/**
 * Model registry: build any ADX network from its JSON config (dispatch on `className`), import
 * official PyTorch weights (`.pt` / safetensors / an in-memory state dict) into it, and restore
 * checkpoints. Classes are imported explicitly — there is no side-effect registration.
 */
import { ConfigError, WeightsError } from '../errors.js';
import { SeededRNG } from '../random/rng.js';
import { parseCheckpoint, type ParsedCheckpoint } from '../weights/checkpoint.js';
import { readTorchStateDict, type ReadTorchStateDictOptions } from '../weights/pt.js';
import { readSafetensors } from '../weights/safetensors.js';
import { loadStateDict, type LoadStateDictResult, type TorchTensor } from '../weights/state-dict.js';
import { ConditionedUNetModel } from './conditioned-unet.js';
import { DiffusionModelUNet } from './monai-unet.js';
import { EncoderUNetModel, UNetModel } from './openai-unet.js';
import { ResNetEncoder } from './resnet.js';

/** Every network family ADX can build from a config. */
export type AnyModel = DiffusionModelUNet | UNetModel | EncoderUNetModel | ConditionedUNetModel | ResNetEncoder;

export type ModelClassName = AnyModel['className'];

const FACTORIES: Record<ModelClassName, (config: unknown, seed: number) => AnyModel> = {
  // THOR: MONAI-generative DiffusionModelUNet
  DiffusionModelUNet: (c, seed) => DiffusionModelUNet.fromConfig(c, { seed }),
  // Wolleb et al.: guided-diffusion UNetModel and EncoderUNetModel (noisy classifier)
  UNetModel: (c, seed) => UNetModel.fromConfig(c, { seed }),
  EncoderUNetModel: (c, seed) => EncoderUNetModel.fromConfig(c, { seed }),
  // Behrendt et al.: conditioned OpenAI UNet and its ResNet condition encoder
  ConditionedUNetModel: (c, seed) => ConditionedUNetModel.fromConfig(c, { seed }),
  ResNetEncoder: (c, seed) => ResNetEncoder.fromConfig(c, { rng: new SeededRNG(seed) }),
};

/** Class names accepted by {@link createModelFromConfig}. */
export const MODEL_CLASS_NAMES = Object.keys(FACTORIES) as ModelClassName[];

/**
 * Builds a model from a JSON config with a `className` (as written by `toConfig()` and stored in
 * checkpoints' `config.json`). Throws {@link ConfigError} for unknown classes or invalid configs.
 */
export function createModelFromConfig(config: unknown, options: { seed?: number } = {}): AnyModel {
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new ConfigError(
      'model',
      undefined,
      `expected a config object, got ${config === null ? 'null' : typeof config}`,
    );
  }
  const className = (config as { className?: unknown }).className;
  if (typeof className !== 'string' || !(className in FACTORIES)) {
    throw new ConfigError(
      'model',
      'className',
      `unknown model class ${JSON.stringify(className)} (known: ${MODEL_CLASS_NAMES.join(', ')})`,
    );
  }
  return FACTORIES[className as ModelClassName](config, options.seed ?? 0);
}

/** State-dict keys of the PyTorch module that the ADX port does not keep (skipped on import). */
export function torchKeysToIgnore(model: AnyModel): readonly RegExp[] {
  return model instanceof ResNetEncoder ? ResNetEncoder.ignoredTorchKeys : [];
}

export interface ConvertTorchCheckpointOptions extends Omit<ReadTorchStateDictOptions, 'source'> {
  /** File name for error messages. */
  source?: string;
  /** Require every model parameter and every state-dict key to match (default true). */
  strict?: boolean;
  /** Seed of the initialisation (only visible for parameters missing with `strict: false`). */
  seed?: number;
}

export interface ConvertedModel<M extends AnyModel = AnyModel> {
  model: M;
  /** Which keys were loaded, missing, unexpected or ignored. */
  report: LoadStateDictResult;
}

/**
 * Builds the model described by `config` and loads official PyTorch weights into it. `input` is a
 * `torch.save` file (`.pt`/`.pth`/`.ckpt`, read without executing pickle code), a safetensors
 * file, or an already-read state dict (`name → {shape, data}` in PyTorch layout). This is what
 * the CLI's `convert` command does before writing an ADX checkpoint.
 */
export function convertTorchCheckpoint(
  input: Uint8Array | Map<string, TorchTensor> | Record<string, TorchTensor>,
  config: unknown,
  options: ConvertTorchCheckpointOptions = {},
): ConvertedModel {
  const source = options.source ?? 'checkpoint';
  let stateDict: Map<string, TorchTensor> | Record<string, TorchTensor>;
  if (input instanceof Uint8Array) {
    const isZip = input[0] === 0x50 && input[1] === 0x4b;
    if (isZip || input[0] === 0x80) {
      stateDict = readTorchStateDict(input, { ...options, source });
    } else {
      stateDict = readSafetensors(input, source).tensors;
      if (options.stripPrefix) {
        const p = options.stripPrefix;
        stateDict = new Map([...stateDict].map(([k, v]) => [k.startsWith(p) ? k.slice(p.length) : k, v]));
      }
    }
  } else {
    stateDict = input;
  }
  const model = createModelFromConfig(config, { seed: options.seed });
  try {
    const report = loadStateDict(model, stateDict, {
      strict: options.strict ?? true,
      ignore: torchKeysToIgnore(model),
      source,
    });
    if (model instanceof ResNetEncoder && stateDict instanceof Map) model.setNumBatchesTracked(stateDict);
    return { model, report };
  } catch (e) {
    model.dispose();
    throw e;
  }
}

export interface DeserializedCheckpoint extends Omit<ParsedCheckpoint, 'weights'> {
  model: AnyModel;
}

/**
 * Restores a model from checkpoint file bytes (see `serializeCheckpoint`): builds it from
 * `config.json` and loads `model.safetensors` strictly. Extras and state are returned as parsed.
 */
export function deserializeCheckpoint(
  files: Record<string, Uint8Array>,
  source = 'checkpoint',
): DeserializedCheckpoint {
  const parsed = parseCheckpoint(files, source);
  let model: AnyModel;
  try {
    model = createModelFromConfig(parsed.config);
  } catch (e) {
    if (e instanceof ConfigError) throw new WeightsError(`${source}/config.json`, e.message);
    throw e;
  }
  try {
    loadStateDict(model, parsed.weights, { ignore: torchKeysToIgnore(model), source: `${source}/model.safetensors` });
  } catch (e) {
    model.dispose();
    throw e;
  }
  if (model instanceof ResNetEncoder) model.setNumBatchesTracked(parsed.weights);
  const { config, metadata, extras, state } = parsed;
  return { model, config, metadata, extras, state };
}
