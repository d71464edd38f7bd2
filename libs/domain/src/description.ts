// Reading AgentDescription attributes and converting AnyValue to/from plain JSON.
import { create, equals } from '@bufbuild/protobuf';
import {
  AgentDescriptionSchema,
  AnyValueSchema,
  KeyValueSchema,
  type AgentDescription,
  type AnyValue,
  type KeyValue,
} from '@opamp/proto';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** Bytes values are written as {"$bytes": "<base64>"} so they survive a JSON round trip. */
const BYTES_KEY = '$bytes';

/**
 * AnyValue → JSON: strings, bools and doubles as themselves; int64 as a number when it is a
 * safe integer, else as a decimal string; arrays and kvlists as arrays and objects; bytes as
 * {"$bytes": base64}; an unset value as null.
 */
export function anyValueToJson(v: AnyValue | undefined): JsonValue {
  const value = v?.value;
  switch (value?.case) {
    case 'stringValue':
    case 'boolValue':
      return value.value;
    case 'doubleValue':
      return Number.isFinite(value.value) ? value.value : String(value.value);
    case 'intValue': {
      const n = Number(value.value);
      return Number.isSafeInteger(n) ? n : value.value.toString();
    }
    case 'arrayValue':
      return value.value.values.map((x) => anyValueToJson(x));
    case 'kvlistValue':
      return keyValuesToJson(value.value.values);
    case 'bytesValue':
      return { [BYTES_KEY]: Buffer.from(value.value).toString('base64') };
    default:
      return null;
  }
}

export function keyValuesToJson(kvs: readonly KeyValue[]): { [key: string]: JsonValue } {
  const out: { [key: string]: JsonValue } = {};
  for (const kv of kvs) out[kv.key] = anyValueToJson(kv.value);
  return out;
}

/** JSON → AnyValue (inverse of anyValueToJson, except that integral doubles come back as ints). */
export function jsonToAnyValue(j: JsonValue): AnyValue {
  if (j === null) return create(AnyValueSchema);
  if (typeof j === 'string') return create(AnyValueSchema, { value: { case: 'stringValue', value: j } });
  if (typeof j === 'boolean') return create(AnyValueSchema, { value: { case: 'boolValue', value: j } });
  if (typeof j === 'number') {
    return Number.isInteger(j)
      ? create(AnyValueSchema, { value: { case: 'intValue', value: BigInt(j) } })
      : create(AnyValueSchema, { value: { case: 'doubleValue', value: j } });
  }
  if (Array.isArray(j)) {
    return create(AnyValueSchema, { value: { case: 'arrayValue', value: { values: j.map(jsonToAnyValue) } } });
  }
  const keys = Object.keys(j);
  if (keys.length === 1 && keys[0] === BYTES_KEY && typeof j[BYTES_KEY] === 'string') {
    return create(AnyValueSchema, {
      value: { case: 'bytesValue', value: Uint8Array.from(Buffer.from(j[BYTES_KEY], 'base64')) },
    });
  }
  return create(AnyValueSchema, { value: { case: 'kvlistValue', value: { values: jsonToKeyValues(j) } } });
}

export function jsonToKeyValues(obj: { [key: string]: JsonValue }): KeyValue[] {
  return Object.entries(obj).map(([key, value]) => create(KeyValueSchema, { key, value: jsonToAnyValue(value) }));
}

export interface DescriptionJson {
  identifying: { [key: string]: JsonValue };
  nonIdentifying: { [key: string]: JsonValue };
}

/** The `agents.description` column: { identifying: {k: v}, nonIdentifying: {k: v} }. */
export function descriptionToJson(d: AgentDescription): DescriptionJson {
  return {
    identifying: keyValuesToJson(d.identifyingAttributes),
    nonIdentifying: keyValuesToJson(d.nonIdentifyingAttributes),
  };
}

export function descriptionFromJson(j: DescriptionJson): AgentDescription {
  return create(AgentDescriptionSchema, {
    identifyingAttributes: jsonToKeyValues(j.identifying ?? {}),
    nonIdentifyingAttributes: jsonToKeyValues(j.nonIdentifying ?? {}),
  });
}

function findAttr(kvs: readonly KeyValue[], key: string): AnyValue | undefined {
  for (const kv of kvs) if (kv.key === key) return kv.value;
  return undefined;
}

/** A string view of an attribute (identifying first, then non-identifying); undefined if absent. */
export function attributeString(d: AgentDescription | undefined, key: string): string | undefined {
  if (!d) return undefined;
  const v = findAttr(d.identifyingAttributes, key) ?? findAttr(d.nonIdentifyingAttributes, key);
  if (v === undefined || v.value.case === undefined) return undefined;
  const j = anyValueToJson(v);
  return typeof j === 'string' ? j : JSON.stringify(j);
}

/**
 * True when both descriptions carry identifying attributes and they differ as a set (order of
 * the list does not matter; a repeated key counts by its last value). Used by the duplicate-uid
 * policy: same uid + different identity on a second live connection = a clone.
 */
export function identifyingAttributesDiffer(a: AgentDescription | undefined, b: AgentDescription | undefined): boolean {
  if (!a || !b) return false;
  const ma = new Map(a.identifyingAttributes.map((kv) => [kv.key, kv.value]));
  const mb = new Map(b.identifyingAttributes.map((kv) => [kv.key, kv.value]));
  if (ma.size !== mb.size) return true;
  for (const [k, va] of ma) {
    if (!mb.has(k)) return true;
    const vb = mb.get(k);
    if (va === undefined || vb === undefined) {
      if (va !== vb) return true;
      continue;
    }
    if (!equals(AnyValueSchema, va, vb)) return true;
  }
  return false;
}

export type AgentType = 'fluentbit' | 'fluentd' | 'otelcol' | 'generic';

/** Attributes that name the agent software, most specific first. */
const TYPE_ATTRIBUTES = ['service.name', 'agent.type', 'agent.name', 'process.executable.name', 'service.namespace'];

const TYPE_PATTERNS: ReadonlyArray<[AgentType, RegExp]> = [
  ['fluentbit', /fluent[-_ .]?bit|\bflb\b/i],
  ['fluentd', /fluentd|td[-_]agent/i],
  ['otelcol', /otel[-_ .]?col|opentelemetry[-_ .]?collector|otel[-_ .]?collector|opamp[-_]?supervisor/i],
];

/** fluentbit | fluentd | otelcol | generic, from service.name and similar attributes. */
export function agentTypeOf(d: AgentDescription | undefined): AgentType {
  for (const key of TYPE_ATTRIBUTES) {
    const value = attributeString(d, key);
    if (!value) continue;
    for (const [type, re] of TYPE_PATTERNS) if (re.test(value)) return type;
  }
  return 'generic';
}
