import { describe, expect, it } from 'vitest';
import { AgentCapability } from '@opamp/protocol';
import { UsageError, normaliseUrl, parseCapabilities, parseSimulatorArgs, type SimulatorConfig } from './cli.js';
import { DEFAULT_AGENT_CAPABILITIES } from './simulated-agent.js';

const parse = (...argv: string[]): SimulatorConfig => {
  const c = parseSimulatorArgs(argv);
  if (c === 'help') throw new Error('unexpected help');
  return c;
};

describe('parseSimulatorArgs', () => {
  it('has sensible defaults', () => {
    expect(parse()).toMatchObject({
      agents: 1,
      transport: 'ws',
      url: 'ws://127.0.0.1:4320/v1/opamp',
      heartbeatSeconds: 30,
      capabilities: DEFAULT_AGENT_CAPABILITIES,
      serviceName: 'fluent-bit',
      labels: {},
      failConfigPercent: 0,
      durationSeconds: 0,
      rampPerSecond: 200,
      token: undefined,
    });
    expect(parse('--transport', 'http').url).toBe('http://127.0.0.1:4320/v1/opamp');
  });

  it('parses every documented flag', () => {
    const c = parse(
      '--agents',
      '500',
      '--transport',
      'http',
      '--url',
      'ws://gw:4320/v1/opamp',
      '--heartbeat',
      '10',
      '--capabilities',
      'ReportsStatus,AcceptsRemoteConfig',
      '--service-name',
      'fluentd',
      '--label',
      'env=prod',
      '--label',
      'team=obs',
      '--fail-config-percent',
      '10',
      '--duration',
      '60',
      '--ramp-per-second',
      '50',
      '--token',
      'abc',
      '--gzip',
      '--apply-delay-ms',
      '0',
      '--restart-delay-ms',
      '10',
      '--full-state-on-reconnect',
    );
    expect(c).toMatchObject({
      agents: 500,
      transport: 'http',
      url: 'http://gw:4320/v1/opamp',
      heartbeatSeconds: 10,
      capabilities: AgentCapability.ReportsStatus | AgentCapability.AcceptsRemoteConfig,
      serviceName: 'fluentd',
      labels: { env: 'prod', team: 'obs' },
      failConfigPercent: 10,
      durationSeconds: 60,
      rampPerSecond: 50,
      token: 'abc',
      gzip: true,
      applyDelayMs: 0,
      restartDelayMs: 10,
      fullStateOnReconnect: true,
    });
  });

  it('parses the custom command flags', () => {
    expect(parse()).toMatchObject({ commandReplies: false, failCommandTypes: [], ignoreCommandTypes: [] });
    expect(parse().customCapabilities).toBeUndefined();
    const c = parse(
      '--custom-capability',
      'com.example.fluentbit',
      '--custom-capability',
      'io.opampcp.simulator.echo',
      '--command-replies',
      '--fail-command-type',
      'pause',
      '--ignore-command-type',
      'slow',
    );
    expect(c).toMatchObject({
      customCapabilities: ['com.example.fluentbit', 'io.opampcp.simulator.echo'],
      commandReplies: true,
      failCommandTypes: ['pause'],
      ignoreCommandTypes: ['slow'],
    });
  });

  it('takes several --url as failover endpoints, normalised to the transport', () => {
    const c = parse('--transport', 'http', '--url', 'ws://gw-a:4320/v1/opamp', '--url', 'wss://gw-b/v1/opamp');
    expect(c.url).toBe('http://gw-a:4320/v1/opamp');
    expect(c.failoverUrls).toEqual(['https://gw-b/v1/opamp']);
    expect(parse().failoverUrls).toEqual([]);
  });

  it('always adds ReportsStatus', () => {
    expect(parse('--capabilities', '0x2').capabilities).toBe(3n);
  });

  it.each([
    [['--agents', '0'], /--agents must be >= 1/],
    [['--agents', '1.5'], /--agents must be an integer/],
    [['--agents', 'many'], /--agents must be a number/],
    [['--transport', 'grpc'], /--transport must be ws or http/],
    [['--url', 'tcp://x'], /--url must use ws, wss, http or https/],
    [['--url', 'nope'], /not a valid URL/],
    [['--fail-config-percent', '101'], /<= 100/],
    [['--label', 'novalue'], /KEY=VALUE/],
    [['--capabilities', 'Bogus'], /unknown capability "Bogus"/],
    [['--whatever'], /Unknown option/],
    [['--custom-capability', 'not a name'], /reverse-FQDN/],
    [['--fail-command-type', 'x'], /need --command-replies/],
  ])('rejects %j', (argv, message) => {
    expect(() => parseSimulatorArgs(argv)).toThrow(UsageError);
    expect(() => parseSimulatorArgs(argv)).toThrow(message);
  });

  it('returns help', () => {
    expect(parseSimulatorArgs(['--help'])).toBe('help');
    expect(parseSimulatorArgs(['-h'])).toBe('help');
  });
});

describe('parseCapabilities', () => {
  it('accepts hex, decimal and names', () => {
    expect(parseCapabilities('0x3D07')).toBe(0x3d07n);
    expect(parseCapabilities('1025')).toBe(1025n);
    expect(parseCapabilities('reportsstatus, AgentCapabilities_AcceptsRestartCommand|ReportsHealth')).toBe(
      0x1n | 0x400n | 0x800n,
    );
  });
});

describe('normaliseUrl', () => {
  it('matches the scheme to the transport', () => {
    expect(normaliseUrl('ws://h:1/v1/opamp', 'http')).toBe('http://h:1/v1/opamp');
    expect(normaliseUrl('https://h/v1/opamp', 'ws')).toBe('wss://h/v1/opamp');
    expect(normaliseUrl('wss://h/v1/opamp', 'ws')).toBe('wss://h/v1/opamp');
  });
});
