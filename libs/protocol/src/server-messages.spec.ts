import { create } from '@bufbuild/protobuf';
import { ServerErrorResponseType, ServerToAgentSchema } from '@opamp/proto';
import { describe, expect, it } from 'vitest';
import { SERVER_CAPABILITIES } from './capabilities.js';
import { decodeServerToAgent, encodeServerToAgent } from './decode.js';
import { encodeWsFrame } from './framing.js';
import { ackFor, badRequest, restartCommand, unavailable, violatesErrorExclusivity } from './server-messages.js';

const UID_HEX = '0192e3a45b6c7d8e9f0123456789abcd';
const UID = Uint8Array.from(Buffer.from(UID_HEX, 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('ackFor', () => {
  it('carries uid and our capabilities (0x27) only', () => {
    const msg = ackFor(UID);
    expect(toHex(encodeServerToAgent(msg))).toBe('0a10' + UID_HEX + '3827');
    expect(msg.errorResponse).toBeUndefined();
    expect(msg.capabilities).toBe(SERVER_CAPABILITIES);
  });
  it('honours explicit capabilities, including 0n to omit the field', () => {
    expect(toHex(encodeServerToAgent(ackFor(UID, { capabilities: 0x1n })))).toBe('0a10' + UID_HEX + '3801');
    expect(toHex(encodeServerToAgent(ackFor(UID, { capabilities: 0n })))).toBe('0a10' + UID_HEX);
  });
  it('frames as 00 + protobuf for WebSocket', () => {
    expect(toHex(encodeWsFrame(encodeServerToAgent(ackFor(UID))))).toBe('000a10' + UID_HEX + '3827');
  });
});

describe('badRequest', () => {
  it('sets only instance_uid and error_response{BadRequest, message}', () => {
    const msg = badRequest(UID, 'bad');
    // 12 07: error_response len 7 = 08 01 (type BadRequest) 12 03 'bad'
    expect(toHex(encodeServerToAgent(msg))).toBe('0a10' + UID_HEX + '1207' + '0801' + '1203626164');
    expect(msg.errorResponse?.type).toBe(ServerErrorResponseType.ServerErrorResponseType_BadRequest);
    expect(violatesErrorExclusivity(msg)).toBe(false);
  });
  it('works with an invalid (empty) uid echoed back', () => {
    expect(toHex(encodeServerToAgent(badRequest(new Uint8Array(0), '')))).toBe('12020801');
  });
});

describe('unavailable', () => {
  it('encodes the 30 s example bytes exactly (0a 10 <uid> 12 0a 08 02 1a 06 08 80 d8 8e e1 6f)', () => {
    const bytes = encodeServerToAgent(unavailable(UID, 30));
    expect(toHex(bytes)).toBe('0a10' + UID_HEX + '120a' + '0802' + '1a06' + '0880d88ee16f');
    const back = decodeServerToAgent(bytes);
    expect(back.ok).toBe(true);
    if (!back.ok) return;
    const details = back.message.errorResponse?.Details;
    expect(details?.case).toBe('retryInfo');
    expect(details?.case === 'retryInfo' && details.value.retryAfterNanoseconds).toBe(30_000_000_000n);
    expect(violatesErrorExclusivity(back.message)).toBe(false);
  });
  it('includes an optional message and omits retry_info for a non-positive delay', () => {
    const msg = unavailable(UID, 0, 'busy');
    expect(msg.errorResponse?.errorMessage).toBe('busy');
    expect(msg.errorResponse?.Details.case).toBeUndefined();
    expect(msg.capabilities).toBe(0n);
  });
});

describe('restartCommand', () => {
  it('encodes as uid + capabilities + 4a 00', () => {
    expect(toHex(encodeServerToAgent(restartCommand(UID)))).toBe('0a10' + UID_HEX + '3827' + '4a00');
    expect(toHex(encodeServerToAgent(restartCommand(UID, { capabilities: 3n })))).toBe(
      '0a10' + UID_HEX + '3803' + '4a00',
    );
  });
});

describe('violatesErrorExclusivity', () => {
  it('flags error_response combined with any of fields 3..11', () => {
    expect(violatesErrorExclusivity(ackFor(UID))).toBe(false);
    const withCaps = create(ServerToAgentSchema, { instanceUid: UID, errorResponse: {}, capabilities: 1n });
    expect(violatesErrorExclusivity(withCaps)).toBe(true);
    const withFlags = create(ServerToAgentSchema, { instanceUid: UID, errorResponse: {}, flags: 1n });
    expect(violatesErrorExclusivity(withFlags)).toBe(true);
    const withCommand = create(ServerToAgentSchema, { instanceUid: UID, errorResponse: {}, command: {} });
    expect(violatesErrorExclusivity(withCommand)).toBe(true);
    const withConfig = create(ServerToAgentSchema, { instanceUid: UID, errorResponse: {}, remoteConfig: {} });
    expect(violatesErrorExclusivity(withConfig)).toBe(true);
  });
});
