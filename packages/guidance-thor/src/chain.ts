/**
 * The visited timesteps of a THOR / AnoDDPM chain (internal; not exported from the package).
 */
import { ArgumentError, DDPMScheduler } from '@adx/diffusion-core';
import type { ThorScheduler } from './thor.js';

/**
 * The visited chain: `index` into the scheduler's active schedule and the training timestep `t`.
 * Stride 1 uses the given scheduler on t = tStart … 0; stride k > 1 builds a respaced copy of a
 * DDPMScheduler ("ddimN" keeps 0, k, 2k, …) and starts at the largest kept t ≤ tStart.
 */
export function planChain(
  given: ThorScheduler | undefined,
  tStart: number,
  stride: number,
): { scheduler: ThorScheduler; chain: { index: number; t: number }[] } {
  if (stride === 1) {
    const chain = Array.from({ length: tStart + 1 }, (_, i) => ({ index: tStart - i, t: tStart - i }));
    return { scheduler: given ?? DDPMScheduler.fromPreset('thor'), chain };
  }
  if (given !== undefined && !(given instanceof DDPMScheduler)) {
    throw new ArgumentError('options.scheduler', 'stride > 1 needs a DDPMScheduler (its config is respaced)');
  }
  const base = given ?? DDPMScheduler.fromPreset('thor');
  const T = base.toConfig().numTrainTimesteps;
  const scheduler = new DDPMScheduler({ ...base.toConfig(), timestepRespacing: `ddim${Math.ceil(T / stride)}` });
  const map = scheduler.timestepMap;
  const chain: { index: number; t: number }[] = [];
  for (let i = map.length - 1; i >= 0; i--) if (map[i]! <= tStart) chain.push({ index: i, t: map[i]! });
  return { scheduler, chain };
}
