// OpAMP WebSocket message framing: every binary WS message is
//   [uvarint header, value 0][protobuf AgentToServer / ServerToAgent bytes].

/** Result of {@link decodeWsFrame}. `data` is a view into the input frame (no copy). */
export type WsFrameDecodeResult = { ok: true; data: Uint8Array } | { ok: false; reason: string };

/** A uint64 varint is at most 10 bytes long. */
const MAX_VARINT_BYTES = 10;

/**
 * Builds a WS message for an already serialised ServerToAgent. The header is always the canonical
 * single byte 0x00 (the only header value defined by the spec).
 */
export function encodeWsFrame(serverToAgentBytes: Uint8Array): Uint8Array {
  const frame = new Uint8Array(serverToAgentBytes.length + 1);
  frame[0] = 0x00;
  frame.set(serverToAgentBytes, 1);
  return frame;
}

/**
 * Strips and checks the header of a received WS binary message.
 *
 * The header is read as a real uvarint (1..10 bytes) and must have the value 0, so the non-minimal
 * zero `80 00` is accepted (the Go reference mis-rejects it).
 *
 * Legacy headerless frames (pre-2023 clients sending bare protobuf) are REJECTED as malformed, a
 * spec-strict choice: the grace period for them ended 2023-02-01. They are recognisable because a
 * protobuf message never starts with a 0 varint (field number 0 is illegal), so such a frame simply
 * reads as a non-zero header here. Non-zero headers are reserved by the spec and equally malformed.
 *
 * An empty message has no header at all and is malformed; the single byte `00` is a valid frame
 * carrying an empty (all-default) message.
 */
export function decodeWsFrame(frame: Uint8Array): WsFrameDecodeResult {
  if (frame.length === 0) {
    return { ok: false, reason: 'empty WebSocket message (missing header)' };
  }
  // Only "is the value zero" matters, so no 64-bit arithmetic is needed: any non-zero payload bit
  // in any byte makes the header non-zero.
  let nonZero = false;
  for (let i = 0; i < MAX_VARINT_BYTES; i++) {
    if (i >= frame.length) {
      return { ok: false, reason: 'truncated WebSocket message header varint' };
    }
    const b = frame[i]!;
    if ((b & 0x7f) !== 0) nonZero = true;
    if ((b & 0x80) === 0) {
      if (nonZero) {
        return {
          ok: false,
          reason:
            i === 0 && b !== 0
              ? 'non-zero WebSocket message header (legacy headerless frames are not accepted)'
              : 'non-zero WebSocket message header (reserved value)',
        };
      }
      return { ok: true, data: frame.subarray(i + 1) };
    }
  }
  return { ok: false, reason: 'WebSocket message header varint longer than 10 bytes' };
}
