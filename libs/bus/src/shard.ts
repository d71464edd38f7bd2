/**
 * hash(instance_uid) mod N. FNV-1a over all 16 bytes: UUIDv7 uids start with a timestamp, so
 * hashing only a prefix would put agents enrolled in the same second on the same shard.
 * Must never change: gateways and fleet replicas of different versions have to agree.
 */
export function shardOf(uid: Uint8Array, shards: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < uid.length; i++) {
    h ^= uid[i]!;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % shards;
}

/** The hex form of a uid that bus keys and fleet maps use; one implementation with the protocol's. */
export { uidToHex as uidHex } from '@opamp/protocol';
