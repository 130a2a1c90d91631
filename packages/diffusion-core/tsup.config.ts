import { adxPreset } from '../../tools/tsup.preset.ts';

// `node` imports the main entry by package name so both bundles share one copy of the classes.
export default adxPreset({ index: 'src/index.ts', node: 'src/node.ts' }, { external: ['@adx/diffusion-core'] });
