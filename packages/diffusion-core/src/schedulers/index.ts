export * from './schedules.js';
export * from './respacing.js';
export {
  BaseScheduler,
  type ClipSampleRange,
  type PredictionType,
  type SchedulerConfigBase,
  type TimestepInput,
} from './base.js';
export * from './ddpm.js';
export * from './ddim.js';
