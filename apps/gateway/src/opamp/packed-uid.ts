// The uids a WS connection has seen are kept for its whole life (to report its close), so they
// are stored packed: a string of one-byte characters costs ~32 bytes of heap for a 16-byte uid,
// where a Uint8Array copy costs ~200 (typed array + ArrayBuffer + backing store). A packed uid
// compares with a decoded one without allocating.

export function packUid(uid: Uint8Array): string {
  return String.fromCharCode(...uid);
}

export function unpackUid(packed: string): Uint8Array {
  const out = new Uint8Array(packed.length);
  for (let i = 0; i < packed.length; i++) out[i] = packed.charCodeAt(i);
  return out;
}

export function isPackedUid(packed: string, uid: Uint8Array): boolean {
  if (packed.length !== uid.length) return false;
  for (let i = 0; i < uid.length; i++) if (packed.charCodeAt(i) !== uid[i]) return false;
  return true;
}
