/**
 * Backend selection: `await useBackend('auto' | 'tensorflow' | 'webgpu' | 'wasm' | 'cpu')`.
 *
 * Every backend lives in an optional peer package that is loaded with a dynamic `import()` only
 * when asked for, so ADX never requires (and never bundles) any of them:
 *
 * | name | package(s) | notes |
 * | --- | --- | --- |
 * | `tensorflow` | `@tensorflow/tfjs-node-gpu`, else `@tensorflow/tfjs-node` | Node only, native TF (CUDA with -gpu) |
 * | `webgpu` | `@tensorflow/tfjs-backend-webgpu` (+ `webgpu` in Node) | browser GPU; in Node through Dawn |
 * | `wasm` | `@tensorflow/tfjs-backend-wasm` | portable CPU (XNNPACK) |
 * | `cpu` | `@tensorflow/tfjs-backend-cpu` | plain JS reference |
 *
 * `auto` picks tensorflow if installed, else webgpu if a GPU adapter exists, else wasm, else cpu.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError, BackendError } from '../errors.js';

export type BackendName = 'tensorflow' | 'webgpu' | 'wasm' | 'cpu';

/** Backends in `auto` preference order. */
export const BACKEND_NAMES: readonly BackendName[] = ['tensorflow', 'webgpu', 'wasm', 'cpu'];

/** npm package(s) providing each backend, in the order they are tried. */
export const BACKEND_PACKAGES: Readonly<Record<BackendName, readonly string[]>> = {
  tensorflow: ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'],
  webgpu: ['@tensorflow/tfjs-backend-webgpu'],
  wasm: ['@tensorflow/tfjs-backend-wasm'],
  cpu: ['@tensorflow/tfjs-backend-cpu'],
};

/** The Node WebGPU implementation (Dawn) used when `navigator.gpu` is absent. */
export const NODE_WEBGPU_PACKAGE = 'webgpu';

export interface BackendInfo {
  /** The ADX backend name. */
  name: BackendName;
  /** `tf.getBackend()` after selection (`tensorflow`, `webgpu`, `wasm`, `cpu`). */
  kernelBackend: string;
  /** The npm package that provided it. */
  package: string;
  /** Whether we run in Node. */
  node: boolean;
  /** True for tfjs-node-gpu and webgpu. */
  gpu: boolean;
  /** WebGPU adapter description, when known (e.g. `{vendor: 'google', architecture: 'swiftshader'}`). */
  adapter?: Record<string, string>;
}

/** Loads a module by specifier; injectable for tests and bundlers. */
export type ModuleImporter = (specifier: string) => Promise<unknown>;

export interface UseBackendOptions {
  /** Replaces the dynamic `import()` (tests, custom bundler setups). */
  importer?: ModuleImporter;
  /** Flags for the Node `webgpu` package's `create(flags)`, e.g. `['backend=vulkan']`. */
  webgpuFlags?: string[];
  /** For wasm: where the `.wasm` binaries are served from (`setWasmPaths`), browsers only. */
  wasmPaths?: string | Record<string, string>;
}

const defaultImporter: ModuleImporter = (specifier) => import(/* @vite-ignore */ specifier);

const isNode = (): boolean =>
  typeof process !== 'undefined' && typeof process.versions === 'object' && !!process.versions?.node;

/** True when `e` says that `specifier` itself could not be found (not a failure inside it). */
function isModuleNotFound(e: unknown, specifier: string): boolean {
  const err = e as { code?: string; message?: string } | null;
  const msg = String(err?.message ?? e);
  if (err?.code === 'ERR_MODULE_NOT_FOUND' || err?.code === 'MODULE_NOT_FOUND') return msg.includes(specifier);
  return (
    /Cannot find (module|package)|Failed to resolve module|Failed to fetch dynamically imported module/.test(msg) &&
    msg.includes(specifier)
  );
}

async function importPackage(
  importer: ModuleImporter,
  backend: BackendName,
  specifier: string,
): Promise<unknown | undefined> {
  try {
    return await importer(specifier);
  } catch (e) {
    if (isModuleNotFound(e, specifier)) return undefined;
    throw new BackendError(
      backend,
      `package '${specifier}' is installed but failed to load: ${(e as Error)?.message ?? String(e)}`,
    );
  }
}

function missing(backend: BackendName, packages: readonly string[]): BackendError {
  const install = backend === 'tensorflow' ? `${packages[1]} (CPU) or ${packages[0]} (CUDA)` : packages.join(' and ');
  return new BackendError(backend, `not installed; run \`npm install ${install}\``);
}

async function activate(name: BackendName, kernelName: string): Promise<void> {
  let ok = false;
  let cause = '';
  try {
    ok = await tf.setBackend(kernelName);
    await tf.ready();
  } catch (e) {
    cause = `: ${(e as Error)?.message ?? String(e)}`;
  }
  if (!ok) throw new BackendError(name, `tf.setBackend('${kernelName}') failed to initialise${cause}`);
}

interface NavigatorWithGpu {
  gpu?: { requestAdapter(options?: unknown): Promise<unknown> };
}

function currentGpu(): NavigatorWithGpu['gpu'] {
  return (globalThis as { navigator?: NavigatorWithGpu }).navigator?.gpu;
}

/**
 * Makes `navigator.gpu` available: in browsers it already is; in Node it comes from the `webgpu`
 * package (Dawn): `create(flags)`, its `globals` (GPUBufferUsage, …) copied onto `globalThis`,
 * and `globalThis.navigator = { gpu }`. Returns undefined when neither exists.
 */
async function ensureNavigatorGpu(
  importer: ModuleImporter,
  flags: string[],
): Promise<NavigatorWithGpu['gpu'] | undefined> {
  const existing = currentGpu();
  if (existing) return existing;
  if (!isNode()) return undefined;
  const mod = (await importPackage(importer, 'webgpu', NODE_WEBGPU_PACKAGE)) as
    | { create?: (flags: string[]) => NavigatorWithGpu['gpu']; globals?: Record<string, unknown>; default?: unknown }
    | undefined;
  if (!mod) return undefined;
  const api = (mod.create ? mod : (mod.default as typeof mod)) ?? mod;
  if (typeof api.create !== 'function')
    throw new BackendError('webgpu', `package '${NODE_WEBGPU_PACKAGE}' has no create()`);
  for (const [k, v] of Object.entries(api.globals ?? {})) {
    if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  }
  const gpu = api.create(flags);
  const g = globalThis as { navigator?: NavigatorWithGpu };
  if (g.navigator) {
    // Node ≥ 21 has a read-only global navigator object: add `gpu` to it.
    Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true, writable: true });
  } else {
    Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  }
  return gpu;
}

async function requestAdapter(gpu: NavigatorWithGpu['gpu']): Promise<{ info?: Record<string, string> } | null> {
  try {
    return ((await gpu?.requestAdapter({ powerPreference: 'high-performance' })) ?? null) as {
      info?: Record<string, string>;
    } | null;
  } catch {
    return null;
  }
}

function adapterInfo(adapter: { info?: Record<string, string> }): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of ['vendor', 'architecture', 'device', 'description']) {
    const v = adapter.info?.[k];
    if (typeof v === 'string' && v) out[k] = v;
  }
  return out;
}

async function useTensorflow(importer: ModuleImporter): Promise<BackendInfo> {
  for (const pkg of BACKEND_PACKAGES.tensorflow) {
    const mod = await importPackage(importer, 'tensorflow', pkg);
    if (mod === undefined) continue;
    await activate('tensorflow', 'tensorflow');
    return { name: 'tensorflow', kernelBackend: tf.getBackend(), package: pkg, node: true, gpu: pkg.endsWith('-gpu') };
  }
  throw missing('tensorflow', BACKEND_PACKAGES.tensorflow);
}

async function useWebgpu(importer: ModuleImporter, flags: string[]): Promise<BackendInfo> {
  const pkg = BACKEND_PACKAGES.webgpu[0]!;
  const gpu = await ensureNavigatorGpu(importer, flags);
  if (!gpu) {
    throw new BackendError(
      'webgpu',
      isNode()
        ? `navigator.gpu is not available in Node; run \`npm install ${NODE_WEBGPU_PACKAGE} ${pkg}\``
        : 'this browser does not expose navigator.gpu (WebGPU)',
    );
  }
  const adapter = await requestAdapter(gpu);
  if (!adapter) {
    throw new BackendError(
      'webgpu',
      'no WebGPU adapter found' + (isNode() ? ' (without a GPU, source tools/webgpu-env.sh to use SwiftShader)' : ''),
    );
  }
  // Import after navigator.gpu exists: the package registers 'webgpu' only if it sees it.
  const mod = (await importPackage(importer, 'webgpu', pkg)) as
    { WebGPUBackend?: new (device: unknown, info?: unknown) => tf.KernelBackend } | undefined;
  if (!mod) throw missing('webgpu', [pkg]);
  if (!tf.findBackendFactory('webgpu')) {
    // The package was imported earlier, before navigator.gpu existed: register it ourselves
    // (the same steps as tfjs-backend-webgpu's base.ts).
    const Backend = mod.WebGPUBackend;
    if (!Backend) throw new BackendError('webgpu', `'${pkg}' does not export WebGPUBackend`);
    tf.registerBackend(
      'webgpu',
      async () => {
        const a = (await gpu.requestAdapter({ powerPreference: 'high-performance' })) as {
          features: Set<string>;
          limits: Record<string, number>;
          info?: unknown;
          requestDevice(d: unknown): Promise<unknown>;
        };
        const requiredFeatures = ['timestamp-query'].filter((f) => a.features.has(f));
        const l = a.limits;
        const device = await a.requestDevice({
          requiredFeatures,
          requiredLimits: {
            maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
            maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
            maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
            maxBufferSize: l.maxBufferSize,
            maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
            maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
          },
        });
        return new Backend(device, a.info);
      },
      3,
    );
  }
  await activate('webgpu', 'webgpu');
  return {
    name: 'webgpu',
    kernelBackend: tf.getBackend(),
    package: pkg,
    node: isNode(),
    gpu: true,
    adapter: adapterInfo(adapter),
  };
}

async function useWasm(importer: ModuleImporter, wasmPaths: UseBackendOptions['wasmPaths']): Promise<BackendInfo> {
  const pkg = BACKEND_PACKAGES.wasm[0]!;
  const mod = (await importPackage(importer, 'wasm', pkg)) as { setWasmPaths?: (p: unknown) => void } | undefined;
  if (!mod) throw missing('wasm', [pkg]);
  if (wasmPaths !== undefined) mod.setWasmPaths?.(wasmPaths);
  await activate('wasm', 'wasm');
  return { name: 'wasm', kernelBackend: tf.getBackend(), package: pkg, node: isNode(), gpu: false };
}

async function useCpu(importer: ModuleImporter): Promise<BackendInfo> {
  const pkg = BACKEND_PACKAGES.cpu[0]!;
  if (!(await importPackage(importer, 'cpu', pkg))) throw missing('cpu', [pkg]);
  await activate('cpu', 'cpu');
  return { name: 'cpu', kernelBackend: tf.getBackend(), package: pkg, node: isNode(), gpu: false };
}

/**
 * Selects (and if needed loads) a tfjs backend and waits until it is ready.
 * @throws {BackendError} naming the npm package to install when a backend package is missing,
 *   or why the backend failed to initialise.
 */
export async function useBackend(
  name: BackendName | 'auto' = 'auto',
  options: UseBackendOptions = {},
): Promise<BackendInfo> {
  const importer = options.importer ?? defaultImporter;
  switch (name) {
    case 'tensorflow':
      return useTensorflow(importer);
    case 'webgpu':
      return useWebgpu(importer, options.webgpuFlags ?? []);
    case 'wasm':
      return useWasm(importer, options.wasmPaths);
    case 'cpu':
      return useCpu(importer);
    case 'auto': {
      const errors: string[] = [];
      for (const candidate of BACKEND_NAMES) {
        if (candidate === 'tensorflow' && !isNode()) continue;
        try {
          return await useBackend(candidate, options);
        } catch (e) {
          if (!(e instanceof BackendError)) throw e;
          errors.push(e.message);
        }
      }
      throw new BackendError('auto', `no backend could be initialised (${errors.join('; ')})`);
    }
    default:
      throw new ArgumentError('name', `unknown backend '${String(name)}' (expected auto, ${BACKEND_NAMES.join(', ')})`);
  }
}

/**
 * Backends whose packages can be loaded here (for webgpu: and a GPU adapter exists), in `auto`
 * order. Loading a package registers its backend with tfjs but does not switch to it.
 */
export async function listAvailableBackends(options: UseBackendOptions = {}): Promise<BackendName[]> {
  const importer = options.importer ?? defaultImporter;
  const out: BackendName[] = [];
  const loadable = async (b: BackendName, pkg: string): Promise<boolean> => {
    try {
      return (await importPackage(importer, b, pkg)) !== undefined;
    } catch {
      return false;
    }
  };
  if (isNode()) {
    for (const pkg of BACKEND_PACKAGES.tensorflow) {
      if (await loadable('tensorflow', pkg)) {
        out.push('tensorflow');
        break;
      }
    }
  }
  try {
    const gpu = await ensureNavigatorGpu(importer, options.webgpuFlags ?? []);
    if (gpu && (await requestAdapter(gpu)) && (await loadable('webgpu', BACKEND_PACKAGES.webgpu[0]!)))
      out.push('webgpu');
  } catch {
    // no webgpu
  }
  if (await loadable('wasm', BACKEND_PACKAGES.wasm[0]!)) out.push('wasm');
  if (await loadable('cpu', BACKEND_PACKAGES.cpu[0]!)) out.push('cpu');
  return out;
}
