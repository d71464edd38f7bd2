import { describe, expect, it } from 'vitest';
import { AdmittedTokens } from './admitted-tokens.js';

describe('AdmittedTokens', () => {
  it('gives every token one small index, shared by its connections, 0 meaning none', () => {
    const t = new AdmittedTokens();
    const a1 = t.acquire('a', 'da');
    const a2 = t.acquire('a', 'da');
    const b = t.acquire('b', 'db');
    expect(a1).toBe(1);
    expect(a2).toBe(a1);
    expect(b).toBe(2);
    expect(t.idAt(a1)).toBe('a');
    expect(t.idAt(0)).toBe('');
    expect(t.indexOf('b')).toBe(b);
    expect(t.indexOf('zzz')).toBe(0);
    expect(t.holders(a1)).toBe(2);
    expect(t.inUse()).toEqual([
      { index: 1, id: 'a', digestHex: 'da' },
      { index: 2, id: 'b', digestHex: 'db' },
    ]);
  });

  it('frees an index when its last connection closes and reuses it', () => {
    const t = new AdmittedTokens();
    const a = t.acquire('a', 'da');
    t.acquire('a', 'da');
    t.release(a);
    expect(t.indexOf('a')).toBe(a);
    t.release(a);
    expect(t.indexOf('a')).toBe(0);
    expect(t.idAt(a)).toBe('');
    expect(t.size).toBe(0);
    expect(t.acquire('c', 'dc')).toBe(a);
    // Releasing too often or unknown indexes changes nothing.
    t.release(0);
    t.release(99);
    expect(t.size).toBe(1);
  });
});
