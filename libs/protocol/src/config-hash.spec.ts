import { createHash } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import { AgentConfigMapSchema } from '@opamp/proto';
import { describe, expect, it } from 'vitest';
import { computeConfigHash } from './config-hash.js';

const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const enc = new TextEncoder();

describe('computeConfigHash', () => {
  it('matches the documented canonical encoding byte for byte', () => {
    const be64 = (n: number): Buffer => {
      const b = Buffer.alloc(8);
      b.writeBigUInt64BE(BigInt(n));
      return b;
    };
    const expected = createHash('sha256')
      .update(
        Buffer.concat([be64(1), Buffer.from('a'), be64(9), Buffer.from('text/yaml'), be64(4), Buffer.from('x: 1')]),
      )
      .update(Buffer.concat([be64(1), Buffer.from('b'), be64(0), be64(0)]))
      .digest('hex');
    const got = computeConfigHash([
      { name: 'b', body: new Uint8Array(0), contentType: '' },
      { name: 'a', body: 'x: 1', contentType: 'text/yaml' },
    ]);
    expect(toHex(got)).toBe(expected);
    expect(got.length).toBe(32);
  });

  it('is independent of file order and of input form (array vs AgentConfigMap)', () => {
    const files = [
      { name: 'collector.yaml', body: enc.encode('receivers: {}'), contentType: 'text/yaml' },
      { name: 'extra.yaml', body: enc.encode('exporters: {}'), contentType: 'text/yaml' },
      { name: '', body: enc.encode('single'), contentType: '' },
    ];
    const a = computeConfigHash(files);
    const b = computeConfigHash([...files].reverse());
    const map = create(AgentConfigMapSchema, {
      configMap: Object.fromEntries(
        [...files].reverse().map((f) => [f.name, { body: f.body, contentType: f.contentType }]),
      ),
    });
    expect(toHex(a)).toBe(toHex(b));
    expect(toHex(computeConfigHash(map))).toBe(toHex(a));
  });

  it('is stable across processes (fixed known value)', () => {
    // Pinned so an accidental change of the encoding (which would make every agent re-apply its
    // config after a deploy) fails this test.
    const h = computeConfigHash([{ name: 'c.yaml', body: 'k: v', contentType: 'text/yaml' }]);
    expect(toHex(h)).toBe(
      toHex(computeConfigHash([{ name: 'c.yaml', body: enc.encode('k: v'), contentType: 'text/yaml' }])),
    );
    // Independently computed: sha256(be64(6) "c.yaml" be64(9) "text/yaml" be64(4) "k: v").
    expect(toHex(h)).toBe('ebb75b7194fc1c0be9260be9dbf7314abf02d164f21934e98f543c6640d8865e');
  });

  it('changes when any of name, content type or body changes, and is not fooled by shifted boundaries', () => {
    const base = computeConfigHash([{ name: 'a', body: 'bc', contentType: '' }]);
    expect(toHex(computeConfigHash([{ name: 'ab', body: 'c', contentType: '' }]))).not.toBe(toHex(base));
    expect(toHex(computeConfigHash([{ name: 'a', body: 'bc', contentType: 'x' }]))).not.toBe(toHex(base));
    expect(toHex(computeConfigHash([{ name: 'a', body: 'bd', contentType: '' }]))).not.toBe(toHex(base));
    expect(toHex(computeConfigHash([]))).toBe(toHex(createHash('sha256').digest()));
  });

  it('sorts names by UTF-8 bytes, not UTF-16 code units', () => {
    // U+FF5E (ef bd 9e) vs U+1F600 (f0 9f 98 80): UTF-16 order puts the emoji first, byte order last.
    const emoji = '\u{1F600}';
    const tilde = '\uFF5E';
    expect([emoji, tilde].sort()).toEqual([emoji, tilde]);
    const files = [
      { name: emoji, body: '1', contentType: '' },
      { name: tilde, body: '2', contentType: '' },
    ];
    const single = (name: string, body: string): Buffer => {
      const n = Buffer.from(name);
      const len = (x: number): Buffer => {
        const b = Buffer.alloc(8);
        b.writeBigUInt64BE(BigInt(x));
        return b;
      };
      return Buffer.concat([len(n.length), n, len(0), len(body.length), Buffer.from(body)]);
    };
    const byteOrder = createHash('sha256').update(single(tilde, '2')).update(single(emoji, '1')).digest('hex');
    expect(toHex(computeConfigHash(files))).toBe(byteOrder);
    expect(toHex(computeConfigHash([...files].reverse()))).toBe(byteOrder);
  });

  it('rejects duplicate names in the array form', () => {
    expect(() =>
      computeConfigHash([
        { name: 'a', body: '1', contentType: '' },
        { name: 'a', body: '2', contentType: '' },
      ]),
    ).toThrow(/duplicate/);
  });
});
