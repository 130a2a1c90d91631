/**
 * ADX checkpoints: a folder of plain files, isomorphic at this level (bytes in, bytes out):
 *
 * | file | content |
 * | --- | --- |
 * | `config.json` | the model config (`model.toConfig()`, with `className`) |
 * | `model.safetensors` | the weights under their **PyTorch** keys and layouts (OIHW, `[out,in]`), so the file loads into the official PyTorch module with `load_state_dict` and vice versa |
 * | `<name>.safetensors` | optional extra tensor sets: EMA weights, optimizer moments, … |
 * | `state.json` | optional JSON training state (step, epoch, RNG state, optimizer settings, …) |
 *
 * The path-based, crash-safe writer lives in the Node entry (`@adx/diffusion-core/node`).
 */
import { WeightsError } from '../errors.js';
import type { Module } from '../nn/module.js';
import { readSafetensors, writeSafetensors, type SafetensorsEntry, type SafetensorsInput } from './safetensors.js';
import { exportStateDict } from './state-dict.js';

export const CHECKPOINT_CONFIG_FILE = 'config.json';
export const CHECKPOINT_MODEL_FILE = 'model.safetensors';
export const CHECKPOINT_STATE_FILE = 'state.json';
/** Version written to the safetensors metadata (`adx_checkpoint`). */
export const CHECKPOINT_FORMAT_VERSION = '1';

/** A model that can be checkpointed: ADX module with a JSON config. */
export type CheckpointableModel = Module & { toConfig(): { className: string } };

/** Tensors of an extra file: a module (exported like the model) or PyTorch-layout tensors. */
export type CheckpointTensors = Module | Map<string, SafetensorsInput> | Record<string, SafetensorsInput>;

export interface SerializeCheckpointOptions {
  /** Extra tensor files by name (written as `<name>.safetensors`), e.g. `{ ema: emaModel }`. */
  extras?: Record<string, CheckpointTensors>;
  /** JSON-serialisable training state (`state.json`). */
  state?: unknown;
  /** Extra string metadata for `model.safetensors`. */
  metadata?: Record<string, string>;
}

export interface CheckpointFiles {
  files: Record<string, Uint8Array>;
}

export interface ParsedCheckpoint {
  /** The model config from `config.json` (has `className`). */
  config: { className: string } & Record<string, unknown>;
  /** `model.safetensors` tensors (PyTorch layout). */
  weights: Map<string, SafetensorsEntry>;
  /** `model.safetensors` metadata. */
  metadata: Record<string, string>;
  /** Extra tensor files by name. */
  extras: Record<string, Map<string, SafetensorsEntry>>;
  /** `state.json`, or undefined. */
  state: unknown;
}

const EXTRA_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

function isModule(x: CheckpointTensors): x is Module {
  return typeof (x as Module).namedParameters === 'function';
}

async function tensorsOf(x: CheckpointTensors): Promise<Map<string, SafetensorsInput>> {
  if (isModule(x)) return exportStateDict(x);
  return x instanceof Map ? x : new Map(Object.entries(x));
}

/** The BatchNorm `num_batches_tracked` counters of models that keep them (ResNet), as torch's I64 scalars. */
function batchCounters(model: CheckpointableModel): Map<string, SafetensorsInput> {
  const counters = (model as { numBatchesTracked?: () => Map<string, number> }).numBatchesTracked?.();
  const out = new Map<string, SafetensorsInput>();
  for (const [k, n] of counters ?? []) out.set(k, { dtype: 'I64', shape: [], data: new BigInt64Array([BigInt(n)]) });
  return out;
}

/**
 * Serialises a model (config + PyTorch-layout weights), optional extras and a JSON state to the
 * bytes of the checkpoint files.
 */
export async function serializeCheckpoint(
  model: CheckpointableModel,
  options: SerializeCheckpointOptions = {},
): Promise<CheckpointFiles> {
  const config = model.toConfig();
  if (typeof config?.className !== 'string') {
    throw new WeightsError(CHECKPOINT_CONFIG_FILE, "model.toConfig() must return an object with a string 'className'");
  }
  const enc = new TextEncoder();
  const meta = {
    format: 'pt',
    adx_checkpoint: CHECKPOINT_FORMAT_VERSION,
    class_name: config.className,
    ...options.metadata,
  };
  const weights = new Map([...(await exportStateDict(model)), ...batchCounters(model)]);
  const files: Record<string, Uint8Array> = {
    [CHECKPOINT_CONFIG_FILE]: enc.encode(JSON.stringify(config, null, 2) + '\n'),
    [CHECKPOINT_MODEL_FILE]: writeSafetensors(weights, meta),
  };
  for (const [name, tensors] of Object.entries(options.extras ?? {})) {
    if (!EXTRA_NAME.test(name) || name === 'model' || name.endsWith('.safetensors')) {
      throw new WeightsError(
        `${name}.safetensors`,
        `invalid extra name '${name}' (letters, digits, _ . -; not 'model')`,
      );
    }
    files[`${name}.safetensors`] = writeSafetensors(await tensorsOf(tensors), {
      format: 'pt',
      adx_checkpoint: CHECKPOINT_FORMAT_VERSION,
    });
  }
  if (options.state !== undefined) {
    let json: string;
    try {
      json = JSON.stringify(options.state, null, 2);
    } catch (e) {
      throw new WeightsError(CHECKPOINT_STATE_FILE, `state is not JSON-serialisable (${(e as Error).message})`);
    }
    files[CHECKPOINT_STATE_FILE] = enc.encode(json + '\n');
  }
  return { files };
}

/** Parses checkpoint file bytes (as produced by {@link serializeCheckpoint}) without building a model. */
export function parseCheckpoint(files: Record<string, Uint8Array>, source = 'checkpoint'): ParsedCheckpoint {
  const dec = new TextDecoder();
  const cfgBytes = files[CHECKPOINT_CONFIG_FILE];
  if (!cfgBytes) throw new WeightsError(`${source}/${CHECKPOINT_CONFIG_FILE}`, 'missing');
  let config: ParsedCheckpoint['config'];
  try {
    config = JSON.parse(dec.decode(cfgBytes)) as ParsedCheckpoint['config'];
  } catch (e) {
    throw new WeightsError(`${source}/${CHECKPOINT_CONFIG_FILE}`, `not valid JSON (${(e as Error).message})`);
  }
  if (config === null || typeof config !== 'object' || typeof config.className !== 'string') {
    throw new WeightsError(
      `${source}/${CHECKPOINT_CONFIG_FILE}`,
      "expected a model config object with a string 'className'",
    );
  }
  const modelBytes = files[CHECKPOINT_MODEL_FILE];
  if (!modelBytes) throw new WeightsError(`${source}/${CHECKPOINT_MODEL_FILE}`, 'missing');
  const model = readSafetensors(modelBytes, `${source}/${CHECKPOINT_MODEL_FILE}`);
  const extras: ParsedCheckpoint['extras'] = {};
  for (const [name, bytes] of Object.entries(files)) {
    if (name === CHECKPOINT_MODEL_FILE || !name.endsWith('.safetensors')) continue;
    extras[name.slice(0, -'.safetensors'.length)] = readSafetensors(bytes, `${source}/${name}`).tensors;
  }
  let state: unknown;
  const stateBytes = files[CHECKPOINT_STATE_FILE];
  if (stateBytes) {
    try {
      state = JSON.parse(dec.decode(stateBytes));
    } catch (e) {
      throw new WeightsError(`${source}/${CHECKPOINT_STATE_FILE}`, `not valid JSON (${(e as Error).message})`);
    }
  }
  return { config, weights: model.tensors, metadata: model.metadata, extras, state };
}
