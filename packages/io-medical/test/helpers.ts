// Test helpers for io-medical (no tfjs: this package works on typed arrays only).
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';

export function fixtureUrl(rel: string): URL {
  return new URL(`../test-fixtures/${rel}`, import.meta.url);
}

export function fixtureBytes(rel: string): Uint8Array {
  return new Uint8Array(readFileSync(fixtureUrl(rel)));
}

export function fixtureJson<T = Record<string, unknown>>(rel: string): T {
  return JSON.parse(readFileSync(fixtureUrl(rel), 'utf8')) as T;
}

/** |a - b| ≤ atol + rtol·|b|, elementwise for arrays. */
export function expectNear(actual: number, expected: number, rtol = 1e-12, atol = 0, what = ''): void {
  const ok = Math.abs(actual - expected) <= atol + rtol * Math.abs(expected);
  expect(ok, `${what}: ${actual} vs expected ${expected} (rtol ${rtol}, atol ${atol})`).toBe(true);
}

export function expectMatrixNear(actual: number[][], expected: number[][], atol: number, what = ''): void {
  expect(actual.length).toBe(expected.length);
  for (let r = 0; r < expected.length; r++) {
    for (let c = 0; c < expected[r]!.length; c++) {
      expectNear(actual[r]![c]!, expected[r]![c]!, 0, atol, `${what}[${r}][${c}]`);
    }
  }
}

export interface Stats {
  min: number;
  max: number;
  mean: number;
  sum: number;
  sum_of_squares: number;
  count: number;
}

/** float64 statistics with pairwise summation (like numpy). */
export function stats(data: ArrayLike<number>): Stats {
  const pairwise = (f: (v: number) => number, lo: number, hi: number): number => {
    if (hi - lo <= 128) {
      let s = 0;
      for (let i = lo; i < hi; i++) s += f(data[i]!);
      return s;
    }
    const mid = lo + Math.floor((hi - lo) / 2);
    return pairwise(f, lo, mid) + pairwise(f, mid, hi);
  };
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const sum = pairwise((v) => v, 0, data.length);
  const ss = pairwise((v) => v * v, 0, data.length);
  return { min, max, mean: sum / data.length, sum, sum_of_squares: ss, count: data.length };
}

export function expectStats(actual: Stats, expected: Stats, rtol: number, what = ''): void {
  expect(actual.count, `${what} count`).toBe(expected.count);
  expect(actual.min, `${what} min`).toBe(expected.min);
  expect(actual.max, `${what} max`).toBe(expected.max);
  expectNear(actual.sum, expected.sum, rtol, 1e-9, `${what} sum`);
  expectNear(actual.mean, expected.mean, rtol, 1e-9, `${what} mean`);
  expectNear(actual.sum_of_squares, expected.sum_of_squares, rtol, 1e-9, `${what} sum_of_squares`);
}
