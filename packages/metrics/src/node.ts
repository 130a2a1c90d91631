/**
 * `@adx/metrics/node`: writes reports and plots to disk (Node only; the main entry stays isomorphic).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { reportToJson, reportToMarkdown, type MetricsReport } from './report/report.js';

export interface WriteReportOptions {
  /** Extra SVG figures, by file stem (e.g. `{ roc: rocCurveSvg(...) }` → `roc.svg`). */
  svgs?: Record<string, string>;
  /** Extra PNG figures, by file stem. */
  pngs?: Record<string, Uint8Array>;
}

/**
 * Writes `<name>.md` (Markdown tables) and `<name>.json` for one or more reports, plus any figures,
 * into `dir` (created if needed). Returns the written paths.
 */
export async function writeReport(
  dir: string,
  name: string,
  reports: MetricsReport | readonly MetricsReport[],
  options: WriteReportOptions = {},
): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  const put = async (file: string, data: string | Uint8Array) => {
    const path = join(dir, file);
    await writeFile(path, data);
    written.push(path);
  };
  await put(`${name}.md`, reportToMarkdown(reports));
  await put(`${name}.json`, reportToJson(reports));
  for (const [stem, svg] of Object.entries(options.svgs ?? {})) await put(`${stem}.svg`, svg);
  for (const [stem, png] of Object.entries(options.pngs ?? {})) await put(`${stem}.png`, png);
  return written;
}
