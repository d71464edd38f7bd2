import { describe, expect, it } from 'vitest';
import { ago, cell, keyValues, labelsText, table } from './format.js';

describe('table', () => {
  it('aligns columns under upper-case headers, right-aligns numbers, shows "-" for nothing', () => {
    const rows = [
      { name: 'alpha', n: 5, note: null },
      { name: 'b', n: 120, note: 'x' },
    ];
    const text = table(rows, [
      { header: 'name', value: (r) => r.name },
      { header: 'n', value: (r) => r.n, right: true },
      { header: 'note', value: (r) => r.note },
    ]);
    expect(text.split('\n')).toEqual(['NAME     N  NOTE', 'alpha    5  -', 'b      120  x']);
  });

  it('keeps one row on one line and cuts long cells', () => {
    expect(cell('a\nb\tc')).toBe('a b c');
    expect(cell('abcdefghij', 5)).toBe('abcd…');
    expect(table([{ v: '' }], [{ header: 'v', value: (r) => r.v }])).toBe('V\n-');
  });
});

describe('keyValues and friends', () => {
  it('aligns values and leaves out undefined entries', () => {
    expect(
      keyValues([
        ['id', 'r1'],
        ['reason', undefined],
        ['pause cause', null],
      ]),
    ).toBe('id:           r1\npause cause:  -');
  });

  it('labels sorted by key; relative times', () => {
    expect(labelsText({ b: '2', a: '1' })).toBe('a=1,b=2');
    expect(labelsText({})).toBe('-');
    const now = Date.parse('2026-11-25T12:00:00Z');
    expect(ago('2026-11-25T11:59:30Z', now)).toBe('30s ago');
    expect(ago('2026-11-25T09:00:00Z', now)).toBe('3h ago');
    expect(ago(null, now)).toBe('-');
  });
});
