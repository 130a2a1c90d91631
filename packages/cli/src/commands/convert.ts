/**
 * `adx convert`: official PyTorch weights (`.pt`/`.pth`/`.ckpt` read without executing pickle, or
 * `.safetensors`) + a model config → an ADX checkpoint folder (config.json + model.safetensors).
 */
import { readFile } from 'node:fs/promises';
import { convertTorchCheckpoint } from '@adx/diffusion-core';
import { saveCheckpoint } from '@adx/diffusion-core/node';
import { readConfigFile } from '../config-file.js';
import { UsageError } from '../errors.js';

export interface ConvertCommandOptions {
  input: string;
  config: string;
  out: string;
  key?: string;
  stripPrefix?: string;
  strict: boolean;
}

export interface ConvertSummary {
  className: string;
  parameters: number;
  loaded: number;
  ignored: string[];
  missing: string[];
  unexpected: string[];
  out: string;
}

export async function convertCommand(o: ConvertCommandOptions): Promise<ConvertSummary> {
  let bytes: Uint8Array;
  try {
    const buf = await readFile(o.input);
    bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  } catch (e) {
    throw new UsageError(`cannot read --input '${o.input}': ${(e as Error).message}`);
  }
  const config = await readConfigFile(o.config);
  const { model, report } = convertTorchCheckpoint(bytes, config, {
    source: o.input,
    strict: o.strict,
    ...(o.key ? { key: o.key.split('.') } : {}),
    ...(o.stripPrefix ? { stripPrefix: o.stripPrefix } : {}),
  });
  try {
    await saveCheckpoint(o.out, model, { state: { convertedFrom: o.input } });
    return {
      className: model.className,
      parameters: model.numParameters(),
      loaded: report.loaded.length,
      ignored: report.ignored,
      missing: report.missing,
      unexpected: report.unexpected,
      out: o.out,
    };
  } finally {
    model.dispose();
  }
}
