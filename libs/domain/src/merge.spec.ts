import { create, equals } from '@bufbuild/protobuf';
import { AgentReportStateSchema, EffectiveConfigSchema } from '@opamp/proto';
import { decodeAgentToServer } from '@opamp/protocol';
import { describe, expect, it } from 'vitest';
import { mergeAgentToServer } from './merge.js';
import { a2s, description, hex } from './spec-helpers.js';

const E1 = {
  configMap: { configMap: { 'a.yaml': { body: new TextEncoder().encode('e: 1'), contentType: 'text/yaml' } } },
};

describe('mergeAgentToServer (§3.4 status compression)', () => {
  it('case 35: absent parts keep, present parts replace, empty-but-present replaces', () => {
    const empty = create(AgentReportStateSchema);
    const m0 = mergeAgentToServer(
      empty,
      a2s({ sequenceNum: 0n, capabilities: 0x5n, agentDescription: description('d1'), effectiveConfig: E1 }),
    );
    expect(m0.changes.sort()).toEqual(['capabilities', 'description', 'effectiveConfig']);

    const m1 = mergeAgentToServer(m0.report, a2s({ sequenceNum: 1n, health: { healthy: false, lastError: 'boom' } }));
    expect(m1.changes).toEqual(['health']);
    expect(equals(EffectiveConfigSchema, m1.report.effectiveConfig!, create(EffectiveConfigSchema, E1))).toBe(true);
    expect(m1.report.description).toBe(m0.report.description);
    expect(m1.report.health?.lastError).toBe('boom');

    const m2 = mergeAgentToServer(m1.report, a2s({ sequenceNum: 2n, effectiveConfig: {} }));
    expect(m2.changes).toEqual(['effectiveConfig']);
    expect(m2.report.effectiveConfig).toBeDefined();
    expect(m2.report.effectiveConfig?.configMap).toBeUndefined();
  });

  it('case 36: capabilities 0 never overwrite the stored ones', () => {
    const r = mergeAgentToServer(create(AgentReportStateSchema, { capabilities: 0x1003n }), a2s({ sequenceNum: 9n }));
    expect(r.report.capabilities).toBe(0x1003n);
    expect(r.changes).toEqual([]);
  });

  it('reports a capability change and keeps unknown high bits (bigint)', () => {
    const caps = (1n << 40n) | 0x1n;
    const r = mergeAgentToServer(create(AgentReportStateSchema, { capabilities: 0x1n }), a2s({ capabilities: caps }));
    expect(r.report.capabilities).toBe(caps);
    expect(r.changes).toEqual(['capabilities']);
  });

  it('a present part equal to the stored one is not a change', () => {
    const first = mergeAgentToServer(
      create(AgentReportStateSchema),
      a2s({ agentDescription: description('x'), health: { healthy: true } }),
    );
    const again = mergeAgentToServer(
      first.report,
      a2s({ agentDescription: description('x'), health: { healthy: true } }),
    );
    expect(again.changes).toEqual([]);
    const changed = mergeAgentToServer(first.report, a2s({ agentDescription: description('y') }));
    expect(changed.changes).toEqual(['description']);
  });

  it('replaces sub-messages wholesale (no field-level diff inside a part)', () => {
    const first = mergeAgentToServer(
      create(AgentReportStateSchema),
      a2s({ health: { healthy: true, status: 'ok', lastError: '' } }),
    );
    const second = mergeAgentToServer(first.report, a2s({ health: { healthy: false } }));
    expect(second.report.health?.status).toBe('');
    expect(second.report.health?.healthy).toBe(false);
  });

  it('merges every status part', () => {
    const r = mergeAgentToServer(
      create(AgentReportStateSchema),
      a2s({
        remoteConfigStatus: { lastRemoteConfigHash: hex('01') },
        packageStatuses: {},
        customCapabilities: { capabilities: ['com.example.x'] },
        availableComponents: { hash: hex('ab') },
        connectionSettingsStatus: { lastConnectionSettingsHash: hex('02') },
      }),
    );
    expect(r.changes.sort()).toEqual([
      'availableComponents',
      'connectionSettingsStatus',
      'customCapabilities',
      'packageStatuses',
      'remoteConfigStatus',
    ]);
  });

  it('a hash-only AvailableComponents with the stored hash keeps the stored components map', () => {
    const full = mergeAgentToServer(
      create(AgentReportStateSchema),
      a2s({ availableComponents: { hash: hex('ab'), components: { receivers: { metadata: [] } } } }),
    );
    const hashOnly = mergeAgentToServer(full.report, a2s({ availableComponents: { hash: hex('ab') } }));
    expect(hashOnly.changes).toEqual([]);
    expect(Object.keys(hashOnly.report.availableComponents!.components)).toEqual(['receivers']);
    const newHash = mergeAgentToServer(full.report, a2s({ availableComponents: { hash: hex('cd') } }));
    expect(newHash.changes).toEqual(['availableComponents']);
    expect(newHash.report.availableComponents!.components).toEqual({});
  });

  it('case 50: empty sub-messages on the wire (72 00) count as present', () => {
    const r = decodeAgentToServer(hex('0a10 0192e3a45b6c7d8e9f0123456789abcd 4a00 7200'));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const m = mergeAgentToServer(create(AgentReportStateSchema), r.message);
    expect(m.changes).toEqual(['availableComponents']);
    expect(m.report.availableComponents).toBeDefined();
  });

  it('never mutates its inputs', () => {
    const report = create(AgentReportStateSchema, { capabilities: 1n });
    const msg = a2s({ capabilities: 3n, health: { healthy: true } });
    const snapshot = structuredClone(report);
    mergeAgentToServer(report, msg);
    expect(report).toEqual(snapshot);
  });
});
