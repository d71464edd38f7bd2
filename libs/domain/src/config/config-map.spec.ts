import { createHash } from 'node:crypto';
import { toBinary } from '@bufbuild/protobuf';
import { AgentConfigMapSchema } from '@opamp/proto';
import { computeConfigHash } from '@opamp/protocol';
import { describe, expect, it } from 'vitest';
import { buildConfigVersion, decodeConfigMap, isConfigHashHex } from './config-map.js';
import { encodeConfigFile } from './files.js';
import type { ConfigFile } from './types.js';

const enc = new TextEncoder();
const file = (name: string, body: string | Uint8Array, contentType = 'text/yaml'): ConfigFile => ({
  name,
  contentType,
  body: typeof body === 'string' ? enc.encode(body) : body,
});

describe('buildConfigVersion', () => {
  it('hashes with the canonical encoding of computeConfigHash', () => {
    const built = buildConfigVersion([file('c.yaml', 'k: v')]);
    // sha256(be64(6) "c.yaml" be64(9) "text/yaml" be64(4) "k: v"), pinned in libs/protocol too.
    expect(built.hashHex).toBe('ebb75b7194fc1c0be9260be9dbf7314abf02d164f21934e98f543c6640d8865e');
    expect(Buffer.from(built.hash).toString('hex')).toBe(built.hashHex);
    expect(Buffer.from(computeConfigHash(built.configMap)).toString('hex')).toBe(built.hashHex);
    expect(isConfigHashHex(built.hashHex)).toBe(true);
  });

  it('gives the same bytes and hash for the same content in any order', () => {
    const a = buildConfigVersion([file('b.conf', 'x', 'text/plain'), file('a.yaml', 'y: 1'), file('é.txt', 'z')]);
    const b = buildConfigVersion([file('é.txt', 'z'), file('a.yaml', 'y: 1'), file('b.conf', 'x', 'text/plain')]);
    expect(Buffer.from(a.bytes).equals(Buffer.from(b.bytes))).toBe(true);
    expect(a.hashHex).toBe(b.hashHex);
    expect(a.summary).toEqual([
      { name: 'a.yaml', contentType: 'text/yaml', size: 4 },
      { name: 'b.conf', contentType: 'text/plain', size: 1 },
      { name: 'é.txt', contentType: 'text/yaml', size: 1 },
    ]);
    expect(Buffer.from(a.bytes).equals(Buffer.from(toBinary(AgentConfigMapSchema, a.configMap)))).toBe(true);
  });

  it('changes the hash when a content type changes', () => {
    expect(buildConfigVersion([file('a', 'x', 'text/plain')]).hashHex).not.toBe(
      buildConfigVersion([file('a', 'x', 'text/yaml')]).hashHex,
    );
  });

  it('round-trips through the stored bytes', () => {
    const files = [file('bin', new Uint8Array([0, 1, 255]), 'application/octet-stream'), file('a.yaml', 'a: 1\n')];
    const decoded = decodeConfigMap(buildConfigVersion(files).bytes);
    expect(decoded.map((f) => [f.name, f.contentType, Buffer.from(f.body).toString('hex')])).toEqual([
      ['a.yaml', 'text/yaml', Buffer.from('a: 1\n').toString('hex')],
      ['bin', 'application/octet-stream', '0001ff'],
    ]);
    expect(decoded.map(encodeConfigFile)).toEqual([
      { name: 'a.yaml', contentType: 'text/yaml', encoding: 'utf8', content: 'a: 1\n', size: 5 },
      { name: 'bin', contentType: 'application/octet-stream', encoding: 'base64', content: 'AAH/', size: 3 },
    ]);
  });

  it('refuses duplicate and reserved names (validation lets neither through)', () => {
    expect(() => buildConfigVersion([file('a', '1'), file('a', '2')])).toThrow(/duplicate/);
    expect(() => buildConfigVersion([file('__proto__', '1')])).toThrow(/reserved/);
  });

  it('hashes an empty body and an empty file list deterministically', () => {
    expect(buildConfigVersion([]).hashHex).toBe(createHash('sha256').digest('hex'));
  });
});
