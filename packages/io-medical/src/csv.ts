/** Minimal RFC 4180 CSV reading/writing (quoted fields, header row), for THOR-style split files. */
import { FormatError } from './errors.js';

export function parseCsv(text: string, name = '<csv>'): Record<string, string>[] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  let i = 0;
  const src = text.replace(/^\uFEFF/, '');
  while (i < src.length) {
    const ch = src[i]!;
    if (quoted) {
      if (ch === '"') {
        if (src[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
      } else field += ch;
      i++;
      continue;
    }
    if (ch === '"' && field === '') quoted = true;
    else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && src[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += ch;
    i++;
  }
  if (quoted) throw new FormatError('csv', name, 'quotes', 'unterminated quoted field');
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  const nonEmpty = rows.filter((r) => !(r.length === 1 && r[0] === ''));
  if (nonEmpty.length === 0) return [];
  const header = nonEmpty[0]!.map((h) => h.trim());
  return nonEmpty.slice(1).map((r, n) => {
    if (r.length > header.length)
      throw new FormatError('csv', name, `row ${n + 2}`, `has ${r.length} fields, the header has ${header.length}`);
    const rec: Record<string, string> = {};
    header.forEach((h, c) => (rec[h] = r[c] ?? ''));
    return rec;
  });
}

export function formatCsv(records: Record<string, string | number>[], columns?: string[]): string {
  const cols = columns ?? (records[0] ? Object.keys(records[0]) : []);
  const esc = (v: string | number | undefined) => {
    const s = v === undefined ? '' : String(v);
    return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [cols.join(','), ...records.map((r) => cols.map((c) => esc(r[c])).join(','))].join('\n') + '\n';
}
