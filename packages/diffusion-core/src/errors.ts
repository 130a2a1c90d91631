/**
 * Typed errors of @adx/diffusion-core. Every error names the argument (or file, or config key)
 * and the problem, so callers can both show it to users and branch on `instanceof`.
 */
export class AdxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A function argument has the wrong rank, shape, dtype, range or value. */
export class ArgumentError extends AdxError {
  constructor(
    /** Name of the offending argument, e.g. `"sample"` or `"options.eta"`. */
    readonly argument: string,
    problem: string,
  ) {
    super(`Invalid argument '${argument}': ${problem}`);
  }
}

/** A config object has unknown keys, missing keys or values of the wrong type. */
export class ConfigError extends AdxError {
  constructor(
    /** Component whose config is invalid, e.g. `"DDPMScheduler"`. */
    readonly component: string,
    /** Offending key, or `undefined` for problems with the whole object. */
    readonly key: string | undefined,
    problem: string,
  ) {
    super(`Invalid ${component} config${key === undefined ? '' : ` key '${key}'`}: ${problem}`);
  }
}

/** A requested tfjs backend is not installed or cannot initialise. */
export class BackendError extends AdxError {
  constructor(
    readonly backend: string,
    problem: string,
  ) {
    super(`Backend '${backend}': ${problem}`);
  }
}

/** A weights/checkpoint file (or byte buffer) is malformed or does not fit the model. */
export class WeightsError extends AdxError {
  constructor(
    /** File name or a description of the source, e.g. `"weights.safetensors"`. */
    readonly source: string,
    problem: string,
  ) {
    super(`${source}: ${problem}`);
  }
}

/** Throws an {@link ArgumentError} unless `shape` has `rank` dimensions. */
export function assertRank(argument: string, shape: readonly number[], rank: number | readonly number[]): void {
  const ranks = typeof rank === 'number' ? [rank] : rank;
  if (!ranks.includes(shape.length)) {
    throw new ArgumentError(argument, `expected rank ${ranks.join(' or ')}, got shape [${shape.join(', ')}]`);
  }
}

/**
 * Throws an {@link ArgumentError} unless `shape` matches `expected`; `null` entries match any size.
 */
export function assertShape(argument: string, shape: readonly number[], expected: readonly (number | null)[]): void {
  const ok = shape.length === expected.length && expected.every((e, i) => e === null || e === shape[i]);
  if (!ok) {
    const want = expected.map((e) => (e === null ? '?' : String(e))).join(', ');
    throw new ArgumentError(argument, `expected shape [${want}], got [${shape.join(', ')}]`);
  }
}

/**
 * Validates that `config` is a plain object whose keys are all in `allowed` and that every key in
 * `required` is present. Throws {@link ConfigError} naming the first offending key.
 */
export function checkConfigKeys(
  component: string,
  config: unknown,
  allowed: readonly string[],
  required: readonly string[] = [],
): asserts config is Record<string, unknown> {
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new ConfigError(
      component,
      undefined,
      `expected a plain object, got ${config === null ? 'null' : typeof config}`,
    );
  }
  for (const key of Object.keys(config)) {
    if (!allowed.includes(key)) {
      throw new ConfigError(component, key, `unknown key (allowed: ${allowed.join(', ')})`);
    }
  }
  for (const key of required) {
    if (!(key in config)) throw new ConfigError(component, key, 'missing required key');
  }
}
