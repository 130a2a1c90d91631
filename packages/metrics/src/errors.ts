/**
 * Typed errors of @adx/metrics. Like `@adx/diffusion-core`'s errors, every error names the
 * offending argument (or config key) and the problem, so callers can branch on `instanceof`.
 * This package has no tfjs dependency, so it defines its own small hierarchy.
 */
export class MetricsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/**
 * A function argument has the wrong length, shape, value range or content (NaN, empty, one class).
 * The messages follow scikit-learn's where scikit-learn defines the case.
 */
export class MetricsArgumentError extends MetricsError {
  constructor(
    /** Name of the offending argument, e.g. `"yScore"` or `"options.iterations"`. */
    readonly argument: string,
    problem: string,
  ) {
    super(`Invalid argument '${argument}': ${problem}`);
  }
}

/** A metric is undefined for this input (e.g. ROC AUC with only one class present). */
export class UndefinedMetricError extends MetricsError {
  constructor(
    /** Metric name, e.g. `"rocAucScore"`. */
    readonly metric: string,
    problem: string,
  ) {
    super(`${metric}: ${problem}`);
  }
}

/** An options object has unknown keys or values of the wrong type. */
export class MetricsConfigError extends MetricsError {
  constructor(
    readonly component: string,
    readonly key: string | undefined,
    problem: string,
  ) {
    super(`Invalid ${component} options${key === undefined ? '' : ` key '${key}'`}: ${problem}`);
  }
}

/** Throws {@link MetricsConfigError} if `options` has a key outside `allowed`. */
export function checkOptionKeys(component: string, options: object | undefined, allowed: readonly string[]): void {
  if (options === undefined) return;
  for (const key of Object.keys(options)) {
    if (!allowed.includes(key)) {
      throw new MetricsConfigError(component, key, `unknown key (allowed: ${allowed.join(', ')})`);
    }
  }
}
