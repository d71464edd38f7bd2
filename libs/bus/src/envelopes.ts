import { create, fromBinary, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import {
  InboundEnvelopeSchema,
  OutboundEnvelopeSchema,
  type InboundEnvelope,
  type OutboundEnvelope,
} from '@opamp/proto';

export type InboundEnvelopeInit = MessageInitShape<typeof InboundEnvelopeSchema>;
export type OutboundEnvelopeInit = MessageInitShape<typeof OutboundEnvelopeSchema>;

/** The single Redis stream field that carries a serialized envelope. */
export const ENVELOPE_FIELD = 'e';
const ENVELOPE_FIELD_BYTES = Buffer.from(ENVELOPE_FIELD);

export function encodeInbound(init: InboundEnvelopeInit): Buffer {
  const bytes = toBinary(InboundEnvelopeSchema, create(InboundEnvelopeSchema, init));
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function decodeInbound(bytes: Uint8Array): InboundEnvelope {
  return fromBinary(InboundEnvelopeSchema, bytes);
}

export function encodeOutbound(init: OutboundEnvelopeInit): Buffer {
  const bytes = toBinary(OutboundEnvelopeSchema, create(OutboundEnvelopeSchema, init));
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function decodeOutbound(bytes: Uint8Array): OutboundEnvelope {
  return fromBinary(OutboundEnvelopeSchema, bytes);
}

/** Redis stream replies as returned by ioredis' *Buffer commands. */
export type RawStreamEntry = [id: Buffer, fields: Buffer[]];

export function envelopeBytes(fields: Buffer[]): Buffer | undefined {
  // Compared as bytes: runs for every stream entry read, and decoding each field name to a string
  // would allocate for nothing.
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i]!.equals(ENVELOPE_FIELD_BYTES)) return fields[i + 1];
  }
  return undefined;
}
