/**
 * Warnings for metrics that scikit-learn returns with a warning instead of raising (for example
 * average precision without positives, or Dice of two empty masks). The default handler is
 * `console.warn`; tests and apps can capture or silence them with {@link setWarningHandler}.
 */
export type WarningHandler = (message: string) => void;

let handler: WarningHandler = (message) => console.warn(`@adx/metrics: ${message}`);

/** Replaces the warning handler and returns the previous one (so it can be restored). */
export function setWarningHandler(next: WarningHandler): WarningHandler {
  const previous = handler;
  handler = next;
  return previous;
}

/** Emits a warning through the current handler. */
export function warn(message: string): void {
  handler(message);
}

/** Runs `fn` while collecting warnings instead of printing them; returns both. */
export function collectWarnings<T>(fn: () => T): { result: T; warnings: string[] } {
  const warnings: string[] = [];
  const previous = setWarningHandler((m) => warnings.push(m));
  try {
    return { result: fn(), warnings };
  } finally {
    setWarningHandler(previous);
  }
}
