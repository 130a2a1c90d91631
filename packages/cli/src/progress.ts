/**
 * Progress reporting for long work: a cli-progress bar with ETA on a TTY, and periodic plain lines
 * otherwise (CI logs, Slurm output files), both on stderr so stdout stays machine-readable.
 */
import cliProgress from 'cli-progress';

export interface Progress {
  update(done: number, info?: Record<string, string | number>): void;
  stop(): void;
}

export function createProgress(label: string, total: number, options: { quiet?: boolean } = {}): Progress {
  if (options.quiet) return { update() {}, stop() {} };
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        format: `${label} [{bar}] {percentage}% | {value}/{total} | ETA {eta_formatted} | {info}`,
        stream: process.stderr,
        hideCursor: true,
        etaBuffer: 20,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { info: '' });
    return {
      update(done, info) {
        bar.update(done, {
          info: info
            ? Object.entries(info)
                .map(([k, v]) => `${k} ${v}`)
                .join(' ')
            : '',
        });
      },
      stop() {
        bar.stop();
      },
    };
  }
  const start = Date.now();
  let last = 0;
  return {
    update(done, info) {
      const now = Date.now();
      if (now - last < 5000 && done < total) return;
      last = now;
      const elapsed = (now - start) / 1000;
      const eta = done > 0 ? (elapsed / done) * (total - done) : NaN;
      const extra = info
        ? ' ' +
          Object.entries(info)
            .map(([k, v]) => `${k}=${v}`)
            .join(' ')
        : '';
      process.stderr.write(
        `${label}: ${done}/${total} (${elapsed.toFixed(0)} s, ETA ${Number.isFinite(eta) ? eta.toFixed(0) : '?'} s)${extra}\n`,
      );
    },
    stop() {},
  };
}
