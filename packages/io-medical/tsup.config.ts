import type { Plugin } from 'esbuild';
import { adxPreset } from '../../tools/tsup.preset.ts';

// fast-png (and its dependency iobuffer) are ESM-only. The ESM build imports them; the CJS build bundles them so that
// `require('@adx/io-medical')` works on every Node ≥ 20 (require(esm) is only unflagged from Node 20.19).
const ESM_ONLY = /^(fast-png|iobuffer)$/;
const esmOnlyExternalInEsm: Plugin = {
  name: 'esm-only-deps',
  setup(build) {
    // tsup runs esbuild with format 'esm' for both outputs and converts the CJS one afterwards; tell them apart by
    // the output extension.
    if (build.initialOptions.outExtension?.['.js'] === '.cjs') return;
    build.onResolve({ filter: ESM_ONLY }, (args) => ({ path: args.path, external: true }));
  },
};

export default adxPreset(
  { index: 'src/index.ts', node: 'src/node.ts' },
  {
    noExternal: [ESM_ONLY],
    // the Node entry re-exports the core through the package's own name: keep it a runtime import
    external: ['@adx/io-medical'],
    esbuildPlugins: [esmOnlyExternalInEsm],
  },
);
