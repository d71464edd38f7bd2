import { afterEach, describe, expect, it } from 'vitest';
import {
  CommandType,
  RemoteConfigStatuses,
  ServerErrorResponseType,
  type AgentToServer,
  type KeyValue,
} from '@opamp/proto';
import { AgentCapability, ServerToAgentFlag, uidToString, uuidv7 } from '@opamp/protocol';
import {
  DEFAULT_AGENT_CAPABILITIES,
  ECHO_CAPABILITY,
  SimulatedAgent,
  shouldFailConfig,
  type SimulatedAgentOptions,
} from './simulated-agent.js';
import { FakeTransport, fakeTransportFactory } from './testing/fake-transport.js';
import { TransportError } from './transport.js';

const agents: SimulatedAgent[] = [];

afterEach(async () => {
  await Promise.all(agents.splice(0).map((a) => a.stop()));
});

function make(
  kind: 'ws' | 'http',
  opts: Partial<SimulatedAgentOptions> = {},
): { agent: SimulatedAgent; t: () => FakeTransport } {
  const fake = fakeTransportFactory(kind);
  const agent = new SimulatedAgent({
    url: kind === 'ws' ? 'ws://test/v1/opamp' : 'http://test/v1/opamp',
    transport: kind,
    heartbeatSeconds: 30,
    applyDelayMs: 5,
    restartDelayMs: 5,
    backoff: { initialMs: 5, maxMs: 20, immediateJitterMs: 0 },
    transportFactory: fake.factory,
    ...opts,
  });
  agents.push(agent);
  return { agent, t: fake.get };
}

async function until(cond: () => boolean, what = 'condition', timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

const attrs = (list: KeyValue[] | undefined): Record<string, unknown> =>
  Object.fromEntries((list ?? []).map((kv) => [kv.key, kv.value?.value.value]));

const isFull = (m: AgentToServer): boolean =>
  m.agentDescription !== undefined &&
  m.health !== undefined &&
  m.effectiveConfig !== undefined &&
  m.remoteConfigStatus !== undefined;

const ack = (m: AgentToServer) => ({ instanceUid: m.instanceUid, capabilities: 0x27n });

describe('SimulatedAgent: status reporting', () => {
  it('starts with a full status report at seq 0 with a UUIDv7 uid', async () => {
    const { agent, t } = make('ws', {
      labels: { env: 'prod', team: 'obs' },
      serviceName: 'fluent-bit',
      hostName: 'node-1',
    });
    await agent.start();
    await until(() => t().sent.length === 1, 'first message');
    const first = t().sent[0]!;
    expect(first.sequenceNum).toBe(0n);
    expect(first.instanceUid).toHaveLength(16);
    expect(first.instanceUid[6]! >> 4).toBe(7); // version 7
    expect(first.instanceUid[8]! >> 6).toBe(0b10); // RFC 9562 variant
    expect(first.capabilities).toBe(DEFAULT_AGENT_CAPABILITIES);
    expect(isFull(first)).toBe(true);
    expect(attrs(first.agentDescription?.identifyingAttributes)).toMatchObject({
      'service.name': 'fluent-bit',
      'service.instance.id': agent.uid,
      'service.version': expect.any(String),
    });
    expect(attrs(first.agentDescription?.nonIdentifyingAttributes)).toEqual({
      'host.name': 'node-1',
      'os.type': 'linux',
      env: 'prod',
      team: 'obs',
    });
    expect(first.health?.healthy).toBe(true);
    expect(first.health?.startTimeUnixNano).toBeGreaterThan(0n);
    expect(Object.keys(first.effectiveConfig?.configMap?.configMap ?? {})).toEqual(['fluent-bit.yaml']);
    expect(first.remoteConfigStatus?.status).toBe(RemoteConfigStatuses.RemoteConfigStatuses_UNSET);
    expect(first.customCapabilities?.capabilities).toEqual([ECHO_CAPABILITY]);
    expect(first.agentDisconnect).toBeUndefined();
  });

  it('always sets ReportsStatus and omits fields whose capability is missing', async () => {
    const { agent, t } = make('ws', { capabilities: AgentCapability.AcceptsRemoteConfig, customCapabilities: [] });
    await agent.start();
    await until(() => t().sent.length === 1);
    const first = t().sent[0]!;
    expect(first.capabilities).toBe(AgentCapability.ReportsStatus | AgentCapability.AcceptsRemoteConfig);
    expect(first.agentDescription).toBeDefined();
    expect(first.health).toBeUndefined();
    expect(first.effectiveConfig).toBeUndefined();
    expect(first.remoteConfigStatus).toBeUndefined();
    expect(first.customCapabilities).toBeUndefined();
  });

  it('increments seq by 1 for every message, heartbeats included, and heartbeats are minimal', async () => {
    const { agent, t } = make('ws', { heartbeatSeconds: 0.01 });
    await agent.start();
    await until(() => t().sent.length >= 5, 'five messages');
    const seqs = t()
      .sent.slice(0, 5)
      .map((m) => m.sequenceNum);
    expect(seqs).toEqual([0n, 1n, 2n, 3n, 4n]);
    for (const hb of t().sent.slice(1, 5)) {
      expect(hb.instanceUid).toEqual(t().sent[0]!.instanceUid);
      expect(hb.capabilities).toBe(DEFAULT_AGENT_CAPABILITIES);
      expect(hb.agentDescription).toBeUndefined();
      expect(hb.health).toBeUndefined();
      expect(hb.effectiveConfig).toBeUndefined();
      expect(hb.remoteConfigStatus).toBeUndefined();
    }
  });

  it('answers ReportFullState with a full report', async () => {
    const { agent, t } = make('ws');
    await agent.start();
    await until(() => t().sent.length === 1);
    t().push({ ...ack(t().sent[0]!), flags: ServerToAgentFlag.ReportFullState });
    await until(() => t().sent.length === 2, 'full report');
    expect(t().sent[1]!.sequenceNum).toBe(1n);
    expect(isFull(t().sent[1]!)).toBe(true);
    expect(agent.stats.fullStateRequests).toBe(1);
    // A plain ack asks for nothing.
    t().push(ack(t().sent[1]!));
    await new Promise((r) => setTimeout(r, 20));
    expect(t().sent).toHaveLength(2);
  });

  it('reports health changes', async () => {
    const { agent, t } = make('ws');
    await agent.start();
    await until(() => t().sent.length === 1);
    agent.setHealth(false, 'output forward: connection refused');
    await until(() => t().sent.length === 2);
    expect(t().sent[1]!.health).toMatchObject({ healthy: false, lastError: 'output forward: connection refused' });
    expect(t().sent[1]!.agentDescription).toBeUndefined();
  });

  it('ignores replies addressed to another instance_uid', async () => {
    const { agent, t } = make('ws');
    await agent.start();
    await until(() => t().sent.length === 1);
    t().push({ instanceUid: uuidv7(), flags: ServerToAgentFlag.ReportFullState });
    await until(() => agent.stats.errors === 1);
    expect(agent.stats.fullStateRequests).toBe(0);
  });

  it('counts undecodable replies as errors', async () => {
    const { agent, t } = make('ws');
    await agent.start();
    await until(() => t().sent.length === 1);
    t().pushRaw(Uint8Array.of(0x0a, 0x10, 0x01));
    await until(() => agent.stats.errors === 1);
    expect(agent.stats.repliesReceived).toBe(0);
  });
});

describe('SimulatedAgent: instance uid', () => {
  it('switches to agent_identification.new_instance_uid and keeps the sequence', async () => {
    const { agent, t } = make('ws');
    await agent.start();
    await until(() => t().sent.length === 1);
    const oldUid = agent.uid;
    const newUid = uuidv7();
    const changed = agent.waitFor('uidChanged');
    t().push({ ...ack(t().sent[0]!), agentIdentification: { newInstanceUid: newUid } });
    expect(await changed).toEqual([uidToString(newUid), oldUid]);
    await until(() => t().sent.length === 2, 'message with the new uid');
    expect(t().sent[1]!.instanceUid).toEqual(newUid);
    expect(t().sent[1]!.sequenceNum).toBe(1n);
    expect(agent.uid).toBe(uidToString(newUid));
    // The reply to the message still carrying the old uid is accepted.
    t().push({ instanceUid: t().sent[0]!.instanceUid, flags: ServerToAgentFlag.ReportFullState });
    await until(() => t().sent.length === 3);
    expect(t().sent[2]!.instanceUid).toEqual(newUid);
    expect(isFull(t().sent[2]!)).toBe(true);
  });

  it('rejects a new uid that is not 16 bytes or is nil', async () => {
    const { agent, t } = make('ws');
    await agent.start();
    await until(() => t().sent.length === 1);
    const uid = agent.uid;
    t().push({ ...ack(t().sent[0]!), agentIdentification: { newInstanceUid: new Uint8Array(8).fill(1) } });
    t().push({ ...ack(t().sent[0]!), agentIdentification: { newInstanceUid: new Uint8Array(16) } });
    await until(() => agent.stats.errors === 2);
    expect(agent.uid).toBe(uid);
    expect(agent.stats.uidChanges).toBe(0);
  });

  it('sets RequestInstanceUid until the server assigns one', async () => {
    const { agent, t } = make('ws', { requestInstanceUid: true });
    await agent.start();
    await until(() => t().sent.length === 1);
    expect(t().sent[0]!.flags).toBe(1n);
    t().push({ ...ack(t().sent[0]!), agentIdentification: { newInstanceUid: uuidv7() } });
    await until(() => t().sent.length === 2);
    expect(t().sent[1]!.flags).toBe(0n);
  });
});

describe('SimulatedAgent: remote config', () => {
  const configHash = Uint8Array.from({ length: 32 }, (_, i) => i);
  const remoteConfig = {
    config: {
      configMap: { 'fluent-bit.yaml': { body: new TextEncoder().encode('pipeline: {}\n'), contentType: 'text/yaml' } },
    },
    configHash,
  };

  it('reports APPLYING, then APPLIED with the new effective config', async () => {
    const { agent, t } = make('ws');
    await agent.start();
    await until(() => t().sent.length === 1);
    t().push({ ...ack(t().sent[0]!), remoteConfig });
    await until(() => t().sent.length === 3, 'APPLYING and APPLIED');
    const [applying, applied] = [t().sent[1]!, t().sent[2]!];
    expect(applying.remoteConfigStatus).toMatchObject({
      status: RemoteConfigStatuses.RemoteConfigStatuses_APPLYING,
      lastRemoteConfigHash: configHash,
    });
    expect(applying.effectiveConfig).toBeUndefined();
    expect(applied.remoteConfigStatus).toMatchObject({
      status: RemoteConfigStatuses.RemoteConfigStatuses_APPLIED,
      lastRemoteConfigHash: configHash,
      errorMessage: '',
    });
    expect(new TextDecoder().decode(applied.effectiveConfig?.configMap?.configMap['fluent-bit.yaml']?.body)).toBe(
      'pipeline: {}\n',
    );
    expect([applying.sequenceNum, applied.sequenceNum]).toEqual([1n, 2n]);
    expect(agent.stats.configsApplied).toBe(1);
  });

  it('reports FAILED with an error message when configured to fail, keeping its effective config', async () => {
    const { agent, t } = make('ws', { failConfig: true });
    await agent.start();
    await until(() => t().sent.length === 1);
    const before = t().sent[0]!.effectiveConfig;
    t().push({ ...ack(t().sent[0]!), remoteConfig });
    await until(() => t().sent.length === 3);
    const failed = t().sent[2]!;
    expect(failed.remoteConfigStatus?.status).toBe(RemoteConfigStatuses.RemoteConfigStatuses_FAILED);
    expect(failed.remoteConfigStatus?.lastRemoteConfigHash).toEqual(configHash);
    expect(failed.remoteConfigStatus?.errorMessage).toMatch(/simulated failure/);
    expect(failed.effectiveConfig).toBeUndefined();
    expect(agent.stats.configsFailed).toBe(1);
    // A later full report still shows the old effective config and the FAILED status.
    t().push({ ...ack(failed), flags: ServerToAgentFlag.ReportFullState });
    await until(() => t().sent.length === 4);
    expect(t().sent[3]!.effectiveConfig).toEqual(before);
    expect(t().sent[3]!.remoteConfigStatus?.status).toBe(RemoteConfigStatuses.RemoteConfigStatuses_FAILED);
  });

  it('with failConfigMatching fails only configs containing the marker, and counts every offer', async () => {
    const { agent, t } = make('ws', { failConfig: true, failConfigMatching: 'Retry_Limit  no_such' });
    await agent.start();
    await until(() => t().sent.length === 1);
    t().push({ ...ack(t().sent[0]!), remoteConfig });
    await until(() => t().sent.length === 3);
    expect(t().sent[2]!.remoteConfigStatus?.status).toBe(RemoteConfigStatuses.RemoteConfigStatuses_APPLIED);

    const bad = new TextEncoder().encode('[OUTPUT]\n    Retry_Limit  no_such\n');
    const badHash = new Uint8Array(32).fill(7);
    t().push({
      ...ack(t().sent[2]!),
      remoteConfig: {
        configHash: badHash,
        config: { configMap: { 'fluent-bit.conf': { body: bad, contentType: 'text/plain' } } },
      },
    });
    await until(() => t().sent.length === 5);
    expect(t().sent[4]!.remoteConfigStatus?.status).toBe(RemoteConfigStatuses.RemoteConfigStatuses_FAILED);
    expect(t().sent[4]!.remoteConfigStatus?.lastRemoteConfigHash).toEqual(badHash);
    expect([agent.stats.configsApplied, agent.stats.configsFailed, agent.stats.configsReceived]).toEqual([1, 1, 2]);
  });

  it('does not re-apply a config hash it already processed', async () => {
    const { agent, t } = make('ws');
    await agent.start();
    await until(() => t().sent.length === 1);
    t().push({ ...ack(t().sent[0]!), remoteConfig });
    await until(() => t().sent.length === 3);
    t().push({ ...ack(t().sent[2]!), remoteConfig });
    await new Promise((r) => setTimeout(r, 30));
    expect(t().sent).toHaveLength(3);
    expect(agent.stats.configsApplied).toBe(1);
  });

  it('ignores remote config without AcceptsRemoteConfig', async () => {
    const { agent, t } = make('ws', {
      capabilities: AgentCapability.ReportsRemoteConfig | AgentCapability.ReportsEffectiveConfig,
    });
    await agent.start();
    await until(() => t().sent.length === 1);
    t().push({ ...ack(t().sent[0]!), remoteConfig });
    await new Promise((r) => setTimeout(r, 30));
    expect(t().sent).toHaveLength(1);
  });

  it('HTTP: APPLYING and APPLIED go out right after the reply that carried the config', async () => {
    const { agent, t } = make('http');
    await agent.start();
    await until(() => t().sent.length === 1);
    let offered = false;
    t().reply = (m) => {
      if (offered) return ack(m);
      offered = true;
      return { ...ack(m), remoteConfig };
    };
    agent.heartbeatNow();
    await until(() => t().sent.length === 4, 'poll, APPLYING, APPLIED');
    expect(
      t()
        .sent.slice(1)
        .map((m) => m.sequenceNum),
    ).toEqual([1n, 2n, 3n]);
    expect(t().sent[2]!.remoteConfigStatus?.status).toBe(RemoteConfigStatuses.RemoteConfigStatuses_APPLYING);
    expect(t().sent[3]!.remoteConfigStatus?.status).toBe(RemoteConfigStatuses.RemoteConfigStatuses_APPLIED);
    expect(t().sent[3]!.effectiveConfig).toBeDefined();
  });

  it('applies config without ReportsRemoteConfig and reports only the new effective config', async () => {
    const { agent, t } = make('ws', {
      capabilities: AgentCapability.AcceptsRemoteConfig | AgentCapability.ReportsEffectiveConfig,
    });
    await agent.start();
    await until(() => t().sent.length === 1);
    t().push({ ...ack(t().sent[0]!), remoteConfig });
    await until(() => agent.stats.configsApplied === 1 && t().sent.length === 2);
    await new Promise((r) => setTimeout(r, 20));
    expect(t().sent).toHaveLength(2);
    expect(t().sent[1]!.remoteConfigStatus).toBeUndefined();
    expect(t().sent[1]!.effectiveConfig?.configMap?.configMap['fluent-bit.yaml']).toBeDefined();
  });

  it('fails a deterministic, evenly spread share of agents', () => {
    const decide = (n: number, p: number): boolean[] => Array.from({ length: n }, (_, i) => shouldFailConfig(i, p));
    expect(decide(1000, 10).filter(Boolean)).toHaveLength(100);
    expect(decide(1000, 33).filter(Boolean)).toHaveLength(330);
    expect(decide(100, 0).some(Boolean)).toBe(false);
    expect(decide(100, 100).every(Boolean)).toBe(true);
    expect(decide(1000, 10)).toEqual(decide(1000, 10));
    // Evenly spread: every block of 10 agents has exactly one failing agent at 10 %.
    const d = decide(100, 10);
    for (let b = 0; b < 10; b++) expect(d.slice(b * 10, b * 10 + 10).filter(Boolean)).toHaveLength(1);
  });
});

describe('SimulatedAgent: commands and custom messages', () => {
  it('restarts on the restart command: agent_disconnect, close 1000, then seq 0 and a full report', async () => {
    const { agent, t } = make('ws');
    await agent.start();
    await until(() => t().sent.length === 1);
    t().push({ ...ack(t().sent[0]!), flags: ServerToAgentFlag.ReportFullState });
    await until(() => t().sent.length === 2);
    const restarted = agent.waitFor('restarted');
    t().push({ instanceUid: t().sent[1]!.instanceUid, command: { type: CommandType.CommandType_Restart } });
    await restarted;
    await until(() => t().sent.length === 4, 'disconnect and first message of the new process');
    const [bye, hello] = [t().sent[2]!, t().sent[3]!];
    expect(bye.agentDisconnect).toBeDefined();
    expect(bye.sequenceNum).toBe(2n);
    expect(t().closes).toEqual([{ code: 1000, reason: 'restarting' }]);
    expect(hello.sequenceNum).toBe(0n);
    expect(isFull(hello)).toBe(true);
    expect(hello.instanceUid).toEqual(t().sent[0]!.instanceUid);
    expect(hello.health!.startTimeUnixNano).toBeGreaterThanOrEqual(t().sent[0]!.health!.startTimeUnixNano);
    expect(agent.stats.restarts).toBe(1);
    expect(t().connects).toBe(2);
  });

  it('HTTP: restart sends agent_disconnect, then the new process polls from seq 0', async () => {
    const { agent, t } = make('http');
    await agent.start();
    await until(() => t().sent.length === 1);
    let commanded = false;
    t().reply = (m) => {
      if (commanded) return ack(m);
      commanded = true;
      return { instanceUid: m.instanceUid, command: { type: CommandType.CommandType_Restart } };
    };
    const restarted = agent.waitFor('restarted');
    agent.heartbeatNow();
    await restarted;
    await until(() => t().sent.length === 4);
    expect(t().sent[2]!.agentDisconnect).toBeDefined();
    expect(t().sent[3]!.sequenceNum).toBe(0n);
    expect(isFull(t().sent[3]!)).toBe(true);
  });

  it('ignores the restart command (and nothing else) without AcceptsRestartCommand', async () => {
    const { agent, t } = make('ws', {
      capabilities: DEFAULT_AGENT_CAPABILITIES & ~AgentCapability.AcceptsRestartCommand,
    });
    await agent.start();
    await until(() => t().sent.length === 1);
    t().push({
      ...ack(t().sent[0]!),
      command: { type: CommandType.CommandType_Restart },
      flags: ServerToAgentFlag.ReportFullState,
    });
    await until(() => t().sent.length === 2);
    expect(agent.stats.restarts).toBe(0);
    expect(t().sent[1]!.sequenceNum).toBe(1n);
  });

  it('echoes custom messages of a declared capability', async () => {
    const { agent, t } = make('ws');
    await agent.start();
    await until(() => t().sent.length === 1);
    const received = agent.waitFor('customMessage');
    t().push({
      ...ack(t().sent[0]!),
      customMessage: { capability: ECHO_CAPABILITY, type: 'ping', data: Uint8Array.of(1, 2, 3) },
    });
    const [m] = await received;
    expect(m.type).toBe('ping');
    await until(() => t().sent.length === 2);
    expect(t().sent[1]!.customMessage).toMatchObject({
      capability: ECHO_CAPABILITY,
      type: 'ping',
      data: Uint8Array.of(1, 2, 3),
    });
  });

  it('with commandReplies, answers custom commands by the reply convention and echoes the rest', async () => {
    const { agent, t } = make('ws', { commandReplies: true, failCommandTypes: ['bad'], ignoreCommandTypes: ['mute'] });
    await agent.start();
    await until(() => t().sent.length === 1);
    const command = (type: string, commandId: string) => ({
      ...ack(t().sent[0]!),
      customMessage: {
        capability: ECHO_CAPABILITY,
        type,
        data: new TextEncoder().encode(JSON.stringify({ commandId, parameters: { n: 1 } })),
      },
    });
    t().push(command('good', 'c-ok'));
    t().push(command('mute', 'c-mute'));
    t().push(command('bad', 'c-bad'));
    t().push({
      ...ack(t().sent[0]!),
      customMessage: { capability: ECHO_CAPABILITY, type: 'raw', data: Uint8Array.of(9) },
    });
    await until(() => t().sent.length === 4, 'three answers');
    const answers = t()
      .sent.slice(1)
      .map((m) => m.customMessage!);
    expect(answers.map((m) => [m.capability, m.type])).toEqual([
      [ECHO_CAPABILITY, 'good'],
      [ECHO_CAPABILITY, 'bad'],
      [ECHO_CAPABILITY, 'raw'],
    ]);
    const body = (i: number): unknown => JSON.parse(new TextDecoder().decode(answers[i]!.data));
    expect(body(0)).toMatchObject({ commandId: 'c-ok', status: 'succeeded', result: { parameters: { n: 1 } } });
    expect(body(1)).toMatchObject({ commandId: 'c-bad', status: 'failed', error: expect.any(Object) });
    expect(answers[2]!.data).toEqual(Uint8Array.of(9));
  });

  it('ignores custom messages for undeclared capabilities', async () => {
    const { agent, t } = make('ws');
    await agent.start();
    await until(() => t().sent.length === 1);
    t().push({
      ...ack(t().sent[0]!),
      customMessage: { capability: 'com.example.other', type: 'x', data: new Uint8Array() },
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(t().sent).toHaveLength(1);
    expect(agent.stats.customMessagesReceived).toBe(0);
  });

  it('sends one queued custom message per AgentToServer', async () => {
    const { agent, t } = make('ws');
    await agent.start();
    await until(() => t().sent.length === 1);
    agent.sendCustomMessage(ECHO_CAPABILITY, 'a', Uint8Array.of(1));
    agent.sendCustomMessage(ECHO_CAPABILITY, 'b', Uint8Array.of(2));
    await until(() => t().sent.length === 3);
    expect(
      t()
        .sent.slice(1)
        .map((m) => m.customMessage?.type),
    ).toEqual(['a', 'b']);
  });
});

describe('SimulatedAgent: connection settings and heartbeats', () => {
  it('adopts an offered heartbeat interval when ReportsHeartbeat is set', async () => {
    const { agent, t } = make('ws', { heartbeatSeconds: 30 });
    await agent.start();
    await until(() => t().sent.length === 1);
    t().push({
      ...ack(t().sent[0]!),
      connectionSettings: {
        hash: Uint8Array.of(1),
        opamp: { destinationEndpoint: 'ws://test/v1/opamp', heartbeatIntervalSeconds: 7n },
      },
    });
    await until(() => agent.heartbeatIntervalMs === 7_000);
    // 0 turns WS heartbeats off.
    t().push({
      ...ack(t().sent[0]!),
      connectionSettings: {
        hash: Uint8Array.of(2),
        opamp: { destinationEndpoint: 'ws://test/v1/opamp', heartbeatIntervalSeconds: 0n },
      },
    });
    await until(() => agent.heartbeatIntervalMs === 0);
  });

  it('keeps its interval without ReportsHeartbeat, and HTTP ignores a 0 interval', async () => {
    const ws = make('ws', { capabilities: DEFAULT_AGENT_CAPABILITIES & ~AgentCapability.ReportsHeartbeat });
    await ws.agent.start();
    await until(() => ws.t().sent.length === 1);
    ws.t().push({
      ...ack(ws.t().sent[0]!),
      connectionSettings: { opamp: { destinationEndpoint: 'x', heartbeatIntervalSeconds: 5n } },
    });
    await until(() => ws.agent.stats.repliesReceived === 1);
    expect(ws.agent.heartbeatIntervalMs).toBe(30_000);

    const http = make('http');
    await http.agent.start();
    await until(() => http.t().sent.length === 1);
    http.t().reply = (m) => ({
      ...ack(m),
      connectionSettings: { opamp: { destinationEndpoint: 'x', heartbeatIntervalSeconds: 0n } },
    });
    http.agent.heartbeatNow();
    await until(() => http.t().sent.length === 2);
    expect(http.agent.heartbeatIntervalMs).toBe(30_000);
  });

  it('polls over HTTP at the offered interval', async () => {
    const { agent, t } = make('http', { heartbeatSeconds: 30 });
    let offered = false;
    const fake = t;
    await agent.start();
    await until(() => fake().sent.length === 1);
    fake().reply = (m) => {
      if (offered) return ack(m);
      offered = true;
      return {
        ...ack(m),
        connectionSettings: { opamp: { destinationEndpoint: 'http://test/v1/opamp', heartbeatIntervalSeconds: 1n } },
      };
    };
    agent.heartbeatNow();
    await until(() => agent.heartbeatIntervalMs === 1_000);
    const n = fake().sent.length;
    await until(() => fake().sent.length === n + 1, 'a poll one second later', 2_500);
    expect(fake().last.sequenceNum).toBe(BigInt(n));
  });
});

describe('SimulatedAgent: errors, throttling and reconnects', () => {
  it('WS: reconnects after a drop with a compressed first message', async () => {
    const { agent, t } = make('ws');
    await agent.start();
    await until(() => t().sent.length === 1);
    t().push(ack(t().sent[0]!));
    await until(() => agent.stats.repliesReceived === 1);
    t().drop();
    await until(() => t().connects === 2 && t().sent.length === 2, 'reconnect');
    const again = t().sent[1]!;
    expect(again.sequenceNum).toBe(1n);
    expect(again.agentDescription).toBeUndefined();
    expect(agent.stats.disconnects).toBe(1);
    expect(agent.connected).toBe(true);
  });

  it('WS: sends a full report after reconnect when fullStateOnReconnect is set', async () => {
    const { agent, t } = make('ws', { fullStateOnReconnect: true });
    await agent.start();
    await until(() => t().sent.length === 1);
    t().drop();
    await until(() => t().sent.length === 2);
    expect(isFull(t().sent[1]!)).toBe(true);
  });

  it('WS: keeps retrying a refused upgrade, honouring Retry-After', async () => {
    const { agent, t } = make('ws', { backoff: { initialMs: 1, maxMs: 2, immediateJitterMs: 0 } });
    const started = Date.now();
    const promise = agent.start();
    t().connectFailures.push(
      new TransportError('HTTP 503', 'throttled', 503, 150),
      new TransportError('ECONNREFUSED', 'network'),
    );
    await promise;
    await until(() => t().sent.length === 1, 'connected in the end');
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(t().connects).toBe(3);
    expect(agent.stats.throttled).toBe(1);
    expect(agent.stats.errors).toBe(2);
  });

  it('WS: UNAVAILABLE with retry_info disconnects, waits and reconnects', async () => {
    const { agent, t } = make('ws');
    await agent.start();
    await until(() => t().sent.length === 1);
    const started = Date.now();
    t().push({
      instanceUid: t().sent[0]!.instanceUid,
      errorResponse: {
        type: ServerErrorResponseType.ServerErrorResponseType_Unavailable,
        Details: { case: 'retryInfo', value: { retryAfterNanoseconds: 120_000_000n } },
      },
    });
    await until(() => t().closes.length === 1, 'close');
    expect(t().closes[0]!.code).toBe(1000);
    await until(() => t().connects === 2 && t().sent.length === 2, 'reconnect');
    expect(Date.now() - started).toBeGreaterThanOrEqual(110);
    expect(t().sent[1]!.sequenceNum).toBe(1n);
    expect(agent.stats.throttled).toBe(1);
  });

  it('counts BAD_REQUEST without retrying', async () => {
    const { agent, t } = make('ws');
    await agent.start();
    await until(() => t().sent.length === 1);
    t().push({
      instanceUid: t().sent[0]!.instanceUid,
      errorResponse: { type: ServerErrorResponseType.ServerErrorResponseType_BadRequest, errorMessage: 'nope' },
    });
    await until(() => agent.stats.errors === 1);
    await new Promise((r) => setTimeout(r, 20));
    expect(t().sent).toHaveLength(1);
  });

  it('HTTP: retries the same message (same seq) after 429 with Retry-After', async () => {
    const { agent, t } = make('http');
    const p = agent.start();
    t().sendFailures.push(new TransportError('HTTP 429', 'throttled', 429, 100));
    const started = Date.now();
    await p;
    await until(() => t().sent.length === 1, 'retried message');
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
    expect(t().sent[0]!.sequenceNum).toBe(0n);
    expect(isFull(t().sent[0]!)).toBe(true);
    expect(agent.stats.throttled).toBe(1);
  });

  it('HTTP: UNAVAILABLE in a 200 reply resends the same message after retry_info', async () => {
    const { agent, t } = make('http');
    let first = true;
    await agent.start();
    await until(() => t().sent.length === 1);
    t().reply = (m) => {
      if (first) {
        first = false;
        return {
          instanceUid: m.instanceUid,
          errorResponse: {
            type: ServerErrorResponseType.ServerErrorResponseType_Unavailable,
            Details: { case: 'retryInfo', value: { retryAfterNanoseconds: 50_000_000n } },
          },
        };
      }
      return ack(m);
    };
    agent.setHealth(false, 'boom');
    await until(() => t().sent.length === 3, 'retry');
    expect(t().sent[1]!.sequenceNum).toBe(1n);
    expect(t().sent[2]!.sequenceNum).toBe(1n);
    expect(t().sent[2]!.health?.healthy).toBe(false);
    expect(agent.stats.throttled).toBe(1);
  });

  it('HTTP: drops a rejected message (e.g. 400) and keeps polling with the next seq', async () => {
    const { agent, t } = make('http', { heartbeatSeconds: 0.02 });
    const p = agent.start();
    t().sendFailures.push(new TransportError('HTTP 400', 'rejected', 400));
    await p;
    await until(() => t().sent.length === 1, 'next poll');
    expect(t().sent[0]!.sequenceNum).toBe(1n);
    expect(agent.stats.errors).toBe(1);
  });
});

describe('SimulatedAgent: stop', () => {
  it('WS: sends agent_disconnect then closes with 1000', async () => {
    const { agent, t } = make('ws');
    await agent.start();
    await until(() => t().sent.length === 1);
    const stopped = agent.waitFor('stopped');
    await agent.stop();
    await stopped;
    expect(t().last.agentDisconnect).toBeDefined();
    expect(t().last.sequenceNum).toBe(1n);
    expect(t().closes).toEqual([{ code: 1000, reason: 'agent shutting down' }]);
    expect(agent.state).toBe('stopped');
    await agent.stop(); // idempotent
  });

  it('HTTP: sends agent_disconnect in a last request', async () => {
    const { agent, t } = make('http');
    await agent.start();
    await until(() => t().sent.length === 1);
    await agent.stop();
    expect(t().last.agentDisconnect).toBeDefined();
    expect(t().sent).toHaveLength(2);
  });

  it('stops cleanly while backing off, without sending anything', async () => {
    const { agent, t } = make('ws', { backoff: { initialMs: 10_000, maxMs: 10_000, immediateJitterMs: 10_000 } });
    const p = agent.start();
    t().connectFailures.push(new TransportError('refused', 'network'));
    await p;
    expect(agent.state).toBe('backoff');
    await agent.stop();
    expect(t().sent).toHaveLength(0);
    expect(agent.state).toBe('stopped');
  });

  it('can be started again after stop as a new process', async () => {
    const { agent, t } = make('ws');
    await agent.start();
    await until(() => t().sent.length === 1);
    await agent.stop();
    await agent.start();
    await until(() => t().sent.length === 3);
    expect(t().sent[2]!.sequenceNum).toBe(0n);
    expect(isFull(t().sent[2]!)).toBe(true);
  });
});

describe('SimulatedAgent: failover between endpoints', () => {
  const A = 'ws://a/v1/opamp';
  const B = 'ws://b/v1/opamp';

  it('WS: a refused connection moves to the next endpoint', async () => {
    const { agent, t } = make('ws', { url: A, failoverUrls: [B] });
    const moved: string[] = [];
    agent.on('failover', (to) => moved.push(to));
    const p = agent.start();
    t().connectFailures.push(new TransportError('ECONNREFUSED', 'network'));
    await p;
    await until(() => t().sent.length === 1, 'connected to the second endpoint');
    expect(t().targets).toEqual([A, B]);
    expect(moved).toEqual([B]);
    expect(agent.endpoint).toBe(B);
    expect(isFull(t().sent[0]!)).toBe(true);
  });

  it('WS: a lost connection (1006) or a draining server (1001) moves on; other closes reconnect to the same endpoint', async () => {
    const { agent, t } = make('ws', { url: A, failoverUrls: [B] });
    await agent.start();
    await until(() => t().sent.length === 1);
    t().push(ack(t().sent[0]!));
    t().drop(1006);
    await until(() => t().sent.length === 2, 'reconnect after 1006');
    t().drop(1001);
    await until(() => t().sent.length === 3, 'reconnect after 1001');
    t().drop(1011);
    await until(() => t().sent.length === 4, 'reconnect after 1011');
    expect(t().targets).toEqual([A, B, A, A]);
    // The process goes on: contiguous seq, compressed first messages (the server kept the state).
    expect(t().sent.map((m) => m.sequenceNum)).toEqual([0n, 1n, 2n, 3n]);
    expect(
      t()
        .sent.slice(1)
        .every((m) => m.agentDescription === undefined),
    ).toBe(true);
  });

  it('HTTP: a failed request is resent, same seq, to the next endpoint', async () => {
    const { agent, t } = make('http', { url: 'http://a/v1/opamp', failoverUrls: ['http://b/v1/opamp'] });
    const p = agent.start();
    t().sendFailures.push(new TransportError('HTTP request failed: ECONNREFUSED', 'network'));
    await p;
    await until(() => t().sent.length === 1, 'retried on the second endpoint');
    expect(t().targets).toEqual(['http://a/v1/opamp', 'http://b/v1/opamp']);
    expect(t().sent[0]!.sequenceNum).toBe(0n);
    expect(agent.endpoint).toBe('http://b/v1/opamp');
  });

  it('a rejected request (401, 400) does not move to another endpoint', async () => {
    const { agent, t } = make('ws', { url: A, failoverUrls: [B] });
    const p = agent.start();
    t().connectFailures.push(new TransportError('HTTP 401', 'rejected', 401));
    await p;
    await until(() => t().sent.length === 1);
    expect(t().targets).toEqual([A, A]);
  });
});
