// A config version as agents receive it: the serialized AgentConfigMap and its canonical hash.
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { AgentConfigMapSchema, type AgentConfigMap } from '@opamp/proto';
import { computeConfigHash } from '@opamp/protocol';
import { compareFileNames } from './files.js';
import type { ConfigFile } from './types.js';

/** What a listing shows of a file without decoding the config map. */
export interface ConfigFileSummary {
  name: string;
  contentType: string;
  /** Body size in bytes. */
  size: number;
}

export interface BuiltConfigVersion {
  /** Files in UTF-8 byte order of their names (the order of the hash encoding). */
  files: ConfigFile[];
  configMap: AgentConfigMap;
  /** Serialized opamp.proto.v1.AgentConfigMap: exactly what is stored and sent. */
  bytes: Uint8Array;
  /** SHA-256 of the canonical encoding (computeConfigHash), 32 bytes. */
  hash: Uint8Array;
  /** `hash` as 64 lower-case hex characters (the stored and displayed form). */
  hashHex: string;
  summary: ConfigFileSummary[];
}

/**
 * Builds the AgentConfigMap of validated files (names unique; see checkConfigLimits) and its hash.
 * Files are inserted in name order so the serialized bytes are the same for the same content.
 */
export function buildConfigVersion(input: readonly ConfigFile[]): BuiltConfigVersion {
  const files = [...input].sort((a, b) => compareFileNames(a.name, b.name));
  const entries: Record<string, { body: Uint8Array; contentType: string }> = {};
  for (const f of files) {
    if (Object.prototype.hasOwnProperty.call(entries, f.name) || f.name === '__proto__') {
      throw new Error(`config file name ${JSON.stringify(f.name)} is duplicate or reserved`);
    }
    entries[f.name] = { body: f.body, contentType: f.contentType };
  }
  const configMap = create(AgentConfigMapSchema, { configMap: entries });
  const hash = computeConfigHash(files);
  return {
    files,
    configMap,
    bytes: toBinary(AgentConfigMapSchema, configMap),
    hash,
    hashHex: Buffer.from(hash).toString('hex'),
    summary: files.map((f) => ({ name: f.name, contentType: f.contentType, size: f.body.byteLength })),
  };
}

/** The files of a stored config map, in name order. */
export function decodeConfigMap(bytes: Uint8Array): ConfigFile[] {
  const map = fromBinary(AgentConfigMapSchema, bytes);
  return Object.entries(map.configMap)
    .map(([name, f]) => ({ name, contentType: f.contentType, body: f.body }))
    .sort((a, b) => compareFileNames(a.name, b.name));
}

const HEX_HASH = /^[0-9a-f]{64}$/;

/** True for a config hash in its stored form (64 lower-case hex characters). */
export function isConfigHashHex(v: unknown): v is string {
  return typeof v === 'string' && HEX_HASH.test(v);
}
