import { describe, expect, it } from 'vitest';
import { isValidUid, uidEquals, uidFromString, uidToHex, uidToString, uuidv7 } from './uid.js';

const UID = Uint8Array.from(Buffer.from('0192e3a45b6c7d8e9f0123456789abcd', 'hex'));

describe('uidToString / uidToHex', () => {
  it('formats 16 bytes as canonical lower-case 8-4-4-4-12', () => {
    expect(uidToString(UID)).toBe('0192e3a4-5b6c-7d8e-9f01-23456789abcd');
    expect(uidToString(new Uint8Array(16).fill(0xab))).toBe('abababab-abab-abab-abab-abababababab');
  });
  it('falls back to plain hex for other lengths', () => {
    expect(uidToString(Uint8Array.from([1, 2, 0xff]))).toBe('0102ff');
    expect(uidToString(new Uint8Array(0))).toBe('');
  });
  it('uidToHex is plain lower-case hex', () => {
    expect(uidToHex(UID)).toBe('0192e3a45b6c7d8e9f0123456789abcd');
  });
});

describe('uidFromString', () => {
  it('parses the canonical form in any case', () => {
    expect(uidFromString('0192e3a4-5b6c-7d8e-9f01-23456789abcd')).toEqual(UID);
    expect(uidFromString('0192E3A4-5B6C-7D8E-9F01-23456789ABCD')).toEqual(UID);
  });
  it('parses 32 plain hex digits', () => {
    expect(uidFromString('0192e3a45b6c7d8e9f0123456789ABCD')).toEqual(UID);
  });
  it('rejects malformed input', () => {
    for (const bad of [
      '',
      '0192e3a4-5b6c-7d8e-9f01-23456789abc',
      '0192e3a4-5b6c-7d8e-9f01-23456789abcde',
      '0192e3a45b6c-7d8e-9f01-23456789abcd',
      '{0192e3a4-5b6c-7d8e-9f01-23456789abcd}',
      ' 0192e3a4-5b6c-7d8e-9f01-23456789abcd',
      'urn:uuid:0192e3a4-5b6c-7d8e-9f01-23456789abcd',
      '0192e3a4-5b6c-7d8e-9f01-23456789abcg',
      '01ARZ3NDEKTSV4RRFFQ69G5FAV',
    ]) {
      expect(uidFromString(bad), bad).toBeNull();
    }
  });
  it('round-trips with uidToString', () => {
    const u = uuidv7();
    expect(uidFromString(uidToString(u))).toEqual(u);
  });
});

describe('isValidUid / uidEquals', () => {
  it('accepts 16 non-zero bytes only', () => {
    expect(isValidUid(UID)).toBe(true);
    expect(isValidUid(new Uint8Array(16))).toBe(false);
    for (const n of [0, 15, 17, 26]) expect(isValidUid(new Uint8Array(n).fill(1)), String(n)).toBe(false);
    const lastByte = new Uint8Array(16);
    lastByte[15] = 1;
    expect(isValidUid(lastByte)).toBe(true);
  });
  it('compares bytes', () => {
    expect(uidEquals(UID, Uint8Array.from(UID))).toBe(true);
    expect(uidEquals(UID, UID.subarray(0, 15))).toBe(false);
    expect(uidEquals(UID, new Uint8Array(16))).toBe(false);
  });
});

describe('uuidv7', () => {
  it('has 16 bytes, version 7 and variant 10', () => {
    for (let i = 0; i < 200; i++) {
      const u = uuidv7();
      expect(u.length).toBe(16);
      expect(u[6]! >> 4).toBe(7);
      expect(u[8]! >> 6).toBe(0b10);
      expect(isValidUid(u)).toBe(true);
    }
  });
  it('encodes the 48-bit millisecond timestamp big-endian', () => {
    const ms = 0x0192e3a45b6c;
    const u = uuidv7(ms);
    expect(uidToHex(u.subarray(0, 6))).toBe('0192e3a45b6c');
    const max = uuidv7(2 ** 48 - 1);
    expect(uidToHex(max.subarray(0, 6))).toBe('ffffffffffff');
    expect(uidToHex(uuidv7(0).subarray(0, 6))).toBe('000000000000');
  });
  it('sorts by creation time and has random tails', () => {
    const a = uuidv7(1_700_000_000_000);
    const b = uuidv7(1_700_000_000_001);
    expect(Buffer.compare(Buffer.from(a), Buffer.from(b))).toBe(-1);
    expect(uidToString(uuidv7(5))).not.toBe(uidToString(uuidv7(5)));
  });
});
