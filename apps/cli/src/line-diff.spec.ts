import { describe, expect, it } from 'vitest';
import { diffFiles, unifiedDiff } from './line-diff.js';

const side = (name: string, text: string, contentType = 'text/plain') => ({
  name,
  contentType,
  text,
  bytes: Buffer.from(text),
});

describe('unifiedDiff', () => {
  it('a changed line with three lines of context, removals before additions', () => {
    const a = 'l1\nl2\nl3\nl4\nl5\nl6\nl7\nl8\n';
    const b = 'l1\nl2\nl3\nl4\nL5\nl6\nl7\nl8\n';
    const d = unifiedDiff(a, b, 'a/x', 'b/x');
    expect(d.patch).toBe('--- a/x\n+++ b/x\n@@ -2,7 +2,7 @@\n l2\n l3\n l4\n-l5\n+L5\n l6\n l7\n l8\n');
    expect([d.added, d.removed]).toEqual([1, 1]);
  });

  it('separate hunks for changes far apart; a missing final newline is a change', () => {
    const a = Array.from({ length: 20 }, (_, i) => `line ${i}`).join('\n') + '\n';
    const b = a.replace('line 1\n', 'line one\n').replace('line 18\n', '');
    expect(unifiedDiff(a, b).patch.match(/^@@/gm)).toHaveLength(2);
    const nl = unifiedDiff('x\n', 'x');
    expect(nl.patch).toContain('+x\n\\ No newline at end of file');
    expect(unifiedDiff('same\n', 'same\n')).toEqual({ patch: '', added: 0, removed: 0 });
  });

  it('from nothing: every line added', () => {
    expect(unifiedDiff('', 'a\nb\n', '/dev/null', 'b/new').patch).toBe(
      '--- /dev/null\n+++ b/new\n@@ -0,0 +1,2 @@\n+a\n+b\n',
    );
  });
});

describe('diffFiles', () => {
  it('added, removed, changed (content type too) and unchanged files in name order', () => {
    const d = diffFiles(
      [side('b.conf', 'x\n'), side('c.conf', 'same\n'), side('d.yaml', 'k: v\n', 'text/yaml')],
      [side('a.lua', 'print(1)\n'), side('c.conf', 'same\n'), side('d.yaml', 'k: v\n', 'application/yaml')],
    );
    expect(d.map((f) => [f.name, f.status])).toEqual([
      ['a.lua', 'added'],
      ['b.conf', 'removed'],
      ['c.conf', 'unchanged'],
      ['d.yaml', 'changed'],
    ]);
    expect(d[3]!.patch).toBeUndefined();
    expect(d[0]!.linesAdded).toBe(1);
  });

  it('binary files get no line diff', () => {
    const bin = { name: 'cert.der', contentType: 'application/octet-stream', text: null, bytes: Buffer.from([0, 1]) };
    const d = diffFiles([bin], [{ ...bin, bytes: Buffer.from([0, 2]) }]);
    expect(d[0]).toMatchObject({ status: 'changed', binary: true });
    expect(d[0]!.patch).toBeUndefined();
  });
});
