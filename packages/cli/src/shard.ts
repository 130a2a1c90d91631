/**
 * `--shard i/N`: split a cohort deterministically across N workers (Slurm job arrays, Kubernetes
 * indexed Jobs). Items are sorted by key and worker i (0-based) takes every N-th item starting at i,
 * so shards are disjoint, cover everything, and stay balanced.
 */
import { UsageError } from './errors.js';

export interface Shard {
  index: number;
  count: number;
}

/** Parses `"i/N"` (0 ≤ i < N). `undefined` → the whole cohort. */
export function parseShard(spec: string | undefined): Shard {
  if (spec === undefined) return { index: 0, count: 1 };
  const m = /^(\d+)\/(\d+)$/.exec(spec.trim());
  if (!m) throw new UsageError(`--shard expects "i/N" (e.g. 0/4), got '${spec}'`);
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1 || index >= count) throw new UsageError(`--shard ${spec}: need 0 ≤ i < N`);
  return { index, count };
}

/** The items of shard `shard`, after sorting by `key` (default: String(item)). */
export function selectShard<T>(items: readonly T[], shard: Shard, key: (item: T) => string = String): T[] {
  const sorted = [...items].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  return sorted.filter((_, i) => i % shard.count === shard.index);
}
