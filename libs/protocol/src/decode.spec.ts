import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { AgentToServerSchema, ComponentHealthSchema, ServerErrorResponseType, ServerToAgentSchema } from '@opamp/proto';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_MAX_DEPTH,
  checkWireStructure,
  decodeAgentToServer,
  decodeServerToAgent,
  encodeAgentToServer,
  encodeServerToAgent,
  validateInstanceUid,
} from './decode.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const UID_HEX = '0192e3a45b6c7d8e9f0123456789abcd';
const UID = hex(UID_HEX);

function varintLen(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}

/**
 * Builds `prefix` + a chain of nested length-delimited fields: tags[0] is the outermost tag byte,
 * the innermost payload is empty. Lengths are computed bottom-up and the buffer written top-down,
 * so 100 000 levels cost O(n) (concatenating inside-out would be quadratic).
 */
function nest(prefix: Uint8Array, tags: number[]): Uint8Array {
  const contentLen = new Array<number>(tags.length + 1);
  contentLen[tags.length] = 0;
  for (let i = tags.length - 1; i >= 0; i--) {
    const inner = contentLen[i + 1]!;
    contentLen[i] = 1 + varintLen(inner) + inner;
  }
  const out = new Uint8Array(prefix.length + contentLen[0]!);
  out.set(prefix, 0);
  let pos = prefix.length;
  for (let i = 0; i < tags.length; i++) {
    out[pos++] = tags[i]!;
    let v = contentLen[i + 1]!;
    while (v >= 0x80) {
      out[pos++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    out[pos++] = v;
  }
  expect(pos).toBe(out.length);
  return out;
}

/** AgentToServer{uid, health: ComponentHealth{component_health_map: {"": ComponentHealth{...}}} x levels}. */
function nestedHealth(levels: number): Uint8Array {
  // 2a = AgentToServer.health; per extra level: 32 = component_health_map entry, 12 = entry value.
  const tags = [0x2a];
  for (let i = 1; i < levels; i++) tags.push(0x32, 0x12);
  return nest(hex('0a10' + UID_HEX), tags);
}

/** AgentToServer{agent_description{identifying_attributes: KeyValue{value: AnyValue{kvlist{KeyValue...}}}}}. */
function nestedKvlist(kvLevels: number): Uint8Array {
  // 1a = agent_description, 0a = identifying_attributes (KeyValue); per level:
  // 12 = KeyValue.value (AnyValue), 32 = AnyValue.kvlist_value (KeyValueList), 0a = KeyValueList.values (KeyValue).
  const tags = [0x1a, 0x0a];
  for (let i = 0; i < kvLevels; i++) tags.push(0x12, 0x32, 0x0a);
  return nest(hex('0a10' + UID_HEX), tags);
}

describe('decodeAgentToServer: checklist byte examples', () => {
  it('decodes the example message (uid, seq 1, caps ReportsStatus)', () => {
    const r = decodeAgentToServer(hex('0a 10 01 92 e3 a4 5b 6c 7d 8e 9f 01 23 45 67 89 ab cd 10 01 20 01'));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(toHex(r.message.instanceUid)).toBe(UID_HEX);
    expect(r.message.sequenceNum).toBe(1n);
    expect(r.message.capabilities).toBe(1n);
    expect(r.message.agentDisconnect).toBeUndefined();
  });

  it('detects empty sub-messages by presence (4a 00 agent_disconnect, 72 00 available_components)', () => {
    const r = decodeAgentToServer(hex('0a10' + UID_HEX + '4a00 7200'));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.message.agentDisconnect).toBeDefined();
    expect(r.message.availableComponents).toBeDefined();
    expect(r.message.health).toBeUndefined();
  });

  it('decodes caps with bit 40 set (81 80 80 80 80 20) without precision loss', () => {
    const r = decodeAgentToServer(hex('0a10' + UID_HEX + '20 81 80 80 80 80 20'));
    expect(r.ok && r.message.capabilities).toBe((1n << 40n) | 1n);
  });

  it('decodes seq 2^64-1 (ff ff ff ff ff ff ff ff ff 01)', () => {
    const r = decodeAgentToServer(hex('0a10' + UID_HEX + '10 ff ff ff ff ff ff ff ff ff 01'));
    expect(r.ok && r.message.sequenceNum).toBe(2n ** 64n - 1n);
  });

  it('keeps seq 2^53+1 and 2^53+2 distinct', () => {
    const a = create(AgentToServerSchema, { instanceUid: UID, sequenceNum: 2n ** 53n + 1n });
    const r = decodeAgentToServer(encodeAgentToServer(a));
    expect(r.ok && r.message.sequenceNum).toBe(2n ** 53n + 1n);
  });

  it('skips unknown fields (field 100: a2 06 03 61 62 63)', () => {
    const r = decodeAgentToServer(hex('0a10' + UID_HEX + '1001 a2 06 03 61 62 63'));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.message.sequenceNum).toBe(1n);
    expect(r.message.$unknown).toBeUndefined();
    const kept = decodeAgentToServer(hex('0a10' + UID_HEX + 'a2 06 03 61 62 63'), { keepUnknownFields: true });
    expect(kept.ok && kept.message.$unknown?.[0]?.no).toBe(100);
  });

  it('skips unknown groups', () => {
    // field 100 start-group (a3 06), inner varint field 1 (08 01), end-group (a4 06)
    expect(decodeAgentToServer(hex('0a10' + UID_HEX + 'a3 06 08 01 a4 06')).ok).toBe(true);
    expect(decodeAgentToServer(hex('0a10' + UID_HEX + 'a3 06 08 01')).ok).toBe(false);
    expect(decodeAgentToServer(hex('0a10' + UID_HEX + 'a4 06')).ok).toBe(false);
  });

  it('decodes the empty message (frame 00 payload) as all-default', () => {
    const r = decodeAgentToServer(new Uint8Array(0));
    expect(r.ok).toBe(true);
    if (r.ok) expect(validateInstanceUid(r.message)).toMatch(/16 bytes/);
  });
});

describe('decodeAgentToServer: malformed input', () => {
  it('rejects a truncated protobuf (0a 10 01 92 e3)', () => {
    const r = decodeAgentToServer(hex('0a 10 01 92 e3'));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/AgentToServer/);
  });

  it('rejects a truncated varint and a dangling tag', () => {
    expect(decodeAgentToServer(hex('10 ff')).ok).toBe(false);
    expect(decodeAgentToServer(hex('10')).ok).toBe(false);
    expect(decodeAgentToServer(hex('10 ff ff ff ff ff ff ff ff ff ff 01')).ok).toBe(false);
  });

  it('rejects field number 0 and invalid wire types', () => {
    expect(decodeAgentToServer(hex('00 01')).ok).toBe(false);
    expect(decodeAgentToServer(hex('0e 01')).ok).toBe(false); // wire type 6
  });

  it('rejects a known field with the wrong wire type', () => {
    // agent_description (field 3) sent as varint: protobuf-es alone would read 05 as a length.
    const r = decodeAgentToServer(hex('18 05 0a 03 61 62 63'));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/wrong wire type/);
    // sequence_num (uint64) sent as length-delimited.
    expect(decodeAgentToServer(hex('12 01 00')).ok).toBe(false);
    // map entry key with the wrong wire type inside component_health_map.
    expect(decodeAgentToServer(hex('2a 04 32 02 08 01')).ok).toBe(false);
  });

  it('rejects a length that runs past its enclosing message', () => {
    // health (2a) of length 3 containing last_error (1a) claiming 5 bytes
    expect(decodeAgentToServer(hex('2a 03 1a 05 61 62 63 64 65')).ok).toBe(false);
  });

  it('rejects invalid UTF-8 in a string field (KeyValue.key = ff fe)', () => {
    // agent_description{identifying_attributes: KeyValue{key: ff fe}}
    const r = decodeAgentToServer(hex('0a10' + UID_HEX + '1a 06 0a 04 0a 02 ff fe'));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/utf-8/i);
  });

  it('rejects invalid UTF-8 in a map key (component_health_map)', () => {
    // health{component_health_map: entry{key: ff, value: {}}}
    const r = decodeAgentToServer(hex('2a 07 32 05 0a 01 ff 12 00'));
    expect(r.ok).toBe(false);
  });

  it('accepts arbitrary bytes in bytes fields (no UTF-8 check, no descent)', () => {
    // custom_message{data: <bytes that look like a deeply nested message>}
    const payload = nest(new Uint8Array(0), new Array<number>(200).fill(0x0a));
    const cm = create(AgentToServerSchema, {
      instanceUid: UID,
      customMessage: { capability: 'com.example.x', type: 't', data: payload },
      effectiveConfig: { configMap: { configMap: { a: { body: hex('fffe00'), contentType: 'x' } } } },
    });
    const r = decodeAgentToServer(encodeAgentToServer(cm));
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.message.customMessage?.data.length).toBe(payload.length);
  });
});

describe('decodeAgentToServer: nesting limit', () => {
  it('rejects 100 000-deep ComponentHealth nesting without a stack overflow', () => {
    const bytes = nestedHealth(100_000);
    const r = decodeAgentToServer(bytes);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/nesting deeper than 64/);
  });

  it('rejects 100 000-deep AnyValue kvlist nesting without a stack overflow', () => {
    const r = decodeAgentToServer(nestedKvlist(100_000));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/nesting deeper than 64/);
  });

  it('rejects 100 000-deep unknown-group nesting', () => {
    const open = new Uint8Array(200_000);
    for (let i = 0; i < open.length; i += 2) open.set([0xa3, 0x06], i);
    expect(decodeAgentToServer(open).ok).toBe(false);
  });

  it('accepts exactly maxDepth levels and rejects maxDepth + 1 (root counts as 1, map entries do not)', () => {
    // nestedHealth(n): AgentToServer (1) + n ComponentHealth levels.
    const atLimit = nestedHealth(DEFAULT_MAX_DEPTH - 1);
    const r = decodeAgentToServer(atLimit);
    expect(r.ok).toBe(true);
    // protobuf-es agrees on the depth convention: its own recursionLimit accepts the same message.
    expect(() => fromBinary(AgentToServerSchema, atLimit, { recursionLimit: DEFAULT_MAX_DEPTH })).not.toThrow();
    expect(decodeAgentToServer(nestedHealth(DEFAULT_MAX_DEPTH)).ok).toBe(false);

    expect(decodeAgentToServer(nestedHealth(4), { maxDepth: 5 }).ok).toBe(true);
    expect(decodeAgentToServer(nestedHealth(5), { maxDepth: 5 }).ok).toBe(false);
  });

  it('decodes realistic nested health with attributes', () => {
    const child = create(ComponentHealthSchema, { healthy: true, status: 'ok', startTimeUnixNano: 2n ** 63n });
    const msg = create(AgentToServerSchema, {
      instanceUid: UID,
      health: {
        healthy: false,
        lastError: 'boom',
        componentHealthMap: { 'pipeline:traces': child },
        attributes: [{ key: 'k', value: { value: { case: 'stringValue', value: 'v' } } }],
      },
    });
    const r = decodeAgentToServer(toBinary(AgentToServerSchema, msg));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.message.health?.componentHealthMap['pipeline:traces']?.startTimeUnixNano).toBe(2n ** 63n);
    expect(r.message.health?.attributes[0]?.key).toBe('k');
  });

  it('a scan refused deep inside a message does not affect the next one (the scan stack is shared)', () => {
    expect(decodeAgentToServer(nestedHealth(DEFAULT_MAX_DEPTH)).ok).toBe(false);
    expect(decodeAgentToServer(nestedKvlist(3)).ok).toBe(true);
    expect(decodeAgentToServer(hex('0a10' + UID_HEX)).ok).toBe(true);
  });

  it('checkWireStructure validates its maxDepth argument', () => {
    expect(() => checkWireStructure(AgentToServerSchema, new Uint8Array(0), 0)).toThrow(RangeError);
  });
});

describe('validateInstanceUid', () => {
  it('accepts 16 non-zero bytes and rejects other lengths and the nil uid', () => {
    expect(validateInstanceUid({ instanceUid: UID })).toBeNull();
    for (const n of [0, 15, 17, 26]) {
      expect(validateInstanceUid({ instanceUid: new Uint8Array(n).fill(0x41) }), String(n)).toMatch(/16 bytes/);
    }
    expect(validateInstanceUid({ instanceUid: new Uint8Array(16) })).toMatch(/zero/);
  });
});

describe('ServerToAgent encode/decode', () => {
  it('round-trips and detects error_response 12 00 by presence', () => {
    const r = decodeServerToAgent(hex('0a10' + UID_HEX + '12 00'));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.message.errorResponse).toBeDefined();
    expect(r.message.errorResponse?.type).toBe(ServerErrorResponseType.ServerErrorResponseType_Unknown);
  });

  it('encodes uid + capabilities 0x3 + Restart as 0a 10 <uid> 38 03 4a 00', () => {
    const msg = create(ServerToAgentSchema, { instanceUid: UID, capabilities: 3n, command: {} });
    expect(toHex(encodeServerToAgent(msg))).toBe('0a10' + UID_HEX + '3803' + '4a00');
    const back = decodeServerToAgent(encodeServerToAgent(msg));
    expect(back.ok && back.message.command).toBeDefined();
  });

  it('rejects a truncated ServerToAgent', () => {
    expect(decodeServerToAgent(hex('0a 10 01')).ok).toBe(false);
  });
});
