/** Programmatic access to the `adx` command line (the executable is `adx`, see README). */
export { createProgram, main, type Io } from './cli.js';
export { phantomCommand, LAYOUTS, type PhantomCommandOptions } from './commands/phantom.js';
export {
  trainCommand,
  TRAIN_METHODS,
  type TrainCommandOptions,
  type TrainSummary,
  type TrainMethod,
} from './commands/train.js';
export type { DataSummary, NetworkSummary } from './train/common.js';
export { convertCommand, type ConvertCommandOptions, type ConvertSummary } from './commands/convert.js';
export {
  detectCommand,
  DETECT_METHODS,
  type DetectCommandOptions,
  type DetectRecord,
  type DetectMethod,
  type MethodOptions,
} from './commands/detect.js';
export { loadConditionedCheckpoint } from './detect/engines.js';
export { parseShard, selectShard, type Shard } from './shard.js';
export { UsageError, EXIT_OK, EXIT_FAILURE, EXIT_USAGE } from './errors.js';
