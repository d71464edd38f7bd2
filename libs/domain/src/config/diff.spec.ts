import { describe, expect, it } from 'vitest';
import { diffConfigFiles, unifiedDiff } from './diff.js';
import { OTELCOL_YAML } from './testing/samples.js';
import type { ConfigFile } from './types.js';

const enc = new TextEncoder();
const file = (name: string, body: string | Uint8Array, contentType = 'text/yaml'): ConfigFile => ({
  name,
  contentType,
  body: typeof body === 'string' ? enc.encode(body) : body,
});

/** Applies a unified diff produced by unifiedDiff (hunks in order) to `from`. */
function applyPatch(from: string, patch: string): string {
  const src = from === '' ? [] : from.replace(/\n$/, '').split('\n');
  const out: string[] = [];
  let pos = 0;
  let noNewline = from !== '' && !from.endsWith('\n');
  const lines = patch.split('\n').slice(2, -1);
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    const h = /^@@ -(\d+)(?:,(\d+))? \+\d+(?:,\d+)? @@$/.exec(l);
    if (h) {
      const start = Number(h[1]) - (h[2] === '0' ? 0 : 1);
      while (pos < start) out.push(src[pos++]!);
    } else if (l.startsWith(' ')) out.push(src[pos++]!);
    else if (l.startsWith('-')) pos++;
    else if (l.startsWith('+')) {
      out.push(l.slice(1));
      noNewline = lines[i + 1] === '\\ No newline at end of file';
    }
  }
  while (pos < src.length) out.push(src[pos++]!);
  return out.length === 0 ? '' : `${out.join('\n')}${noNewline ? '' : '\n'}`;
}

describe('diffConfigFiles', () => {
  it('classifies files and diffs the changed text', () => {
    const from = [file('collector.yaml', OTELCOL_YAML), file('old.yaml', 'x: 1\n'), file('same.txt', 'same\n')];
    const to = [
      file('collector.yaml', OTELCOL_YAML.replace('timeout: 5s', 'timeout: 10s')),
      file('new.yaml', 'y: 2\n'),
      file('same.txt', 'same\n'),
    ];
    const diff = diffConfigFiles(from, to);
    expect(diff.map((d) => [d.name, d.status])).toEqual([
      ['collector.yaml', 'changed'],
      ['new.yaml', 'added'],
      ['old.yaml', 'removed'],
      ['same.txt', 'unchanged'],
    ]);
    expect(diff[0]!.patch).toBe(
      [
        '--- a/collector.yaml',
        '+++ b/collector.yaml',
        '@@ -10,7 +10,7 @@',
        ' ',
        ' processors:',
        '   batch:',
        '-    timeout: 5s',
        '+    timeout: 10s',
        '   memory_limiter:',
        '     check_interval: 1s',
        '     limit_percentage: 80',
        '',
      ].join('\n'),
    );
    expect(diff[0]).toMatchObject({ linesAdded: 1, linesRemoved: 1, binary: false });
    expect(diff[1]).toMatchObject({ to: { contentType: 'text/yaml', size: 5 }, linesAdded: 1, linesRemoved: 0 });
    expect(diff[1]!.patch).toBe('--- /dev/null\n+++ b/new.yaml\n@@ -0,0 +1 @@\n+y: 2\n');
    expect(diff[2]!.patch).toBe('--- a/old.yaml\n+++ /dev/null\n@@ -1 +0,0 @@\n-x: 1\n');
    expect(diff[3]!.patch).toBeUndefined();
  });

  it('reports a content type change without a patch, and binary files without a line diff', () => {
    const diff = diffConfigFiles(
      [file('a.yaml', 'x: 1\n', 'text/plain'), file('b.bin', new Uint8Array([0, 1]))],
      [file('a.yaml', 'x: 1\n', 'text/yaml'), file('b.bin', new Uint8Array([0, 2]))],
    );
    expect(diff[0]).toMatchObject({
      status: 'changed',
      from: { contentType: 'text/plain' },
      to: { contentType: 'text/yaml' },
    });
    expect(diff[0]!.patch).toBeUndefined();
    expect(diff[1]).toMatchObject({ status: 'changed', binary: true });
    expect(diff[1]!.patch).toBeUndefined();
  });

  it('omits the line diff beyond the edit cap', () => {
    const a = Array.from({ length: 50 }, (_, i) => `a${i}`).join('\n');
    const b = Array.from({ length: 50 }, (_, i) => `b${i}`).join('\n');
    const [d] = diffConfigFiles([file('x', a)], [file('x', b)], { maxEditLines: 20 });
    expect(d).toMatchObject({
      status: 'changed',
      patchOmitted: 'more than 20 changed lines; compare the files themselves',
    });
    expect(d!.patch).toBeUndefined();
  });
});

describe('unifiedDiff', () => {
  it('marks a missing final newline', () => {
    expect(unifiedDiff('a\nb', 'a\nb\n')).toEqual({
      patch: '--- a\n+++ b\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n',
      added: 1,
      removed: 1,
    });
  });

  it('is minimal and its patch rebuilds the new text (randomised against an LCS)', () => {
    let seed = 7;
    const rnd = (): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    const lcs = (x: string[], y: string[]): number => {
      const t = Array.from({ length: x.length + 1 }, () => new Array<number>(y.length + 1).fill(0));
      for (let i = 1; i <= x.length; i++)
        for (let j = 1; j <= y.length; j++)
          t[i]![j] = x[i - 1] === y[j - 1] ? t[i - 1]![j - 1]! + 1 : Math.max(t[i - 1]![j]!, t[i]![j - 1]!);
      return t[x.length]![y.length]!;
    };
    for (let round = 0; round < 300; round++) {
      const gen = (): string[] => Array.from({ length: Math.floor(rnd() * 25) }, () => 'abcd'[Math.floor(rnd() * 4)]!);
      const x = gen();
      const y = gen();
      const a = x.length ? `${x.join('\n')}\n` : '';
      const b = y.length ? `${y.join('\n')}\n` : '';
      const r = unifiedDiff(a, b, { context: round % 4 });
      if ('omitted' in r) throw new Error('unexpected omission');
      expect(r.added + r.removed).toBe(x.length + y.length - 2 * lcs(x, y));
      expect(applyPatch(a, r.patch)).toBe(b);
    }
  });
});
