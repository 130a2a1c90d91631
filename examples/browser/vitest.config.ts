import { adxVitest } from '../../tools/vitest.preset.ts';

// The e2e test builds the app, starts Chromium and runs THOR three times: allow it minutes.
export default adxVitest('example-browser', { testTimeout: 240_000 });
