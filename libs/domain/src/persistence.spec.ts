import { create, equals } from '@bufbuild/protobuf';
import {
  AgentCoreStateSchema,
  AgentDesiredStateSchema,
  AgentReportStateSchema,
  ComponentHealthSchema,
  ConnectionStatus,
  DesiredConfigSchema,
  Transport,
} from '@opamp/proto';
import { computeConfigHash } from '@opamp/protocol';
import { describe, expect, it } from 'vitest';
import {
  decodeHotState,
  effectiveConfigFromJson,
  effectiveConfigToJson,
  encodeCore,
  encodeDesired,
  encodeReport,
  stateFromAgentRow,
  toAgentRow,
  type StoredAgentRow,
} from './persistence.js';
import { CAPS, HTTP, UID, configMap, description, fullReport, hex, step } from './spec-helpers.js';
import { needsFullState } from './full-state.js';
import { a2s } from './spec-helpers.js';

const caps = CAPS.ReportsStatus | CAPS.ReportsHealth | CAPS.ReportsEffectiveConfig | CAPS.ReportsRemoteConfig;

describe('toAgentRow', () => {
  it('maps the state to the agents columns', () => {
    const s = step(
      undefined,
      fullReport(7n, caps, {
        agentDescription: description('fluent-bit', { 'service.version': '3.1.4' }),
        health: { healthy: false, lastError: 'boom', startTimeUnixNano: 2n ** 63n },
        remoteConfigStatus: { lastRemoteConfigHash: hex('abcd'), status: 3, errorMessage: 'bad' },
        customCapabilities: { capabilities: ['com.example.pause'] },
      }),
      { receivedAtMs: Date.UTC(2026, 0, 1) },
    ).next;
    const row = toAgentRow(s);
    expect(row).toMatchObject({
      uid: '0192e3a4-5b6c-7d8e-9f01-23456789abcd',
      agent_type: 'fluentbit',
      service_name: 'fluent-bit',
      service_version: '3.1.4',
      host_name: 'host-1',
      os_type: 'linux',
      capabilities: String(caps),
      healthy: false,
      custom_capabilities: ['com.example.pause'],
      connection_state: 'connected',
      transport: 'ws',
      sequence_num: '7',
      first_seen_at: '2026-01-01T00:00:00.000Z',
      last_seen_at: '2026-01-01T00:00:00.000Z',
      disconnected_at: null,
      replaced_by_uid: null,
      replaces_uid: null,
    });
    expect(row.description).toEqual({
      identifying: { 'service.name': 'fluent-bit', 'service.version': '3.1.4' },
      nonIdentifying: { 'host.name': 'host-1', 'os.type': 'linux' },
    });
    expect(row.health).toMatchObject({
      healthy: false,
      lastError: 'boom',
      startTimeUnixNano: String(2n ** 63n),
      status: '',
    });
    expect(row.remote_config_status).toEqual({ lastRemoteConfigHash: 'abcd', status: 'FAILED', errorMessage: 'bad' });
    expect(row.effective_config).toEqual({
      hash: Buffer.from(computeConfigHash(configMap({ 'c.yaml': 'a: 1' }))).toString('hex'),
      configMap: { 'c.yaml': { contentType: 'text/yaml', body: 'a: 1' } },
    });
    // JSON-serialisable (it travels through jsonb_to_recordset)
    expect(() => JSON.stringify(row)).not.toThrow();
  });

  it('stores uint64 values above 2^63 as two’s complement BIGINT and reads them back', () => {
    const s = step(undefined, fullReport(2n ** 64n - 1n, (1n << 63n) | 1n)).next;
    const row = toAgentRow(s);
    expect(row.sequence_num).toBe('-1');
    expect(row.capabilities).toBe(String(-(2n ** 63n) + 1n));
    const back = stateFromAgentRow({ ...row, custom_capabilities: row.custom_capabilities } as StoredAgentRow);
    expect(back.core.lastSeq).toBe(2n ** 64n - 1n);
    expect(back.report.capabilities).toBe((1n << 63n) | 1n);
  });

  it('binary config bodies go to bodyBase64', () => {
    const ec = create(ComponentHealthSchema); // unused, keeps import list honest
    void ec;
    const j = effectiveConfigToJson({
      $typeName: 'opamp.proto.v1.EffectiveConfig',
      configMap: {
        $typeName: 'opamp.proto.v1.AgentConfigMap',
        configMap: { bin: { $typeName: 'opamp.proto.v1.AgentConfigFile', body: hex('fffe00'), contentType: '' } },
      },
    });
    expect(j.configMap.bin).toEqual({ contentType: '', bodyBase64: '//4A' });
    expect(effectiveConfigFromJson(j).configMap!.configMap.bin!.body).toEqual(hex('fffe00'));
  });

  it('HTTP, disconnected and replaced states', () => {
    const s = step(undefined, fullReport(0n, CAPS.ReportsStatus), { arrival: HTTP }).next;
    const gone = {
      ...s,
      core: {
        ...s.core,
        status: ConnectionStatus.OFFLINE,
        disconnectedAtMs: Date.UTC(2026, 1, 1),
        replacedByUid: hex('0192e3a45b6c7d8e9f0123456789ffff'),
      },
    };
    const row = toAgentRow(gone);
    expect(row.transport).toBe('http');
    expect(row.connection_state).toBe('offline');
    expect(row.disconnected_at).toBe('2026-02-01T00:00:00.000Z');
    expect(row.replaced_by_uid).toBe('0192e3a4-5b6c-7d8e-9f01-23456789ffff');
  });
});

describe('enrollment token of an agent', () => {
  const TOKEN_A = '0192e3a4-0000-7000-8000-00000000000a';
  const TOKEN_B = '0192e3a4-0000-7000-8000-00000000000b';
  const withToken = (id: string) => ({ arrival: { ...HTTP, enrollmentTokenId: id } });

  it('is recorded from the first message that carries one, kept afterwards, and written to the row', () => {
    const first = step(undefined, fullReport(0n, CAPS.ReportsStatus), { arrival: HTTP });
    expect(toAgentRow(first.next).enrollment_token_id).toBeNull();
    const second = step(first.next, fullReport(1n, CAPS.ReportsStatus), withToken(TOKEN_A));
    expect(second.next.core.enrollmentTokenId).toBe(TOKEN_A);
    expect(second.primary.persist, 'the new token id must reach Postgres').toBe(true);
    const third = step(second.next, fullReport(2n, CAPS.ReportsStatus), withToken(TOKEN_B));
    expect(third.next.core.enrollmentTokenId).toBe(TOKEN_A);
    expect(toAgentRow(third.next).enrollment_token_id).toBe(TOKEN_A);
  });

  it('ignores a token id that is not a UUID (it would fail the batch upsert)', () => {
    const s = step(undefined, fullReport(0n, CAPS.ReportsStatus), withToken('not-a-uuid')).next;
    expect(toAgentRow(s).enrollment_token_id).toBeNull();
  });

  it('survives the round trip through Postgres', () => {
    const s = step(undefined, fullReport(0n, CAPS.ReportsStatus), withToken(TOKEN_A)).next;
    const row = toAgentRow(s);
    expect(stateFromAgentRow(row as StoredAgentRow).core.enrollmentTokenId).toBe(TOKEN_A);
  });
});

describe('stateFromAgentRow', () => {
  it('restores the Postgres columns; the next compressed message is a gap → ReportFullState', () => {
    const s = step(undefined, fullReport(3n, caps, { health: { healthy: true, status: 'ok' } })).next;
    const row = toAgentRow(s);
    const stored: StoredAgentRow = {
      ...row,
      first_seen_at: new Date(row.first_seen_at),
      last_seen_at: row.last_seen_at,
    };
    const back = stateFromAgentRow(stored);
    expect(back.uid).toEqual(UID);
    expect(back.report.capabilities).toBe(caps);
    expect(equals(ComponentHealthSchema, back.report.health!, s.report.health!)).toBe(true);
    expect(back.report.effectiveConfig?.configMap?.configMap['c.yaml']?.body).toEqual(new TextEncoder().encode('a: 1'));
    expect(back.report.description?.identifyingAttributes[0]?.key).toBe('service.name');
    expect(back.core.status).toBe(ConnectionStatus.CONNECTED);
    expect(back.core.transport).toBe(Transport.WEBSOCKET);
    expect(back.core.persisted).toBe(true);
    expect(back.core.link).toBeUndefined();
    expect(back.core.lastSeq).toBe(3n);
    // heartbeats did not write the row: the real last seq is ahead → gap on a compressed message
    expect(
      needsFullState({ known: true, lastSeq: back.core.lastSeq, msg: a2s({ sequenceNum: 9n }), stored: back.report }),
    ).toBe(true);
  });
});

describe('hot state codec', () => {
  it('round-trips core, report and desired', () => {
    const s0 = step(undefined, fullReport(5n, caps)).next;
    const map = configMap({ a: 'b' });
    const s = {
      ...s0,
      desired: {
        ...s0.desired,
        config: create(DesiredConfigSchema, { configHash: computeConfigHash(map), config: map }),
      },
    };
    const back = decodeHotState(UID, { core: encodeCore(s), report: encodeReport(s), desired: encodeDesired(s) })!;
    expect(equals(AgentCoreStateSchema, back.core, s.core)).toBe(true);
    expect(equals(AgentReportStateSchema, back.report, s.report)).toBe(true);
    expect(back.desired.config?.configHash).toEqual(s.desired.config!.configHash);
    expect(back.core.lastSeq).toBe(5n);
    expect(decodeHotState(UID, { core: null })).toBeUndefined();
    const coreOnly = decodeHotState(UID, { core: encodeCore(s) })!;
    expect(coreOnly.report.capabilities).toBe(0n);
  });

  it('keeps last_seq presence (0 is not unknown)', () => {
    const zero = create(AgentCoreStateSchema, { lastSeq: 0n, firstSeenMs: 1 });
    const unknown = create(AgentCoreStateSchema, { firstSeenMs: 1 });
    expect(
      decodeHotState(UID, {
        core: encodeCore({
          uid: UID,
          core: zero,
          report: create(AgentReportStateSchema),
          desired: create(AgentDesiredStateSchema),
        }),
      })!.core.lastSeq,
    ).toBe(0n);
    expect(
      decodeHotState(UID, {
        core: encodeCore({
          uid: UID,
          core: unknown,
          report: create(AgentReportStateSchema),
          desired: create(AgentDesiredStateSchema),
        }),
      })!.core.lastSeq,
    ).toBeUndefined();
  });
});
