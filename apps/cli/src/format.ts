// Human output: aligned tables, key/value blocks and short renderings of times and hashes. Pure.

export interface Column<T> {
  header: string;
  value: (row: T) => string | number | boolean | null | undefined;
  /** Right-align (numbers). */
  right?: boolean;
  /** Longest cell before it is cut with "…" (default: no limit). */
  max?: number;
}

/** One cell's text: null and undefined are "-". Control characters become spaces (one row, one line). */
export function cell(value: string | number | boolean | null | undefined, max?: number): string {
  if (value === null || value === undefined || value === '') return '-';
  // eslint-disable-next-line no-control-regex
  const text = String(value).replace(/[\u0000-\u001f\u007f]+/g, ' ');
  return max !== undefined && text.length > max ? `${text.slice(0, Math.max(1, max - 1))}…` : text;
}

/** Columns separated by two spaces, headers upper-case, no trailing spaces. */
export function table<T>(rows: readonly T[], columns: ReadonlyArray<Column<T>>): string {
  const grid = [
    columns.map((c) => c.header.toUpperCase()),
    ...rows.map((r) => columns.map((c) => cell(c.value(r), c.max))),
  ];
  const widths = columns.map((_, i) => Math.max(...grid.map((line) => line[i]!.length)));
  return grid
    .map((line) =>
      line
        .map((text, i) => {
          const last = i === line.length - 1;
          if (columns[i]!.right) return text.padStart(widths[i]!);
          return last ? text : text.padEnd(widths[i]!);
        })
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** `key:  value` lines with the values aligned; entries whose value is undefined are left out. */
export function keyValues(entries: ReadonlyArray<[string, string | number | boolean | null | undefined]>): string {
  const shown = entries.filter(([, v]) => v !== undefined);
  const width = Math.max(0, ...shown.map(([k]) => k.length + 1));
  return shown.map(([k, v]) => `${`${k}:`.padEnd(width)}  ${cell(v)}`).join('\n');
}

/** `k=v,k2=v2` (sorted by key), or "-" for none. */
export function labelsText(labels: Record<string, unknown> | null | undefined): string {
  const entries = Object.entries(labels ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return entries.length === 0 ? '-' : entries.map(([k, v]) => `${k}=${String(v)}`).join(',');
}

/** First 12 hex digits of a hash (enough to tell versions apart in a table). */
export function shortHash(hash: string | null | undefined): string {
  return hash ? hash.slice(0, 12) : '-';
}

/** "12s ago", "5m ago", "3h ago", "2d ago" from an ISO time; "-" when absent or unreadable. */
export function ago(iso: string | null | undefined, nowMs: number): string {
  if (!iso) return '-';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '-';
  const s = Math.max(0, Math.round((nowMs - t) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}

/** `2026-11-25 14:03:07Z` from an ISO time (seconds are enough for a person). */
export function shortTime(iso: string | null | undefined): string {
  if (!iso) return '-';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : `${d.toISOString().slice(0, 19).replace('T', ' ')}Z`;
}

/** JSON as the API sent it, indented for reading (stable for scripts: `-o json | jq`). */
export function json(value: unknown): string {
  return JSON.stringify(value, null, 2);
}
