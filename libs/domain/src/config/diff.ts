// Differences between two config versions: per file added / removed / changed / unchanged, and a
// unified line diff (Myers' O((N+M)·D) algorithm) for text files. The edit distance is capped so
// a diff of two unrelated 1 MiB files cannot take the api's CPU and memory: beyond the cap the
// file is reported as changed without a line diff.
import { compareFileNames, fileText } from './files.js';
import type { ConfigFile } from './types.js';

export type FileDiffStatus = 'added' | 'removed' | 'changed' | 'unchanged';

export interface ConfigFileDiff {
  name: string;
  status: FileDiffStatus;
  from?: { contentType: string; size: number };
  to?: { contentType: string; size: number };
  /** Either side is not UTF-8 text: no line diff. */
  binary: boolean;
  /** Lines added / removed (text files with a line diff). */
  linesAdded?: number;
  linesRemoved?: number;
  /** Unified diff (`--- a/name`, `+++ b/name`, hunks); absent when unchanged, binary or omitted. */
  patch?: string;
  /** Why a changed text file has no patch. */
  patchOmitted?: string;
}

export interface DiffOptions {
  /** Unchanged lines shown around each change. Default 3. */
  context?: number;
  /** Largest edit distance (lines added + removed) computed per file. Default 2000. */
  maxEditLines?: number;
}

export const DEFAULT_MAX_EDIT_LINES = 2000;

/** Diff of every file name present in either version, in name order. */
export function diffConfigFiles(
  from: readonly ConfigFile[],
  to: readonly ConfigFile[],
  options: DiffOptions = {},
): ConfigFileDiff[] {
  const a = new Map(from.map((f) => [f.name, f]));
  const b = new Map(to.map((f) => [f.name, f]));
  const names = [...new Set([...a.keys(), ...b.keys()])].sort(compareFileNames);
  return names.map((name) => diffFile(name, a.get(name), b.get(name), options));
}

function diffFile(
  name: string,
  a: ConfigFile | undefined,
  b: ConfigFile | undefined,
  options: DiffOptions,
): ConfigFileDiff {
  const side = (f: ConfigFile | undefined) => (f ? { contentType: f.contentType, size: f.body.byteLength } : undefined);
  const textA = a ? fileText(a.body) : '';
  const textB = b ? fileText(b.body) : '';
  const binary = textA === undefined || textB === undefined;
  const status: FileDiffStatus = !a
    ? 'added'
    : !b
      ? 'removed'
      : a.contentType === b.contentType && Buffer.from(a.body).equals(Buffer.from(b.body))
        ? 'unchanged'
        : 'changed';
  const out: ConfigFileDiff = { name, status, binary };
  if (a) out.from = side(a);
  if (b) out.to = side(b);
  if (status === 'unchanged' || binary) return out;
  const diff = unifiedDiff(textA, textB, {
    ...options,
    fromLabel: a ? `a/${name}` : '/dev/null',
    toLabel: b ? `b/${name}` : '/dev/null',
  });
  if ('omitted' in diff) {
    out.patchOmitted = diff.omitted;
    return out;
  }
  out.linesAdded = diff.added;
  out.linesRemoved = diff.removed;
  if (diff.patch !== '') out.patch = diff.patch;
  return out;
}

interface Line {
  text: string;
  /** The last line of a text that does not end with a newline. */
  noNewline: boolean;
}

function splitLines(text: string): Line[] {
  if (text === '') return [];
  const parts = text.split('\n');
  const endsWithNewline = parts[parts.length - 1] === '';
  if (endsWithNewline) parts.pop();
  return parts.map((p, i) => ({ text: p, noNewline: !endsWithNewline && i === parts.length - 1 }));
}

type Op = 0 | 1 | 2; // equal, delete (from a), insert (from b)
const EQUAL: Op = 0;
const DELETE: Op = 1;
const INSERT: Op = 2;

/**
 * Shortest edit script between two id sequences (Myers 1986), or undefined when it needs more
 * than `maxD` edits. Keeps one slice of the V array per step (O(D²) memory) for the backtrack.
 */
function myers(a: Int32Array, b: Int32Array, maxD: number): Op[] | undefined {
  const n = a.length;
  const m = b.length;
  const limit = Math.min(n + m, maxD);
  const offset = limit + 1;
  const v = new Int32Array(2 * offset + 1);
  const trace: Int32Array[] = [];
  for (let d = 0; d <= limit; d++) {
    trace.push(v.slice(offset - d, offset + d + 1));
    for (let k = -d; k <= d; k += 2) {
      let x =
        k === -d || (k !== d && v[offset + k - 1]! < v[offset + k + 1]!) ? v[offset + k + 1]! : v[offset + k - 1]! + 1;
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) {
        x++;
        y++;
      }
      v[offset + k] = x;
      if (x >= n && y >= m) return backtrack(trace, n, m);
    }
  }
  return undefined;
}

function backtrack(trace: Int32Array[], n: number, m: number): Op[] {
  const ops: Op[] = [];
  let x = n;
  let y = m;
  for (let d = trace.length - 1; d >= 0; d--) {
    const v = trace[d]!; // index k lives at v[k + d]
    const at = (k: number): number => v[k + d]!;
    const k = x - y;
    const prevK = k === -d || (k !== d && at(k - 1) < at(k + 1)) ? k + 1 : k - 1;
    const prevX = d === 0 ? 0 : at(prevK);
    const prevY = d === 0 ? 0 : prevX - prevK;
    while (x > prevX && y > prevY) {
      ops.push(EQUAL);
      x--;
      y--;
    }
    if (d > 0) ops.push(x === prevX ? INSERT : DELETE);
    x = prevX;
    y = prevY;
  }
  return ops.reverse();
}

export interface UnifiedDiffOptions extends DiffOptions {
  fromLabel?: string;
  toLabel?: string;
}

/**
 * Unified diff of two texts. `patch` is empty when they are equal; `omitted` says why no diff was
 * computed (more than `maxEditLines` changed lines).
 */
export function unifiedDiff(
  from: string,
  to: string,
  options: UnifiedDiffOptions = {},
): { patch: string; added: number; removed: number } | { omitted: string } {
  const context = options.context ?? 3;
  const maxD = options.maxEditLines ?? DEFAULT_MAX_EDIT_LINES;
  const a = splitLines(from);
  const b = splitLines(to);
  // Lines compared as small integers; the missing final newline is part of a line's identity.
  const ids = new Map<string, number>();
  const idOf = (l: Line): number => {
    const key = l.noNewline ? `${l.text}\u0000` : l.text;
    let id = ids.get(key);
    if (id === undefined) ids.set(key, (id = ids.size));
    return id;
  };
  const ia = Int32Array.from(a, idOf);
  const ib = Int32Array.from(b, idOf);
  // Common prefix and suffix need no search.
  let pre = 0;
  while (pre < ia.length && pre < ib.length && ia[pre] === ib[pre]) pre++;
  let suf = 0;
  while (suf < ia.length - pre && suf < ib.length - pre && ia[ia.length - 1 - suf] === ib[ib.length - 1 - suf]) suf++;
  const middle = myers(ia.subarray(pre, ia.length - suf), ib.subarray(pre, ib.length - suf), maxD);
  if (!middle) return { omitted: `more than ${maxD} changed lines; compare the files themselves` };
  const ops: Op[] = [...new Array<Op>(pre).fill(EQUAL), ...middle, ...new Array<Op>(suf).fill(EQUAL)];

  let added = 0;
  let removed = 0;
  for (const op of ops) {
    if (op === INSERT) added++;
    else if (op === DELETE) removed++;
  }
  if (added === 0 && removed === 0) return { patch: '', added, removed };

  // Positions in a and b before each op.
  const posA = new Int32Array(ops.length + 1);
  const posB = new Int32Array(ops.length + 1);
  for (let i = 0; i < ops.length; i++) {
    posA[i + 1] = posA[i]! + (ops[i] === INSERT ? 0 : 1);
    posB[i + 1] = posB[i]! + (ops[i] === DELETE ? 0 : 1);
  }
  const out: string[] = [`--- ${options.fromLabel ?? 'a'}`, `+++ ${options.toLabel ?? 'b'}`];
  const emit = (prefix: string, l: Line): void => {
    out.push(`${prefix}${l.text}`);
    if (l.noNewline) out.push('\\ No newline at end of file');
  };
  let i = 0;
  while (i < ops.length) {
    if (ops[i] === EQUAL) {
      i++;
      continue;
    }
    // A hunk: from `context` lines before this change to `context` lines after the last change
    // that is at most 2·context equal lines away from the previous one.
    const start = Math.max(0, i - context);
    let end = i;
    let lastChange = i;
    while (end < ops.length) {
      if (ops[end] !== EQUAL) lastChange = end;
      else if (end - lastChange > 2 * context) break;
      end++;
    }
    end = Math.min(ops.length, lastChange + 1 + context);
    const lenA = posA[end]! - posA[start]!;
    const lenB = posB[end]! - posB[start]!;
    const range = (pos: number, len: number): string =>
      len === 1 ? `${pos + 1}` : `${len === 0 ? pos : pos + 1},${len}`;
    out.push(`@@ -${range(posA[start]!, lenA)} +${range(posB[start]!, lenB)} @@`);
    for (let j = start; j < end; j++) {
      if (ops[j] === EQUAL) emit(' ', a[posA[j]!]!);
      else if (ops[j] === DELETE) emit('-', a[posA[j]!]!);
      else emit('+', b[posB[j]!]!);
    }
    i = end;
  }
  return { patch: `${out.join('\n')}\n`, added, removed };
}
