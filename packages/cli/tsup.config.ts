import { adxPreset } from '../../tools/tsup.preset.ts';

export default [
  adxPreset({ index: 'src/index.ts' }),
  // The executable: ESM only, with a shebang.
  adxPreset(
    { bin: 'src/bin.ts' },
    { format: ['esm'], dts: false, clean: false, banner: { js: '#!/usr/bin/env node' } },
  ),
];
