/**
 * Validation of training-config sections: every problem is a `UsageError` (exit code 2) that names
 * the field, e.g. `config 'training.steps' must be a positive integer, got -3`.
 */
import { UsageError } from '../errors.js';

export type Section = Record<string, unknown>;

/** The object at `where` (absent → `{}`), with every key in `allowed`. */
export function section(obj: unknown, where: string, allowed: readonly string[]): Section {
  if (obj === undefined || obj === null) return {};
  if (typeof obj !== 'object' || Array.isArray(obj)) throw new UsageError(`config '${where}' must be an object`);
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k))
      throw new UsageError(`config '${where}': unknown key '${k}' (allowed: ${allowed.join(', ')})`);
  }
  return obj as Section;
}

function name(where: string, key: string): string {
  return where ? `${where}.${key}` : key;
}

function show(v: unknown): string {
  return typeof v === 'string' ? `'${v}'` : JSON.stringify(v);
}

/** An integer ≥ `min` (default 1), or `fallback` when absent. */
export function int(s: Section, key: string, where: string, fallback: number, min = 1): number {
  const v = s[key];
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min)
    throw new UsageError(`config '${name(where, key)}' must be an integer ≥ ${min}, got ${show(v)}`);
  return v;
}

/** A finite number in [min, max], or `fallback` when absent. */
export function num(s: Section, key: string, where: string, fallback: number, min = -Infinity, max = Infinity): number {
  const v = s[key];
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max)
    throw new UsageError(`config '${name(where, key)}' must be a number in [${min}, ${max}], got ${show(v)}`);
  return v;
}

/** A non-empty string, or `fallback` when absent. */
export function str<T extends string | undefined>(s: Section, key: string, where: string, fallback: T): string | T {
  const v = s[key];
  if (v === undefined) return fallback;
  if (typeof v !== 'string' || v === '')
    throw new UsageError(`config '${name(where, key)}' must be a non-empty string, got ${show(v)}`);
  return v;
}

/** One of `choices`, or `fallback` when absent. */
export function oneOf<T extends string>(s: Section, key: string, where: string, choices: readonly T[], fallback: T): T {
  const v = s[key];
  if (v === undefined) return fallback;
  if (!choices.includes(v as T))
    throw new UsageError(`config '${name(where, key)}' must be one of ${choices.join(' | ')}, got ${show(v)}`);
  return v as T;
}

/** A boolean, or `fallback` when absent. */
export function bool(s: Section, key: string, where: string, fallback: boolean): boolean {
  const v = s[key];
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean')
    throw new UsageError(`config '${name(where, key)}' must be true or false, got ${show(v)}`);
  return v;
}

/** A seed: integer or string (phantom seeds may be strings), or `fallback`. */
export function seed(s: Section, key: string, where: string, fallback: number | string): number | string {
  const v = s[key];
  if (v === undefined) return fallback;
  if (!(typeof v === 'string' || (typeof v === 'number' && Number.isInteger(v))))
    throw new UsageError(`config '${name(where, key)}' must be an integer or a string, got ${show(v)}`);
  return v;
}

/** A list of positive numbers, null, or `fallback` when absent. */
export function numList(s: Section, key: string, where: string): number[] | null | undefined {
  const v = s[key];
  if (v === undefined || v === null) return v as null | undefined;
  if (!Array.isArray(v) || v.length === 0 || v.some((x) => typeof x !== 'number' || !Number.isFinite(x) || x < 0))
    throw new UsageError(`config '${name(where, key)}' must be a list of non-negative numbers, got ${show(v)}`);
  return v as number[];
}

/** A required object (model configs), named in the error when missing. */
export function required(s: Section, key: string, what: string): Section {
  const v = s[key];
  if (v === undefined) throw new UsageError(`config '${key}' is missing (${what})`);
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    throw new UsageError(`config '${key}' must be an object`);
  return v as Section;
}

/** EMA decay: absent or null → off; a number in (0, 1) or `{ decay }` (both forms accepted). */
export function emaDecay(s: Section, where: string): number | null {
  const v = s.ema;
  if (v === undefined || v === null) return null;
  const d = typeof v === 'object' && !Array.isArray(v) ? (v as { decay?: unknown }).decay : v;
  if (typeof d !== 'number' || !(d > 0 && d < 1))
    throw new UsageError(`config '${where}.ema' must be null, a decay in (0, 1) or { decay }, got ${show(v)}`);
  return d;
}
