import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  encodeEnrollmentTokenMirror,
  enrollmentTokenDigest,
  looksLikeEnrollmentToken,
  parseEnrollmentTokenMirror,
} from './enrollment-tokens.js';

const TOKEN = `oet_${Buffer.alloc(32, 7).toString('base64url')}`;
const ID = '0192e3a4-5b6c-7d8e-9f01-23456789abcd';

describe('enrollment token shape', () => {
  it('accepts oet_ + 43 base64url characters only', () => {
    expect(TOKEN).toHaveLength(47);
    expect(looksLikeEnrollmentToken(TOKEN)).toBe(true);
    expect(looksLikeEnrollmentToken(TOKEN.slice(0, -1))).toBe(false);
    expect(looksLikeEnrollmentToken(`${TOKEN}A`)).toBe(false);
    expect(looksLikeEnrollmentToken(TOKEN.replace('oet_', 'opk_'))).toBe(false);
    expect(looksLikeEnrollmentToken(`oet_${'+'.repeat(43)}`)).toBe(false);
  });

  it('is looked up by the SHA-256 of the whole token, lower-case hex', () => {
    expect(enrollmentTokenDigest(TOKEN)).toBe(createHash('sha256').update(TOKEN).digest('hex'));
    expect(enrollmentTokenDigest(TOKEN)).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('mirror entry', () => {
  it('round-trips', () => {
    const entry = { id: ID, labels: { env: 'prod' }, expiresAtMs: 1_900_000_000_000 };
    expect(parseEnrollmentTokenMirror(encodeEnrollmentTokenMirror(entry))).toEqual(entry);
    expect(parseEnrollmentTokenMirror(encodeEnrollmentTokenMirror({ ...entry, expiresAtMs: null }))).toEqual({
      ...entry,
      expiresAtMs: null,
    });
  });

  it('treats anything else as no token', () => {
    for (const raw of [
      '',
      'nope',
      '[]',
      'null',
      '{"labels":{}}',
      '{"id":"x"}',
      `{"id":"${ID}","expiresAtMs":"soon"}`,
    ]) {
      expect(parseEnrollmentTokenMirror(raw), raw).toBeUndefined();
    }
  });

  it('keeps only string label values', () => {
    expect(parseEnrollmentTokenMirror(JSON.stringify({ id: ID, labels: { a: 'b', n: 1 } }))).toEqual({
      id: ID,
      labels: { a: 'b' },
      expiresAtMs: null,
    });
  });
});
