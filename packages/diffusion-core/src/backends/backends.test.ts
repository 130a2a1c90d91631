import * as tf from '@tensorflow/tfjs-core';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { afterEach, describe, expect, it } from 'vitest';
import { BACKEND_PACKAGES, listAvailableBackends, useBackend, type ModuleImporter } from './backends.js';
import { ArgumentError, BackendError } from '../errors.js';

/** An importer that behaves as if `missing` packages were not installed (Node's error shape). */
function importerWithout(missing: string[], fake: Record<string, () => unknown> = {}): ModuleImporter {
  return async (specifier) => {
    if (fake[specifier]) return fake[specifier]!();
    if (missing.includes(specifier)) {
      throw Object.assign(new Error(`Cannot find package '${specifier}' imported from /x/backends.js`), {
        code: 'ERR_MODULE_NOT_FOUND',
      });
    }
    return import(/* @vite-ignore */ specifier);
  };
}

const NO_TF = [...BACKEND_PACKAGES.tensorflow];

describe('useBackend', () => {
  afterEach(async () => {
    await tf.setBackend('cpu');
    if (tf.findBackend('tensorflow') || tf.findBackendFactory('tensorflow')) tf.removeBackend('tensorflow');
  });

  it('selects cpu and wasm and reports them', async () => {
    const cpu = await useBackend('cpu');
    expect(cpu).toMatchObject({
      name: 'cpu',
      kernelBackend: 'cpu',
      package: '@tensorflow/tfjs-backend-cpu',
      node: true,
      gpu: false,
    });
    expect(tf.getBackend()).toBe('cpu');
    const wasm = await useBackend('wasm');
    expect(wasm).toMatchObject({ name: 'wasm', kernelBackend: 'wasm', package: '@tensorflow/tfjs-backend-wasm' });
    expect(tf.getBackend()).toBe('wasm');
    const y = tf.square(tf.tensor1d([3]));
    expect(Array.from(await y.data())).toEqual([9]);
    y.dispose();
  });

  it('names the npm package to install when a backend package is missing', async () => {
    await expect(useBackend('wasm', { importer: importerWithout(['@tensorflow/tfjs-backend-wasm']) })).rejects.toThrow(
      /Backend 'wasm': not installed; run `npm install @tensorflow\/tfjs-backend-wasm`/,
    );
    await expect(useBackend('tensorflow', { importer: importerWithout(NO_TF) })).rejects.toThrow(
      /npm install @tensorflow\/tfjs-node \(CPU\) or @tensorflow\/tfjs-node-gpu \(CUDA\)/,
    );
    const webgpu = useBackend('webgpu', { importer: importerWithout(['webgpu', '@tensorflow/tfjs-backend-webgpu']) });
    await expect(webgpu).rejects.toBeInstanceOf(BackendError);
    await expect(
      useBackend('webgpu', { importer: importerWithout(['webgpu', '@tensorflow/tfjs-backend-webgpu']) }),
    ).rejects.toThrow(/npm install webgpu @tensorflow\/tfjs-backend-webgpu|@tensorflow\/tfjs-backend-webgpu/);
  });

  it('reports a package that is installed but fails to load, and unknown names', async () => {
    const broken: ModuleImporter = async (s) => {
      if (s === '@tensorflow/tfjs-node') throw new Error('libtensorflow.so: cannot open shared object file');
      throw Object.assign(new Error(`Cannot find package '${s}'`), { code: 'ERR_MODULE_NOT_FOUND' });
    };
    await expect(useBackend('tensorflow', { importer: broken })).rejects.toThrow(
      /installed but failed to load: libtensorflow/,
    );
    await expect(useBackend('webgl' as never)).rejects.toBeInstanceOf(ArgumentError);
  });

  it('auto prefers tensorflow, then webgpu, then wasm, then cpu', async () => {
    // A stand-in 'tensorflow' backend registered by the fake tfjs-node import.
    const fakeNode = () => {
      tf.registerBackend('tensorflow', () => new MathBackendCPU());
      return {};
    };
    const withTf = await useBackend('auto', {
      importer: importerWithout([], { '@tensorflow/tfjs-node-gpu': fakeNode }),
    });
    expect(withTf).toMatchObject({ name: 'tensorflow', package: '@tensorflow/tfjs-node-gpu', gpu: true });
    await tf.setBackend('cpu');
    tf.removeBackend('tensorflow');

    const noGpu = importerWithout([...NO_TF, 'webgpu', '@tensorflow/tfjs-backend-webgpu']);
    expect((await useBackend('auto', { importer: noGpu })).name).toBe('wasm');
    const onlyCpu = importerWithout([
      ...NO_TF,
      'webgpu',
      '@tensorflow/tfjs-backend-webgpu',
      '@tensorflow/tfjs-backend-wasm',
    ]);
    expect((await useBackend('auto', { importer: onlyCpu })).name).toBe('cpu');
    const nothing = importerWithout([...NO_TF, 'webgpu', ...Object.values(BACKEND_PACKAGES).flat()]);
    await expect(useBackend('auto', { importer: nothing })).rejects.toThrow(
      /Backend 'auto': no backend could be initialised/,
    );
  });

  // Needs a WebGPU adapter: run with `npm run test:webgpu` (sources tools/webgpu-env.sh).
  it.skipIf(!process.env.ADX_TEST_BACKENDS?.includes('webgpu'))(
    'selects webgpu in Node through the webgpu package',
    async () => {
      const info = await useBackend('webgpu');
      expect(info).toMatchObject({ name: 'webgpu', kernelBackend: 'webgpu', node: true, gpu: true });
      expect(Object.keys(info.adapter ?? {})).toContain('vendor');
      const y = tf.square(tf.tensor1d([3, -2]));
      expect(Array.from(await y.data())).toEqual([9, 4]);
      y.dispose();
      expect(await listAvailableBackends()).toContain('webgpu');
    },
  );

  it('lists the loadable backends in auto order', async () => {
    const list = await listAvailableBackends({ importer: importerWithout([...NO_TF, 'webgpu']) });
    expect(list.slice(-2)).toEqual(['wasm', 'cpu']);
    expect(list).not.toContain('tensorflow');
  });
});
