import { describe, expect, it } from 'vitest';
import { configFitsAgentType, OFFLINE_AT_SEND, skipReasonAtSend, type AgentAtSend } from './targeting.js';

/** ReportsStatus | AcceptsRemoteConfig | ReportsRemoteConfig. */
const CAPS = 0x1n | 0x2n | 0x1000n;

const agent = (a: Partial<AgentAtSend> = {}): AgentAtSend => ({
  agentType: 'fluentbit',
  capabilities: CAPS,
  connectionState: 'connected',
  quarantined: false,
  ...a,
});

describe('configFitsAgentType', () => {
  it('sends a typed config only to agents of its type, a generic one to every agent', () => {
    const types = ['fluentbit', 'fluentd', 'otelcol', 'generic'];
    for (const config of ['fluentbit', 'fluentd', 'otelcol']) {
      expect(types.filter((t) => configFitsAgentType(config, t))).toEqual([config]);
    }
    expect(types.filter((t) => configFitsAgentType('generic', t))).toEqual(types);
  });
});

describe('skipReasonAtSend', () => {
  it('sends to a connected agent of the type that accepts remote config and is not quarantined', () => {
    expect(skipReasonAtSend(agent(), 'fluentbit')).toBeUndefined();
    expect(skipReasonAtSend(agent({ agentType: 'otelcol' }), 'generic')).toBeUndefined();
  });

  it('skips an agent that is not connected as offline at send', () => {
    expect(skipReasonAtSend(agent({ connectionState: 'offline' }), 'fluentbit')).toBe(OFFLINE_AT_SEND);
    expect(skipReasonAtSend(agent({ connectionState: 'disconnected' }), 'fluentbit')).toBe('offline at send');
  });

  it('names the first reason, in order: forgotten, type, capability, quarantine, connection', () => {
    const everything = agent({
      agentType: 'otelcol',
      capabilities: 0x1n,
      quarantined: true,
      connectionState: 'offline',
    });
    expect(skipReasonAtSend(null, 'fluentbit')).toBe('agent forgotten');
    expect(skipReasonAtSend(everything, 'fluentbit')).toBe(
      'the agent is a otelcol agent, the config is for fluentbit agents',
    );
    expect(skipReasonAtSend(everything, 'otelcol')).toBe('the agent no longer accepts remote config');
    expect(skipReasonAtSend({ ...everything, capabilities: CAPS }, 'otelcol')).toBe(
      'the agent reported FAILED for this hash before (quarantined)',
    );
    expect(skipReasonAtSend({ ...everything, capabilities: CAPS, quarantined: false }, 'otelcol')).toBe(
      OFFLINE_AT_SEND,
    );
  });

  it('reads AcceptsRemoteConfig from the full 64-bit capability field', () => {
    expect(skipReasonAtSend(agent({ capabilities: (1n << 40n) | 0x2n }), 'fluentbit')).toBeUndefined();
    expect(skipReasonAtSend(agent({ capabilities: 1n << 40n }), 'fluentbit')).toBe(
      'the agent no longer accepts remote config',
    );
  });
});
