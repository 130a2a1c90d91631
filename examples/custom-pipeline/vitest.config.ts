import { adxVitest } from '../../tools/vitest.preset.ts';

export default adxVitest('example-custom-pipeline');
