// Decoding of OpAMP messages from untrusted bytes.
//
// protobuf-es alone is not enough for hostile input:
//  - its message readers ignore the wire type of known message fields (a varint where a message is
//    expected is read as a length prefix), so malformed input can be misread instead of rejected;
//  - recursive types (ComponentHealth, ComponentDetails, AnyValue kvlist/array) let a small payload
//    nest very deeply.
// So every message first goes through a cheap, allocation-free wire scan driven by the schema
// (which fields are messages, which wire type each known field must use) that enforces a nesting
// limit with an explicit stack. Only then is fromBinary() called, with its own recursionLimit set to
// the same bound as a second line of defence. fromBinary already validates UTF-8 in proto3 string
// fields (throws on invalid sequences), which gives the BAD_REQUEST behaviour we want.
import {
  fromBinary,
  ScalarType,
  toBinary,
  type DescField,
  type DescMessage,
  type MessageShape,
} from '@bufbuild/protobuf';
import { AgentToServerSchema, ServerToAgentSchema, type AgentToServer, type ServerToAgent } from '@opamp/proto';
import { UID_LENGTH, isValidUid } from './uid.js';

/** Nesting limit for decoded messages (root = depth 1). Real agents stay far below this. */
export const DEFAULT_MAX_DEPTH = 64;

export interface DecodeOptions {
  /** Maximum message nesting depth; the root message is depth 1. Default {@link DEFAULT_MAX_DEPTH}. */
  maxDepth?: number;
  /**
   * Keep unknown fields on the decoded message (so re-encoding preserves them). Default false: the
   * control plane never re-emits them, and keeping them pins slices of the input buffer in memory.
   */
  keepUnknownFields?: boolean;
}

export type DecodeResult<T> = { ok: true; message: T } | { ok: false; reason: string };

// Wire types.
const WT_VARINT = 0;
const WT_I64 = 1;
const WT_LEN = 2;
const WT_SGROUP = 3;
const WT_EGROUP = 4;
const WT_I32 = 5;

/** How the scan treats one known field. */
interface FieldRule {
  /** Bitmask of accepted wire types (1 << wireType). */
  wireTypes: number;
  /** Set for fields whose payload is a message (or a map entry): the scan descends into it. */
  child: ScanNode | null;
  /** False for synthetic map-entry "messages", which are an encoding detail, not a nesting level. */
  countsAsLevel: boolean;
}

interface ScanNode {
  fields: Map<number, FieldRule>;
}

function scalarWireType(t: ScalarType): number {
  switch (t) {
    case ScalarType.DOUBLE:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return WT_I64;
    case ScalarType.FLOAT:
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
      return WT_I32;
    case ScalarType.STRING:
    case ScalarType.BYTES:
      return WT_LEN;
    default:
      return WT_VARINT;
  }
}

const nodeCache = new WeakMap<DescMessage, ScanNode>();

/** Scan rules for a message type, built once per descriptor (cycles resolved through the cache). */
function scanNodeFor(desc: DescMessage): ScanNode {
  const cached = nodeCache.get(desc);
  if (cached) return cached;
  const node: ScanNode = { fields: new Map() };
  // Register before filling in fields so recursive types terminate.
  nodeCache.set(desc, node);
  for (const field of desc.fields) node.fields.set(field.number, ruleFor(field));
  return node;
}

function ruleFor(field: DescField): FieldRule {
  switch (field.fieldKind) {
    case 'scalar':
      return { wireTypes: 1 << scalarWireType(field.scalar), child: null, countsAsLevel: false };
    case 'enum':
      return { wireTypes: 1 << WT_VARINT, child: null, countsAsLevel: false };
    case 'message':
      return { wireTypes: 1 << WT_LEN, child: scanNodeFor(field.message), countsAsLevel: true };
    case 'list': {
      if (field.listKind === 'message') {
        return { wireTypes: 1 << WT_LEN, child: scanNodeFor(field.message), countsAsLevel: true };
      }
      // Repeated scalars/enums may be packed (LEN) or not (element wire type).
      const elem = field.listKind === 'enum' ? WT_VARINT : scalarWireType(field.scalar);
      return { wireTypes: (1 << WT_LEN) | (1 << elem), child: null, countsAsLevel: false };
    }
    case 'map': {
      // A map entry is encoded as a message {1: key, 2: value}; validate it like one but do not count
      // it as a nesting level (the value message, if any, is the next level).
      const entry: ScanNode = { fields: new Map() };
      entry.fields.set(1, { wireTypes: 1 << scalarWireType(field.mapKey), child: null, countsAsLevel: false });
      if (field.mapKind === 'message') {
        entry.fields.set(2, { wireTypes: 1 << WT_LEN, child: scanNodeFor(field.message), countsAsLevel: true });
      } else {
        const wt = field.mapKind === 'enum' ? WT_VARINT : scalarWireType(field.scalar);
        entry.fields.set(2, { wireTypes: 1 << wt, child: null, countsAsLevel: false });
      }
      return { wireTypes: 1 << WT_LEN, child: entry, countsAsLevel: false };
    }
  }
}

/**
 * The scan's explicit stack, shared by every call: a scan is synchronous, so no two ever overlap, and
 * it runs for every message a gateway or fleet receives. It holds at most 2 * maxDepth + 1 frames
 * (each counted level may be preceded by one uncounted map-entry frame).
 */
const scanStack = {
  ends: [] as number[],
  nodes: [] as Array<ScanNode | null>,
  depths: [] as number[],
  /** Field number of an open group frame, 0 for LEN frames. */
  groups: [] as number[],
};

/**
 * Validates the wire structure of `bytes` against `schema` without decoding or allocating per field:
 * well-formed tags and varints, lengths within bounds, the right wire type for every known field,
 * matched groups, and at most `maxDepth` levels of message nesting (root = 1). Unknown fields are
 * skipped (nested unknown groups still count towards the depth). Returns null when fine, otherwise a
 * human-readable reason. Iterative, so arbitrarily deep input cannot overflow the call stack.
 */
export function checkWireStructure(schema: DescMessage, bytes: Uint8Array, maxDepth: number): string | null {
  if (!Number.isInteger(maxDepth) || maxDepth < 1) throw new RangeError('maxDepth must be an integer >= 1');
  const { ends, nodes, depths, groups } = scanStack;
  let sp = 0;
  ends[0] = bytes.length;
  nodes[0] = scanNodeFor(schema);
  depths[0] = 1;
  groups[0] = 0;
  let pos = 0;

  for (;;) {
    const end = ends[sp]!;
    if (pos === end) {
      if (groups[sp] !== 0) return `unterminated group (field ${groups[sp]})`;
      if (sp === 0) return null;
      sp--;
      continue;
    }

    // Tag: a varint of at most 5 bytes holding a 32-bit value (field number << 3 | wire type).
    let tag = 0;
    let mul = 1;
    let b: number;
    let n = 0;
    do {
      if (pos >= end) return 'truncated tag';
      if (n === 5) return 'tag varint too long';
      b = bytes[pos++]!;
      tag += (b & 0x7f) * mul;
      mul *= 128;
      n++;
    } while (b & 0x80);
    if (tag > 0xffffffff) return 'tag out of range';
    const wireType = tag % 8;
    const fieldNo = Math.floor(tag / 8);
    if (fieldNo === 0) return 'illegal field number 0';

    const rule = nodes[sp]?.fields.get(fieldNo);
    if (rule !== undefined && wireType !== WT_EGROUP && (rule.wireTypes & (1 << wireType)) === 0) {
      return `wrong wire type ${wireType} for field ${fieldNo}`;
    }

    switch (wireType) {
      case WT_VARINT: {
        let k = 0;
        do {
          if (pos >= end) return 'truncated varint';
          if (k === 10) return 'varint too long';
          b = bytes[pos++]!;
          k++;
        } while (b & 0x80);
        break;
      }
      case WT_I64:
        if (end - pos < 8) return 'truncated fixed64';
        pos += 8;
        break;
      case WT_I32:
        if (end - pos < 4) return 'truncated fixed32';
        pos += 4;
        break;
      case WT_LEN: {
        // Length prefix: uint32 varint (what protobuf readers accept), at most 5 bytes.
        let len = 0;
        mul = 1;
        n = 0;
        do {
          if (pos >= end) return 'truncated length prefix';
          if (n === 5) return 'length prefix too long';
          b = bytes[pos++]!;
          len += (b & 0x7f) * mul;
          mul *= 128;
          n++;
        } while (b & 0x80);
        if (len > end - pos) return `length-delimited field ${fieldNo} exceeds its enclosing message`;
        if (rule?.child) {
          const depth = depths[sp]! + (rule.countsAsLevel ? 1 : 0);
          if (depth > maxDepth) return `message nesting deeper than ${maxDepth}`;
          sp++;
          ends[sp] = pos + len;
          nodes[sp] = rule.child;
          depths[sp] = depth;
          groups[sp] = 0;
        } else {
          pos += len;
        }
        break;
      }
      case WT_SGROUP: {
        // Only reachable for unknown fields (proto3 has no groups; known fields were checked above).
        const depth = depths[sp]! + 1;
        if (depth > maxDepth) return `message nesting deeper than ${maxDepth}`;
        sp++;
        ends[sp] = end;
        nodes[sp] = null;
        depths[sp] = depth;
        groups[sp] = fieldNo;
        break;
      }
      case WT_EGROUP:
        if (groups[sp] !== fieldNo) return `unexpected end-group tag (field ${fieldNo})`;
        sp--;
        break;
      default:
        return `invalid wire type ${wireType}`;
    }
  }
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function decodeChecked<Desc extends DescMessage>(
  schema: Desc,
  bytes: Uint8Array,
  opts: DecodeOptions | undefined,
): DecodeResult<MessageShape<Desc>> {
  const maxDepth = opts?.maxDepth ?? DEFAULT_MAX_DEPTH;
  const structural = checkWireStructure(schema, bytes, maxDepth);
  if (structural !== null) return { ok: false, reason: `malformed ${schema.name}: ${structural}` };
  try {
    const message = fromBinary(schema, bytes, {
      readUnknownFields: opts?.keepUnknownFields ?? false,
      recursionLimit: maxDepth,
    });
    return { ok: true, message };
  } catch (e) {
    // e.g. invalid UTF-8 in a string field.
    return { ok: false, reason: `malformed ${schema.name}: ${errorText(e)}` };
  }
}

/**
 * Decodes an AgentToServer from untrusted bytes (the WS frame payload or the gunzipped HTTP body).
 * Never throws. Note: bytes fields of the result (instanceUid, hashes, bodies) are views into
 * `bytes`; copy them if the input buffer is reused.
 */
export function decodeAgentToServer(bytes: Uint8Array, opts?: DecodeOptions): DecodeResult<AgentToServer> {
  return decodeChecked(AgentToServerSchema, bytes, opts);
}

/** Decodes a ServerToAgent (used by tests and the agent simulator). Never throws. */
export function decodeServerToAgent(bytes: Uint8Array, opts?: DecodeOptions): DecodeResult<ServerToAgent> {
  return decodeChecked(ServerToAgentSchema, bytes, opts);
}

/** Serialises a ServerToAgent (without the WS header; see encodeWsFrame). */
export function encodeServerToAgent(msg: ServerToAgent): Uint8Array {
  return toBinary(ServerToAgentSchema, msg);
}

/** Serialises an AgentToServer (used by tests and the agent simulator). */
export function encodeAgentToServer(msg: AgentToServer): Uint8Array {
  return toBinary(AgentToServerSchema, msg);
}

/**
 * Checks AgentToServer.instance_uid: exactly 16 bytes and not the nil UUID. Returns the reason to
 * put into a BAD_REQUEST error_response, or null when the uid is acceptable. (Legacy 26-byte ULID
 * text uids from pre-v0.10 agents are deliberately not accepted.)
 */
export function validateInstanceUid(message: { instanceUid: Uint8Array }): string | null {
  const uid = message.instanceUid;
  if (uid.length !== UID_LENGTH) {
    return `instance_uid must be ${UID_LENGTH} bytes, got ${uid.length}`;
  }
  return isValidUid(uid) ? null : 'instance_uid must not be all zero';
}
