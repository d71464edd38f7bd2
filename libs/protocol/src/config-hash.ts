// Deterministic AgentRemoteConfig.config_hash. Agents compare it with the hash they last applied, so
// the same config content must give the same bytes across processes, restarts, replicas and map
// iteration order (checklist case 39).
import { createHash } from 'node:crypto';
import type { AgentConfigMap } from '@opamp/proto';

export interface ConfigFileInput {
  name: string;
  /** File content; a string is hashed as its UTF-8 bytes. */
  body: Uint8Array | string;
  contentType: string;
}

const utf8 = new TextEncoder();

function lengthPrefix(n: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n), false);
  return b;
}

function isConfigMap(input: AgentConfigMap | readonly ConfigFileInput[]): input is AgentConfigMap {
  return !Array.isArray(input);
}

/**
 * SHA-256 over a canonical encoding: files sorted by name in UTF-8 byte order (not JS UTF-16 order,
 * which differs for astral characters), and for each file `name`, `content_type` and `body`, each
 * preceded by its length as an 8-byte big-endian integer. Length prefixes make the encoding
 * injective (no two different configs serialise to the same bytes).
 * Duplicate names (only possible with the array form) are a caller bug and throw.
 */
export function computeConfigHash(configMap: AgentConfigMap | readonly ConfigFileInput[]): Uint8Array {
  const files: Array<{ name: Uint8Array; contentType: Uint8Array; body: Uint8Array }> = [];
  if (isConfigMap(configMap)) {
    for (const [name, file] of Object.entries(configMap.configMap)) {
      files.push({ name: utf8.encode(name), contentType: utf8.encode(file.contentType), body: file.body });
    }
  } else {
    for (const f of configMap) {
      files.push({
        name: utf8.encode(f.name),
        contentType: utf8.encode(f.contentType),
        body: typeof f.body === 'string' ? utf8.encode(f.body) : f.body,
      });
    }
  }
  files.sort((a, b) => Buffer.compare(a.name, b.name));
  const hash = createHash('sha256');
  for (let i = 0; i < files.length; i++) {
    const f = files[i]!;
    if (i > 0 && Buffer.compare(files[i - 1]!.name, f.name) === 0) {
      throw new Error(`duplicate config file name: ${JSON.stringify(Buffer.from(f.name).toString('utf8'))}`);
    }
    for (const part of [f.name, f.contentType, f.body]) {
      hash.update(lengthPrefix(part.length));
      hash.update(part);
    }
  }
  return new Uint8Array(hash.digest());
}
