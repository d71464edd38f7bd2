import { describe, expect, it } from 'vitest';
import {
  agentDetailView,
  agentEventView,
  capabilitiesView,
  effectiveConfigView,
  type AgentRecord,
} from './agent.view.js';

const record: AgentRecord = {
  uid: '0192e3a4-5b6c-7d8e-9f01-23456789abcd',
  agentType: 'fluentbit',
  serviceName: 'fluent-bit',
  serviceVersion: '3.2.4',
  hostName: 'h',
  osType: 'linux',
  description: { identifying: { 'service.name': 'fluent-bit' }, nonIdentifying: { env: 'prod' } },
  capabilities: 0x401n,
  health: { healthy: false, lastError: 'boom' },
  healthy: false,
  effectiveConfig: {
    hash: 'aa',
    configMap: { 'b.yaml': { contentType: 'text/yaml', body: 'é' }, 'a.bin': { contentType: '', bodyBase64: 'AAE=' } },
  },
  remoteConfigStatus: { lastRemoteConfigHash: 'bb', status: 'APPLIED', errorMessage: '' },
  customCapabilities: null,
  labels: { team: 'obs' },
  connectionState: 'offline',
  transport: 'http',
  sequenceNum: -1n,
  firstSeenAt: new Date('2026-01-01T00:00:00Z'),
  lastSeenAt: new Date('2026-01-02T00:00:00Z'),
  disconnectedAt: null,
  replacedByUid: null,
  updatedAt: new Date('2026-01-02T00:00:00Z'),
};

describe('agent views', () => {
  it('renders 64-bit values as unsigned decimal strings and JSON-serialises without bigint', () => {
    const v = agentDetailView(record);
    expect(v.sequenceNum).toBe('18446744073709551615');
    expect(v.capabilities).toEqual({ value: '1025', hex: '0x401', names: ['ReportsStatus', 'AcceptsRestartCommand'] });
    expect(() => JSON.stringify(v)).not.toThrow();
    expect(v.customCapabilities).toEqual([]);
    expect(v.health).toEqual({ healthy: false, lastError: 'boom' });
  });

  it('lists effective config files sorted, with sizes and encodings', () => {
    expect(effectiveConfigView(record.effectiveConfig)).toEqual({
      hash: 'aa',
      files: [
        { name: 'a.bin', contentType: '', size: 2, encoding: 'base64', body: 'AAE=' },
        { name: 'b.yaml', contentType: 'text/yaml', size: 2, encoding: 'utf-8', body: 'é' },
      ],
    });
    expect(effectiveConfigView(null)).toBeNull();
  });

  it('reads unknown capability bits without failing', () => {
    expect(capabilitiesView(-(2n ** 63n)).names).toEqual([]);
    expect(capabilitiesView(-(2n ** 63n)).hex).toBe('0x8000000000000000');
  });

  it('renders events', () => {
    expect(agentEventView({ id: 12n, type: 'connected', at: new Date(0), data: null })).toEqual({
      id: '12',
      type: 'connected',
      at: '1970-01-01T00:00:00.000Z',
      data: {},
    });
  });
});
