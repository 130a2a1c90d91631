import { adxVitest } from '../../tools/vitest.preset.ts';

export default adxVitest('example-notebook', { testTimeout: 180_000 });
