import { create, toBinary } from '@bufbuild/protobuf';
import {
  DesiredConfigSchema,
  RemoteConfigStatusSchema,
  RemoteConfigStatuses,
  ServerToAgentSchema,
  Transport,
} from '@opamp/proto';
import { SERVER_CAPABILITIES, badRequest, computeConfigHash, violatesErrorExclusivity } from '@opamp/protocol';
import { describe, expect, it } from 'vitest';
import { policyWith } from './policy.js';
import { connectionSettingsOffer, decideRemoteConfig, decideReply, desiredConfigFailed, endpointFor } from './reply.js';
import { CAPS, POLICY, UID, a2s, configMap, fullReport, hex, step } from './spec-helpers.js';
import { withCore, type AgentState } from './state.js';

const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function agent(caps: bigint, extra: Parameters<typeof fullReport>[2] = {}): AgentState {
  // The state after the first message, with the per-session markers of that first reply cleared.
  const s = step(undefined, fullReport(0n, caps, extra)).next;
  return withCore(s, {
    offeredConnectionSettingsHash: new Uint8Array(0),
    componentsRequestedHash: new Uint8Array(0),
    sentCustomCapabilities: '',
    lastSentConfigHash: new Uint8Array(0),
  });
}

function withDesired(state: AgentState, files: Record<string, string>): AgentState {
  const map = configMap(files);
  return {
    ...state,
    desired: {
      ...state.desired,
      config: create(DesiredConfigSchema, { configHash: computeConfigHash(map), config: map }),
    },
  };
}

function reply(state: AgentState, opts: Partial<Parameters<typeof decideReply>[0]> = {}) {
  return decideReply({
    state,
    msg: undefined,
    fullState: false,
    transport: Transport.WEBSOCKET,
    policy: POLICY,
    nowMs: 5,
    ...opts,
  });
}

describe('decideReply: basics', () => {
  it('case 1/11: ack with instance_uid and capabilities 0x27, nothing else for an idle agent', () => {
    const r = reply(agent(CAPS.ReportsStatus));
    expect(r.reply.instanceUid).toEqual(UID);
    expect(r.reply.capabilities).toBe(0x27n);
    expect(r.reply.capabilities & ~0x7fn).toBe(0n);
    expect(r.reply.errorResponse).toBeUndefined();
    expect(r.reply.flags).toBe(0n);
    expect(r.contents).toEqual([]);
    // byte-exact: 0a 10 <uid> 38 27
    expect(toHex(toBinary(ServerToAgentSchema, r.reply))).toBe('0a100192e3a45b6c7d8e9f0123456789abcd3827');
  });

  it('sets ReportFullState when asked', () => {
    const r = reply(agent(CAPS.ReportsStatus), { fullState: true });
    expect(r.reply.flags & 0x1n).toBe(0x1n);
    expect(r.state.core.fullStateRequested).toBe(true);
    expect(reply(r.state).state.core.fullStateRequested).toBe(false);
  });

  it('case 46: replies never mix error_response with other fields', () => {
    const s = withDesired(agent(CAPS.ReportsStatus | CAPS.AcceptsRemoteConfig | CAPS.ReportsHeartbeat), { a: '1' });
    const r = reply(s, { fullState: true });
    expect(violatesErrorExclusivity(r.reply)).toBe(false);
    const err = badRequest(UID, 'nope');
    expect(violatesErrorExclusivity(err)).toBe(false);
    expect(err.capabilities).toBe(0n);
    expect(err.flags).toBe(0n);
  });
});

describe('remote config (§3.6 [REC], cases 12, 38, 39, 40)', () => {
  const RC = CAPS.ReportsStatus | CAPS.AcceptsRemoteConfig | CAPS.ReportsRemoteConfig;

  it('case 38: never without AcceptsRemoteConfig; sent once the agent adds 0x2', () => {
    const without = withDesired(agent(CAPS.ReportsStatus | CAPS.ReportsRemoteConfig), { a: '1' });
    expect(reply(without).reply.remoteConfig).toBeUndefined();
    const added = {
      ...without,
      report: { ...without.report, capabilities: without.report.capabilities | CAPS.AcceptsRemoteConfig },
    };
    const r = reply(added);
    expect(r.reply.remoteConfig?.configHash).toEqual(added.desired.config!.configHash);
    expect(Object.keys(r.reply.remoteConfig!.config!.configMap)).toEqual(['a']);
    expect(r.events.map((e) => e.type)).toEqual(['remote_config_offered']);
  });

  it('case 40: no config assigned → no remote_config (never an empty map)', () => {
    const r = reply(agent(RC));
    expect(r.reply.remoteConfig).toBeUndefined();
    expect(decideRemoteConfig(agent(RC), { fullStateRequestedNow: false })).toBeUndefined();
  });

  it('case 39: hash-driven: equal (APPLIED/APPLYING/FAILED) → none, different → send', () => {
    const desired = withDesired(agent(RC), { a: '1' });
    const hash = desired.desired.config!.configHash;
    for (const status of [
      RemoteConfigStatuses.RemoteConfigStatuses_APPLIED,
      RemoteConfigStatuses.RemoteConfigStatuses_APPLYING,
      RemoteConfigStatuses.RemoteConfigStatuses_FAILED,
    ]) {
      const s = {
        ...desired,
        report: {
          ...desired.report,
          remoteConfigStatus: create(RemoteConfigStatusSchema, { lastRemoteConfigHash: hash, status }),
        },
      };
      expect(reply(s).reply.remoteConfig, String(status)).toBeUndefined();
    }
    const failed = {
      ...desired,
      report: {
        ...desired.report,
        remoteConfigStatus: create(RemoteConfigStatusSchema, {
          lastRemoteConfigHash: hash,
          status: 3,
          errorMessage: 'bad',
        }),
      },
    };
    expect(desiredConfigFailed(failed)).toBe(true);
    const other = {
      ...desired,
      report: {
        ...desired.report,
        remoteConfigStatus: create(RemoteConfigStatusSchema, { lastRemoteConfigHash: hex('00'), status: 1 }),
      },
    };
    expect(reply(other).reply.remoteConfig?.configHash).toEqual(hash);
  });

  it('case 39: the config hash is byte-identical whatever the file order', () => {
    const a = configMap({ 'a.yaml': '1', 'b.yaml': '2' });
    const b = configMap({ 'b.yaml': '2', 'a.yaml': '1' });
    expect(computeConfigHash(a)).toEqual(computeConfigHash(b));
  });

  it('does not decide on a possibly stale reported hash while asking for the full state', () => {
    const s = withDesired(agent(RC), { a: '1' });
    expect(reply(s, { fullState: true }).reply.remoteConfig).toBeUndefined();
    expect(reply(s, { fullState: false }).reply.remoteConfig).toBeDefined();
  });

  it('step 5: without ReportsRemoteConfig, send once per session and again when the desired hash changes', () => {
    const s = withDesired(agent(CAPS.ReportsStatus | CAPS.AcceptsRemoteConfig), { a: '1' });
    const first = reply(s);
    expect(first.reply.remoteConfig).toBeDefined();
    expect(first.state.core.lastSentConfigHash).toEqual(s.desired.config!.configHash);
    expect(reply(first.state).reply.remoteConfig).toBeUndefined();
    const changed = withDesired(first.state, { a: '2' });
    expect(reply(changed).reply.remoteConfig?.configHash).toEqual(changed.desired.config!.configHash);
    // a new session resets the marker (see process.spec for the session rules)
    const reset = withCore(first.state, { lastSentConfigHash: new Uint8Array(0) });
    expect(reply(reset).reply.remoteConfig).toBeDefined();
  });

  it('a deliberately empty desired config (hash set, no files) is sent', () => {
    const s = agent(RC);
    const empty = configMap({});
    const withEmpty = {
      ...s,
      desired: {
        ...s.desired,
        config: create(DesiredConfigSchema, { configHash: computeConfigHash(empty), config: empty }),
      },
    };
    const r = reply(withEmpty);
    expect(r.reply.remoteConfig).toBeDefined();
    expect(r.reply.remoteConfig!.config!.configMap).toEqual({});
  });
});

describe('restart command (§3.9, case 41)', () => {
  it('a pending restart with 0x400 is a reply of its own: only instance_uid, capabilities, command (4a 00)', () => {
    const s = withDesired(
      agent(CAPS.ReportsStatus | CAPS.AcceptsRestartCommand | CAPS.AcceptsRemoteConfig | CAPS.ReportsHeartbeat),
      { a: '1' },
    );
    const pending = withCore(s, { restartPending: true, restartCommandId: 'r1' });
    const r = reply(pending, { fullState: true });
    expect(toHex(toBinary(ServerToAgentSchema, r.reply))).toBe('0a100192e3a45b6c7d8e9f0123456789abcd3827' + '4a00');
    expect(r.state.core.restartPending).toBe(false);
    expect(r.events).toMatchObject([{ type: 'command_sent', data: { command: 'restart', commandId: 'r1' } }]);
    // delivered once
    const next = reply(r.state);
    expect(next.reply.command).toBeUndefined();
    expect(next.reply.remoteConfig).toBeDefined();
  });

  it('without 0x400 a pending restart is dropped, never sent', () => {
    const pending = withCore(agent(CAPS.ReportsStatus), { restartPending: true, restartCommandId: 'r2' });
    const r = reply(pending);
    expect(r.reply.command).toBeUndefined();
    expect(r.state.core.restartPending).toBe(false);
    expect(r.events).toMatchObject([{ type: 'command_rejected', data: { commandId: 'r2' } }]);
  });

  it('identification and disconnect replies leave the restart pending', () => {
    const pending = withCore(agent(CAPS.ReportsStatus | CAPS.AcceptsRestartCommand), { restartPending: true });
    expect(reply(pending, { disconnecting: true }).state.core.restartPending).toBe(true);
    expect(reply(pending, { assignUid: hex('01900000000070008000000000000001') }).state.core.restartPending).toBe(true);
  });
});

describe('heartbeat connection settings (§3.7, case 42, 52)', () => {
  const HB = CAPS.ReportsStatus | CAPS.ReportsHeartbeat;

  it('offered once per session with a non-empty deterministic hash and an explicit interval', () => {
    const r = reply(agent(HB));
    const cs = r.reply.connectionSettings!;
    expect(cs.hash.length).toBe(32);
    expect(cs.opamp?.destinationEndpoint).toBe('ws://opamp.example:4320/v1/opamp');
    expect(cs.opamp?.heartbeatIntervalSeconds).toBe(30n);
    expect(cs.ownMetrics).toBeUndefined();
    expect(cs.ownTraces).toBeUndefined();
    expect(cs.ownLogs).toBeUndefined();
    expect(Object.keys(cs.otherConnections)).toEqual([]);
    expect(connectionSettingsOffer(POLICY, Transport.WEBSOCKET).hash).toEqual(cs.hash);
    expect(reply(r.state).reply.connectionSettings).toBeUndefined();
  });

  it('is built once per policy and transport, and follows a changed policy', () => {
    const ws = connectionSettingsOffer(POLICY, Transport.WEBSOCKET);
    expect(connectionSettingsOffer(POLICY, Transport.WEBSOCKET)).toBe(ws);
    const http = connectionSettingsOffer(POLICY, Transport.HTTP);
    expect(http.opamp?.destinationEndpoint).toBe('http://opamp.example:4320/v1/opamp');
    expect(toHex(http.hash)).not.toBe(toHex(ws.hash));
    const slower = connectionSettingsOffer(
      policyWith({ ...POLICY, heartbeatIntervalSeconds: 60 }),
      Transport.WEBSOCKET,
    );
    expect(slower.opamp?.heartbeatIntervalSeconds).toBe(60n);
    expect(toHex(slower.hash)).not.toBe(toHex(ws.hash));
  });

  it('never offered to agents without ReportsHeartbeat (e.g. 0x40 only)', () => {
    expect(reply(agent(CAPS.ReportsStatus | CAPS.ReportsOwnMetrics)).reply.connectionSettings).toBeUndefined();
  });

  it('resent when the agent reports another hash, not when it reports the offered one', () => {
    const caps = HB | CAPS.ReportsConnectionSettingsStatus;
    const offered = reply(agent(caps)).state;
    const hash = offered.core.offeredConnectionSettingsHash;
    const stale = a2s({ connectionSettingsStatus: { lastConnectionSettingsHash: hex('0102') } });
    expect(reply(offered, { msg: stale }).reply.connectionSettings?.hash).toEqual(hash);
    const same = a2s({ connectionSettingsStatus: { lastConnectionSettingsHash: hash } });
    expect(reply(offered, { msg: same }).reply.connectionSettings).toBeUndefined();
  });

  it('resent when the server settings change; HTTP agents get an http(s) endpoint', () => {
    const offered = reply(agent(HB)).state;
    const changed = reply(offered, { policy: policyWith({ ...POLICY, heartbeatIntervalSeconds: 5 }) });
    expect(changed.reply.connectionSettings?.opamp?.heartbeatIntervalSeconds).toBe(5n);
    expect(reply(agent(HB), { transport: Transport.HTTP }).reply.connectionSettings?.opamp?.destinationEndpoint).toBe(
      'http://opamp.example:4320/v1/opamp',
    );
    expect(endpointFor('wss://x/v1/opamp', Transport.HTTP)).toBe('https://x/v1/opamp');
    expect(endpointFor('wss://x/v1/opamp', Transport.WEBSOCKET)).toBe('wss://x/v1/opamp');
    expect(endpointFor('https://x/v1/opamp', Transport.WEBSOCKET)).toBe('wss://x/v1/opamp');
    expect(endpointFor('http://x/v1/opamp', Transport.HTTP)).toBe('http://x/v1/opamp');
  });
});

describe('custom capabilities and messages (§3.10, case 45)', () => {
  const policy = policyWith({ ...POLICY, serverCustomCapabilities: ['com.example.pause'] });

  it('the server list goes out once per session when it has one', () => {
    const r = reply(agent(CAPS.ReportsStatus), { policy });
    expect(r.reply.customCapabilities?.capabilities).toEqual(['com.example.pause']);
    expect(reply(r.state, { policy }).reply.customCapabilities).toBeUndefined();
    expect(reply(agent(CAPS.ReportsStatus)).reply.customCapabilities).toBeUndefined();
  });

  it('one queued message per reply, only for a declared capability; undeclared ones are dropped', () => {
    const s = agent(CAPS.ReportsStatus, { customCapabilities: { capabilities: ['com.example.pause'] } });
    const queued = withCore(s, {
      pendingCustomMessages: [
        {
          $typeName: 'opampcp.fleet.v1.PendingCustomMessage',
          capability: 'com.example.gone',
          type: 't',
          data: hex('00'),
          commandId: 'g',
        },
        {
          $typeName: 'opampcp.fleet.v1.PendingCustomMessage',
          capability: 'com.example.pause',
          type: 'p1',
          data: hex('01'),
          commandId: 'a',
        },
        {
          $typeName: 'opampcp.fleet.v1.PendingCustomMessage',
          capability: 'com.example.pause',
          type: 'p2',
          data: hex('02'),
          commandId: 'b',
        },
      ],
    });
    const r1 = reply(queued);
    expect(r1.reply.customMessage?.type).toBe('p1');
    expect(r1.events.map((e) => e.type)).toEqual(['command_rejected', 'command_sent']);
    const r2 = reply(r1.state);
    expect(r2.reply.customMessage?.type).toBe('p2');
    const r3 = reply(r2.state);
    expect(r3.reply.customMessage).toBeUndefined();
    // the agent removes the capability: nothing is sent any more
    const removed = {
      ...r1.state,
      report: {
        ...r1.state.report,
        customCapabilities: { $typeName: 'opamp.proto.v1.CustomCapabilities' as const, capabilities: [] },
      },
    };
    const r4 = reply(removed);
    expect(r4.reply.customMessage).toBeUndefined();
    expect(r4.state.core.pendingCustomMessages).toEqual([]);
  });
});

describe('ReportAvailableComponents (§3.11, case 44)', () => {
  const AC = CAPS.ReportsStatus | CAPS.ReportsAvailableComponents;

  it('unknown hash → flag 0x2 (once), known hash or full map → no flag, no 0x4000 → never', () => {
    const s = agent(AC, { availableComponents: { hash: hex('aa') } });
    const r = reply(s, { isKnownComponentsHash: () => false });
    expect(r.reply.flags & 0x2n).toBe(0x2n);
    expect(reply(r.state, { isKnownComponentsHash: () => false }).reply.flags & 0x2n).toBe(0n);
    expect(reply(s, { isKnownComponentsHash: () => true }).reply.flags & 0x2n).toBe(0n);
    const full = agent(AC, { availableComponents: { hash: hex('aa'), components: { x: {} } } });
    expect(reply(full, { isKnownComponentsHash: () => false }).reply.flags & 0x2n).toBe(0n);
    const without = agent(CAPS.ReportsStatus, { availableComponents: { hash: hex('aa') } });
    expect(reply(without, { isKnownComponentsHash: () => false }).reply.flags & 0x2n).toBe(0n);
  });
});

describe('agent identification', () => {
  it('an identification reply carries uid, caps, new_instance_uid and optionally ReportFullState only', () => {
    const s = withDesired(agent(CAPS.ReportsStatus | CAPS.AcceptsRemoteConfig | CAPS.ReportsHeartbeat), { a: '1' });
    const newUid = hex('01900000000070008000000000000001');
    const r = reply(s, { assignUid: newUid, fullState: true });
    expect(r.reply.agentIdentification?.newInstanceUid).toEqual(newUid);
    expect(r.reply.flags).toBe(1n);
    expect(r.reply.remoteConfig).toBeUndefined();
    expect(r.reply.connectionSettings).toBeUndefined();
    expect(r.reply.capabilities).toBe(SERVER_CAPABILITIES);
  });
});
