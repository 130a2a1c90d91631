/** Where the demo keeps its configs, weights and outputs (all relative to the repository). */
import { fileURLToPath } from 'node:url';

/** `configs/demo/` at the repository root: the committed training configs. */
export const CONFIG_DIR = fileURLToPath(new URL('../../../configs/demo/', import.meta.url));
/** `examples/demo/weights/`: one ADX checkpoint folder per method (`<method>/model`). */
export const WEIGHTS_DIR = fileURLToPath(new URL('../weights/', import.meta.url));
/** `examples/demo/out/`: report, panels, plots and NIfTI maps. */
export const OUT_DIR = fileURLToPath(new URL('../out/', import.meta.url));

/** The command that (re)creates the weights, named in errors and the report. */
export const TRAIN_COMMAND = 'npm run demo:train';

/** The demo methods and the config (in CONFIG_DIR) whose weights each loads. */
export const WEIGHT_SETS = { thor: 'thor.yaml', classifier: 'classifier.yaml', cddpm: 'cddpm.yaml' } as const;
export type WeightSet = keyof typeof WEIGHT_SETS;
