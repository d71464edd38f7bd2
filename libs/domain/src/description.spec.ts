import { create, equals } from '@bufbuild/protobuf';
import { AgentDescriptionSchema, AnyValueSchema } from '@opamp/proto';
import { describe, expect, it } from 'vitest';
import {
  agentTypeOf,
  anyValueToJson,
  attributeString,
  descriptionFromJson,
  descriptionToJson,
  identifyingAttributesDiffer,
  jsonToAnyValue,
} from './description.js';

const kv = (key: string, value: string | number | boolean) => ({
  key,
  value:
    typeof value === 'string'
      ? { value: { case: 'stringValue' as const, value } }
      : typeof value === 'boolean'
        ? { value: { case: 'boolValue' as const, value } }
        : { value: { case: 'intValue' as const, value: BigInt(value) } },
});

const desc = (identifying: Record<string, string | number | boolean>, nonIdentifying: Record<string, string> = {}) =>
  create(AgentDescriptionSchema, {
    identifyingAttributes: Object.entries(identifying).map(([k, v]) => kv(k, v)),
    nonIdentifyingAttributes: Object.entries(nonIdentifying).map(([k, v]) => kv(k, v)),
  });

describe('agentTypeOf', () => {
  it.each([
    ['fluent-bit', 'fluentbit'],
    ['Fluent Bit', 'fluentbit'],
    ['fluentbit', 'fluentbit'],
    ['fluentd', 'fluentd'],
    ['td-agent', 'fluentd'],
    ['otelcol-contrib', 'otelcol'],
    ['io.opentelemetry.collector', 'otelcol'],
    ['opentelemetry-collector', 'otelcol'],
    ['otelcol', 'otelcol'],
    ['my-service', 'generic'],
  ])('service.name %s → %s', (name, type) => {
    expect(agentTypeOf(desc({ 'service.name': name }))).toBe(type);
  });

  it('falls back to other attributes and to generic', () => {
    expect(agentTypeOf(desc({ 'service.name': 'edge' }, { 'process.executable.name': 'fluent-bit' }))).toBe(
      'fluentbit',
    );
    expect(agentTypeOf(desc({}, { 'agent.type': 'fluentd' }))).toBe('fluentd');
    expect(agentTypeOf(undefined)).toBe('generic');
    expect(agentTypeOf(desc({}))).toBe('generic');
  });
});

describe('identifyingAttributesDiffer', () => {
  it('compares as a set of key/value pairs', () => {
    const a = desc({ 'service.name': 'x', 'service.instance.id': 'i1' });
    expect(identifyingAttributesDiffer(a, desc({ 'service.instance.id': 'i1', 'service.name': 'x' }))).toBe(false);
    expect(identifyingAttributesDiffer(a, desc({ 'service.name': 'x', 'service.instance.id': 'i2' }))).toBe(true);
    expect(identifyingAttributesDiffer(a, desc({ 'service.name': 'x' }))).toBe(true);
    expect(
      identifyingAttributesDiffer(
        a,
        desc({ 'service.name': 'x', 'service.instance.id': 'i1' }, { 'host.name': 'other' }),
      ),
    ).toBe(false);
  });
  it('needs both descriptions (no description = not a clone)', () => {
    expect(identifyingAttributesDiffer(undefined, desc({ a: 'b' }))).toBe(false);
    expect(identifyingAttributesDiffer(desc({ a: 'b' }), undefined)).toBe(false);
  });
  it('distinguishes value types', () => {
    expect(identifyingAttributesDiffer(desc({ n: 1 }), desc({ n: '1' }))).toBe(true);
  });
});

describe('AnyValue ⇄ JSON and the description column', () => {
  it('round-trips every value kind', () => {
    const v = create(AnyValueSchema, {
      value: {
        case: 'kvlistValue',
        value: {
          values: [
            kv('s', 'str'),
            kv('b', true),
            kv('i', 42),
            { key: 'd', value: { value: { case: 'doubleValue', value: 1.5 } } },
            {
              key: 'a',
              value: {
                value: { case: 'arrayValue', value: { values: [{ value: { case: 'stringValue', value: 'x' } }] } },
              },
            },
            { key: 'y', value: { value: { case: 'bytesValue', value: new Uint8Array([1, 2]) } } },
            { key: 'n', value: {} },
          ],
        },
      },
    });
    const j = anyValueToJson(v);
    expect(j).toEqual({ s: 'str', b: true, i: 42, d: 1.5, a: ['x'], y: { $bytes: 'AQI=' }, n: null });
    expect(equals(AnyValueSchema, jsonToAnyValue(j), v)).toBe(true);
  });

  it('int64 beyond 2^53 becomes a decimal string', () => {
    expect(anyValueToJson(create(AnyValueSchema, { value: { case: 'intValue', value: 2n ** 60n } }))).toBe(
      '1152921504606846976',
    );
  });

  it('description ⇄ { identifying, nonIdentifying }', () => {
    const d = desc(
      { 'service.name': 'fluent-bit', 'service.version': '3.1' },
      { 'host.name': 'h1', 'os.type': 'linux' },
    );
    const j = descriptionToJson(d);
    expect(j).toEqual({
      identifying: { 'service.name': 'fluent-bit', 'service.version': '3.1' },
      nonIdentifying: { 'host.name': 'h1', 'os.type': 'linux' },
    });
    expect(equals(AgentDescriptionSchema, descriptionFromJson(j), d)).toBe(true);
    expect(attributeString(d, 'host.name')).toBe('h1');
    expect(attributeString(d, 'missing')).toBeUndefined();
  });
});
