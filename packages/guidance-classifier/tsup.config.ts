import { adxPreset } from '../../tools/tsup.preset.ts';

export default adxPreset({ index: 'src/index.ts' });
