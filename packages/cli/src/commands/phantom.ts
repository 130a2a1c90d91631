/** `adx phantom`: write a synthetic brain-MRI dataset in one of the real on-disk layouts. */
import { writeDataset } from '@adx/io-medical/node';
import type { DatasetLayout } from '@adx/io-medical';
import { UsageError } from '../errors.js';

export const LAYOUTS = ['ixi', 'brats', 'atlas', 'mslub', 'png-slices'] as const;

export interface PhantomCommandOptions {
  out: string;
  layout: string;
  subjects: number;
  size: number[];
  seed: number;
  healthyFraction?: number;
}

export async function phantomCommand(o: PhantomCommandOptions): Promise<string[]> {
  if (!LAYOUTS.includes(o.layout as (typeof LAYOUTS)[number])) {
    throw new UsageError(`--layout must be one of ${LAYOUTS.join(', ')}, got '${o.layout}'`);
  }
  if (o.size.length !== 3 || o.size.some((s) => !Number.isInteger(s) || s < 8)) {
    throw new UsageError(`--size expects three integers ≥ 8 like 64,64,40, got '${o.size.join(',')}'`);
  }
  return writeDataset(o.out, {
    layout: o.layout as DatasetLayout,
    subjects: o.subjects,
    seed: o.seed,
    size: o.size as [number, number, number],
    ...(o.healthyFraction !== undefined ? { healthyFraction: o.healthyFraction } : {}),
  });
}
