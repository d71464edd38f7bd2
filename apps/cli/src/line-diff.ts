// What `configs diff --file` shows: per file added / removed / changed / unchanged against a
// version on the server, with a unified line diff for text. Computed here because the API diffs
// only stored versions. Pure.

export interface DiffSide {
  name: string;
  contentType: string;
  /** null: not UTF-8 text (no line diff). */
  text: string | null;
  bytes: Buffer;
}

export interface FileDiff {
  name: string;
  status: 'added' | 'removed' | 'changed' | 'unchanged';
  from?: { contentType: string; size: number };
  to?: { contentType: string; size: number };
  binary: boolean;
  linesAdded?: number;
  linesRemoved?: number;
  patch?: string;
  patchOmitted?: string;
}

/** Largest table (lines × lines after the common head and tail) compared; a bigger change is not shown line by line. */
const MAX_CELLS = 4_000_000;

export function diffFiles(from: readonly DiffSide[], to: readonly DiffSide[]): FileDiff[] {
  const a = new Map(from.map((f) => [f.name, f]));
  const b = new Map(to.map((f) => [f.name, f]));
  const names = [...new Set([...a.keys(), ...b.keys()])].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
  return names.map((name) => diffFile(name, a.get(name), b.get(name)));
}

function diffFile(name: string, a: DiffSide | undefined, b: DiffSide | undefined): FileDiff {
  const status = !a
    ? 'added'
    : !b
      ? 'removed'
      : a.contentType === b.contentType && a.bytes.equals(b.bytes)
        ? 'unchanged'
        : 'changed';
  const binary = (a !== undefined && a.text === null) || (b !== undefined && b.text === null);
  const out: FileDiff = { name, status, binary };
  if (a) out.from = { contentType: a.contentType, size: a.bytes.length };
  if (b) out.to = { contentType: b.contentType, size: b.bytes.length };
  if (status === 'unchanged' || binary) return out;
  const d = unifiedDiff(a?.text ?? '', b?.text ?? '', a ? `a/${name}` : '/dev/null', b ? `b/${name}` : '/dev/null');
  if (d.omitted) {
    out.patchOmitted = d.omitted;
    return out;
  }
  out.linesAdded = d.added;
  out.linesRemoved = d.removed;
  if (d.patch !== '') out.patch = d.patch;
  return out;
}

type Edit = { kind: ' ' | '-' | '+'; line: string };

/** Lines of a text; the last one keeps a marker when the text does not end with a newline. */
function linesOf(text: string): string[] {
  if (text === '') return [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  else lines[lines.length - 1] += '\n\\ No newline at end of file';
  return lines;
}

/** Longest common subsequence over the lines between the common head and tail (a plain DP table). */
function edits(a: readonly string[], b: readonly string[]): Edit[] | undefined {
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const x = a.slice(head, a.length - tail);
  const y = b.slice(head, b.length - tail);
  if ((x.length + 1) * (y.length + 1) > MAX_CELLS) return undefined;
  const w = y.length + 1;
  // lcs[i*w + j] = LCS length of x[i..] and y[j..]
  const lcs = new Uint32Array((x.length + 1) * w);
  for (let i = x.length - 1; i >= 0; i--) {
    for (let j = y.length - 1; j >= 0; j--) {
      lcs[i * w + j] =
        x[i] === y[j] ? lcs[(i + 1) * w + j + 1]! + 1 : Math.max(lcs[(i + 1) * w + j]!, lcs[i * w + j + 1]!);
    }
  }
  const out: Edit[] = a.slice(0, head).map((line) => ({ kind: ' ', line }));
  let i = 0;
  let j = 0;
  while (i < x.length || j < y.length) {
    if (i < x.length && j < y.length && x[i] === y[j]) {
      out.push({ kind: ' ', line: x[i]! });
      i++;
      j++;
    } else if (i < x.length && (j === y.length || lcs[(i + 1) * w + j]! >= lcs[i * w + j + 1]!)) {
      // Removals before additions, as diff(1) prints them.
      out.push({ kind: '-', line: x[i]! });
      i++;
    } else {
      out.push({ kind: '+', line: y[j]! });
      j++;
    }
  }
  for (const line of a.slice(a.length - tail)) out.push({ kind: ' ', line });
  return out;
}

/** A unified diff with 3 lines of context; `omitted` when the change is too large to compare here. */
export function unifiedDiff(
  from: string,
  to: string,
  fromLabel = 'a',
  toLabel = 'b',
): { patch: string; added: number; removed: number; omitted?: string } {
  const list = edits(linesOf(from), linesOf(to));
  if (!list) return { patch: '', added: 0, removed: 0, omitted: 'too large to compare line by line here' };
  const added = list.filter((e) => e.kind === '+').length;
  const removed = list.filter((e) => e.kind === '-').length;
  if (added + removed === 0) return { patch: '', added, removed };

  const CONTEXT = 3;
  const changed = list.map((e, idx) => (e.kind === ' ' ? -1 : idx)).filter((idx) => idx >= 0);
  // Group changes whose context overlaps into hunks.
  const hunks: Array<[number, number]> = [];
  for (const idx of changed) {
    const start = Math.max(0, idx - CONTEXT);
    const end = Math.min(list.length, idx + CONTEXT + 1);
    const last = hunks[hunks.length - 1];
    if (last && start <= last[1]) last[1] = Math.max(last[1], end);
    else hunks.push([start, end]);
  }
  const lines = [`--- ${fromLabel}`, `+++ ${toLabel}`];
  // Line numbers before each edit.
  const before = (upTo: number, kind: ' ' | '-' | '+'): number =>
    list.slice(0, upTo).filter((e) => e.kind === ' ' || e.kind === kind).length;
  for (const [start, end] of hunks) {
    const part = list.slice(start, end);
    const aCount = part.filter((e) => e.kind !== '+').length;
    const bCount = part.filter((e) => e.kind !== '-').length;
    const aStart = before(start, '-') + (aCount > 0 ? 1 : 0);
    const bStart = before(start, '+') + (bCount > 0 ? 1 : 0);
    lines.push(`@@ -${aStart},${aCount} +${bStart},${bCount} @@`);
    for (const e of part) lines.push(`${e.kind}${e.line}`);
  }
  return { patch: `${lines.join('\n')}\n`, added, removed };
}
