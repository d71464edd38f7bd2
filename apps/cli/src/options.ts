// Parsing of option values that commander hands over as text. Each throws UsageError (exit 2)
// with a message naming the option and what it takes. Pure, apart from parseJsonArg's @file.
import { readFile } from 'node:fs/promises';
import { UsageError } from './errors.js';

/** `10` → 10, `2%` / `2.5%` → "2%" (the API's wave size: a count or a percent of the stage). */
export function parseWaveSize(flag: string, raw: string): number | string {
  const t = raw.trim();
  if (/^\d+$/.test(t)) return Number(t);
  if (/^\d+(\.\d+)?%$/.test(t)) return t;
  throw new UsageError(`${flag} takes a number of agents (e.g. 5) or a percent of the stage (e.g. 2%), got "${raw}"`);
}

/** A plain number (e.g. a growth factor). */
export function parseNumber(flag: string, raw: string): number {
  const t = raw.trim();
  const n = Number(t);
  if (t === '' || !Number.isFinite(n)) throw new UsageError(`${flag} takes a number, got "${raw}"`);
  return n;
}

/** A whole number ≥ min. */
export function parseInteger(flag: string, raw: string, min = 0): number {
  const t = raw.trim();
  if (!/^\d+$/.test(t) || Number(t) < min)
    throw new UsageError(`${flag} takes a whole number from ${min}, got "${raw}"`);
  return Number(t);
}

/** `5` or `5%` → 5. */
export function parsePercent(flag: string, raw: string): number {
  return parseNumber(flag, raw.trim().replace(/%$/, ''));
}

const UNIT_SECONDS: Readonly<Record<string, number>> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86_400 };

/** `90`, `90s`, `1.5m`, `2h`, `500ms` → seconds. */
export function parseDurationSeconds(flag: string, raw: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/.exec(raw.trim());
  if (!m) throw new UsageError(`${flag} takes a duration such as 30, 30s, 5m or 1h, got "${raw}"`);
  return Number(m[1]) * UNIT_SECONDS[m[2] ?? 's']!;
}

/** `NAME` or `NAME@VERSION`. */
export function parseConfigRef(raw: string): { name: string; version: number | undefined } {
  const at = raw.lastIndexOf('@');
  if (at < 0) {
    if (raw.trim() === '') throw new UsageError('--config takes a config name, optionally with @VERSION');
    return { name: raw, version: undefined };
  }
  const name = raw.slice(0, at);
  const version = raw.slice(at + 1);
  if (name === '' || !/^\d+$/.test(version) || Number(version) < 1) {
    throw new UsageError(`--config takes NAME or NAME@VERSION (a version number from 1), got "${raw}"`);
  }
  return { name, version: Number(version) };
}

export interface StageSpec {
  name: string;
  selector: string;
  promotion: 'auto' | 'manual';
}

/**
 * `--stage name=selector[:manual|:auto]`. Label selectors never contain ":" (Kubernetes label
 * keys and values do not allow it), so a trailing `:manual` is unambiguous.
 */
export function parseStage(raw: string): StageSpec {
  const eq = raw.indexOf('=');
  if (eq <= 0) {
    throw new UsageError(`--stage takes NAME=SELECTOR[:manual], e.g. canary=canary=true:manual, got "${raw}"`);
  }
  const name = raw.slice(0, eq);
  let selector = raw.slice(eq + 1);
  let promotion: 'auto' | 'manual' = 'auto';
  const m = /:(manual|auto)$/.exec(selector);
  if (m) {
    promotion = m[1] as 'auto' | 'manual';
    selector = selector.slice(0, -m[0].length);
  } else if (selector.includes(':')) {
    throw new UsageError(`--stage "${raw}": only :manual or :auto may follow the selector`);
  }
  return { name, selector, promotion };
}

/** `k=v` sets, `k-` removes (kubectl's label syntax); `k=` sets an empty value. */
export function parseLabelArgs(args: readonly string[]): { set: Record<string, string>; remove: string[] } {
  const set: Record<string, string> = {};
  const remove: string[] = [];
  for (const a of args) {
    const eq = a.indexOf('=');
    if (eq > 0) {
      const key = a.slice(0, eq);
      if (key in set || remove.includes(key)) throw new UsageError(`label "${key}" is given twice`);
      set[key] = a.slice(eq + 1);
    } else if (eq < 0 && a.length > 1 && a.endsWith('-')) {
      const key = a.slice(0, -1);
      if (key in set || remove.includes(key)) throw new UsageError(`label "${key}" is given twice`);
      remove.push(key);
    } else {
      throw new UsageError(`"${a}" is not a label change: use key=value to set a label or key- to remove it`);
    }
  }
  if (Object.keys(set).length === 0 && remove.length === 0) {
    throw new UsageError('give at least one label change: key=value to set, key- to remove');
  }
  return { set, remove };
}

/** Inline JSON, or `@path` to read it from a file (`@-`: standard input). */
export async function parseJsonArg(
  flag: string,
  raw: string,
  readStdin: () => Promise<string> = async () => '',
): Promise<unknown> {
  let text = raw;
  let from = 'the argument';
  if (raw.startsWith('@')) {
    const file = raw.slice(1);
    from = file === '-' ? 'standard input' : file;
    try {
      text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
    } catch (err) {
      throw new UsageError(
        `${flag}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      );
    }
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${flag}: ${from} is not JSON (${(err as Error).message})`);
  }
}

/** An ISO time, or a time ago: `30m`, `2h`, `7d` → ISO (for --since / --until). */
export function parseTime(flag: string, raw: string, nowMs: number): string {
  const t = raw.trim();
  const rel = /^(\d+(?:\.\d+)?)(s|m|h|d)$/.exec(t);
  if (rel) return new Date(nowMs - Number(rel[1]) * UNIT_SECONDS[rel[2]!]! * 1000).toISOString();
  const ms = Date.parse(t);
  if (/^\d{4}-\d{2}-\d{2}/.test(t) && !Number.isNaN(ms)) return new Date(ms).toISOString();
  throw new UsageError(`${flag} takes an ISO time (2026-11-25T10:00:00Z) or a time ago (30m, 2h, 7d), got "${raw}"`);
}
