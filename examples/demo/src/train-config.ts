/** Reads `training.steps` from a demo config and applies `--steps-scale`. */
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';

export class DemoConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problem: string,
  ) {
    super(`${file}: ${problem}`);
    this.name = 'DemoConfigError';
  }
}

export async function readConfigStepsAndScale(file: string, stepsScale: number): Promise<number> {
  const cfg = parse(await readFile(file, 'utf8')) as { training?: { steps?: unknown } } | null;
  const steps = cfg?.training?.steps;
  if (typeof steps !== 'number' || !Number.isInteger(steps) || steps < 1)
    throw new DemoConfigError(file, `'training.steps' must be a positive integer, got ${String(steps)}`);
  return Math.max(1, Math.round(steps * stepsScale));
}
