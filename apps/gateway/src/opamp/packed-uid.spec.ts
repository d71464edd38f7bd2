import { describe, expect, it } from 'vitest';
import { uuidv7 } from '@opamp/protocol';
import { isPackedUid, packUid, unpackUid } from './packed-uid.js';

describe('packed uids', () => {
  it('round-trip every byte value and compare with the bytes they came from', () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    for (let off = 0; off < 256; off += 16) {
      const uid = all.slice(off, off + 16);
      const packed = packUid(uid);
      expect(packed).toHaveLength(16);
      expect(unpackUid(packed)).toEqual(uid);
      expect(isPackedUid(packed, uid)).toBe(true);
    }
  });

  it('tell different uids apart, including ones of another length', () => {
    const a = uuidv7();
    const b = Uint8Array.from(a);
    b[15] ^= 1;
    expect(isPackedUid(packUid(a), b)).toBe(false);
    expect(isPackedUid(packUid(a), a.subarray(0, 15))).toBe(false);
  });
});
