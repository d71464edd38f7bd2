import { describe, expect, it } from 'vitest';
import { decodeWsFrame, encodeWsFrame } from './framing.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

// Checklist §1.3 example: uid 0192e3a4-..., seq 1, caps ReportsStatus.
const EXAMPLE_FRAME = '00 0a 10 01 92 e3 a4 5b 6c 7d 8e 9f 01 23 45 67 89 ab cd 10 01 20 01';
const EXAMPLE_PAYLOAD = '0a 10 01 92 e3 a4 5b 6c 7d 8e 9f 01 23 45 67 89 ab cd 10 01 20 01';

describe('encodeWsFrame', () => {
  it('prefixes the canonical single-byte 0x00 header', () => {
    expect(toHex(encodeWsFrame(hex(EXAMPLE_PAYLOAD)))).toBe(toHex(hex(EXAMPLE_FRAME)));
  });
  it('encodes an empty message as the single byte 00', () => {
    expect(toHex(encodeWsFrame(new Uint8Array(0)))).toBe('00');
  });
});

describe('decodeWsFrame', () => {
  it('strips the header of the checklist example frame', () => {
    const r = decodeWsFrame(hex(EXAMPLE_FRAME));
    expect(r.ok).toBe(true);
    if (r.ok) expect(toHex(r.data)).toBe(toHex(hex(EXAMPLE_PAYLOAD)));
  });

  it('accepts the header-only frame 00 as empty data', () => {
    const r = decodeWsFrame(hex('00'));
    expect(r).toEqual({ ok: true, data: new Uint8Array(0) });
  });

  it('accepts a non-minimal zero header (80 00)', () => {
    const r = decodeWsFrame(hex('80 00 ' + EXAMPLE_PAYLOAD));
    expect(r.ok).toBe(true);
    if (r.ok) expect(toHex(r.data)).toBe(toHex(hex(EXAMPLE_PAYLOAD)));
  });

  it('accepts a 10-byte zero header', () => {
    const r = decodeWsFrame(hex('80 80 80 80 80 80 80 80 80 00 20 01'));
    expect(r.ok).toBe(true);
    if (r.ok) expect(toHex(r.data)).toBe('2001');
  });

  it('rejects an 11-byte header varint', () => {
    const r = decodeWsFrame(hex('80 80 80 80 80 80 80 80 80 80 00'));
    expect(r.ok).toBe(false);
  });

  it('rejects a truncated header varint', () => {
    expect(decodeWsFrame(hex('80')).ok).toBe(false);
    expect(decodeWsFrame(hex('80 80')).ok).toBe(false);
  });

  it('rejects non-zero headers 01 and 80 01', () => {
    expect(decodeWsFrame(hex('01 ' + EXAMPLE_PAYLOAD)).ok).toBe(false);
    expect(decodeWsFrame(hex('80 01 ' + EXAMPLE_PAYLOAD)).ok).toBe(false);
  });

  it('rejects a legacy headerless frame (raw protobuf starting with 0a)', () => {
    const r = decodeWsFrame(hex(EXAMPLE_PAYLOAD));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/legacy/);
  });

  it('rejects an empty message', () => {
    expect(decodeWsFrame(new Uint8Array(0)).ok).toBe(false);
  });

  it('returns a view without copying', () => {
    const frame = hex(EXAMPLE_FRAME);
    const r = decodeWsFrame(frame);
    expect(r.ok && r.data.buffer === frame.buffer).toBe(true);
  });
});
