import { adxPreset } from '../../tools/tsup.preset.ts';

// `index` is isomorphic; `node` adds file writing for reports (node:fs).
export default adxPreset({ index: 'src/index.ts', node: 'src/node.ts' });
