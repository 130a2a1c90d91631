/**
 * Backend choice in the page: WebGPU when `navigator.gpu` gives an adapter, otherwise wasm;
 * `?backend=webgpu|wasm|cpu` forces one (a forced backend that fails is an error, not a fallback).
 *
 * `useBackend` of @adx/diffusion-core loads backend packages with a dynamic `import(name)`; a
 * bundle cannot resolve bare names at run time, so the page passes an importer whose `import()`
 * calls name the packages statically (Vite turns each into a lazily loaded chunk).
 */
import { BackendError, useBackend, type BackendInfo, type ModuleImporter } from '@adx/diffusion-core';

export type PageBackend = 'webgpu' | 'wasm' | 'cpu';

const importer: ModuleImporter = (specifier) => {
  switch (specifier) {
    case '@tensorflow/tfjs-backend-webgpu':
      return import('@tensorflow/tfjs-backend-webgpu');
    case '@tensorflow/tfjs-backend-wasm':
      return import('@tensorflow/tfjs-backend-wasm');
    case '@tensorflow/tfjs-backend-cpu':
      return import('@tensorflow/tfjs-backend-cpu');
    default:
      return Promise.reject(new Error(`Cannot find module '${specifier}' (not bundled in the browser demo)`));
  }
};

export interface ChosenBackend {
  info: BackendInfo;
  /** What the URL asked for (`auto` when nothing). */
  requested: PageBackend | 'auto';
  /** Why WebGPU was not used, when `auto` fell back to wasm. */
  fallbackReason?: string;
}

/** Reads `?backend=` (webgpu, wasm, cpu; anything else or nothing = auto). */
export function requestedBackend(search: string): PageBackend | 'auto' {
  const b = new URLSearchParams(search).get('backend');
  return b === 'webgpu' || b === 'wasm' || b === 'cpu' ? b : 'auto';
}

/** Activates the requested backend; `auto` = webgpu, else wasm (with the reason kept). */
export async function chooseBackend(requested: PageBackend | 'auto', wasmPaths: string): Promise<ChosenBackend> {
  const options = { importer, wasmPaths };
  if (requested !== 'auto') return { info: await useBackend(requested, options), requested };
  try {
    return { info: await useBackend('webgpu', options), requested };
  } catch (e) {
    if (!(e instanceof BackendError)) throw e;
    return { info: await useBackend('wasm', options), requested, fallbackReason: e.message };
  }
}
