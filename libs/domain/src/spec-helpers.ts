// Builders shared by the domain unit tests (not exported from the library).
import { create, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import {
  AgentConfigMapSchema,
  AgentToServerSchema,
  ControlCommandSchema,
  Transport,
  type AgentConfigMap,
  type AgentToServer,
  type ControlCommand,
} from '@opamp/proto';
import { AgentCapability, computeConfigHash } from '@opamp/protocol';
import { policyWith, type FleetPolicy } from './policy.js';
import { processAgentToServer, type AgentMessageInput, type AgentMessageResult } from './process.js';
import type { AgentState, Arrival } from './state.js';

export const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
export const UID = hex('0192e3a45b6c7d8e9f0123456789abcd');
export const UID2 = hex('0192e3a45b6c7d8e9f0123456789ffff');

/** The agent capability bits, under the short name the specs use. */
export const CAPS = AgentCapability;

export const POLICY: FleetPolicy = policyWith({ opampPublicUrl: 'ws://opamp.example:4320/v1/opamp' });

export type A2SInit = Exclude<MessageInitShape<typeof AgentToServerSchema>, AgentToServer>;

export const description = (
  name = 'otelcol-contrib',
  extra: Record<string, string> = {},
): A2SInit['agentDescription'] => ({
  identifyingAttributes: [
    { key: 'service.name', value: { value: { case: 'stringValue', value: name } } },
    ...Object.entries(extra).map(([key, v]) => ({ key, value: { value: { case: 'stringValue' as const, value: v } } })),
  ],
  nonIdentifyingAttributes: [
    { key: 'host.name', value: { value: { case: 'stringValue', value: 'host-1' } } },
    { key: 'os.type', value: { value: { case: 'stringValue', value: 'linux' } } },
  ],
});

export function a2s(init: A2SInit = {}): AgentToServer {
  return create(AgentToServerSchema, { instanceUid: UID, ...init });
}

/** A full status report for an agent with `caps` (every part its capabilities promise). */
export function fullReport(seq: bigint, caps: bigint, extra: A2SInit = {}): AgentToServer {
  const init: A2SInit = { sequenceNum: seq, capabilities: caps, agentDescription: description(), ...extra };
  if (caps & CAPS.ReportsEffectiveConfig)
    init.effectiveConfig ??= {
      configMap: { configMap: { 'c.yaml': { body: new TextEncoder().encode('a: 1'), contentType: 'text/yaml' } } },
    };
  if (caps & CAPS.ReportsRemoteConfig) init.remoteConfigStatus ??= {};
  if (caps & CAPS.ReportsHealth) init.health ??= { healthy: true };
  if (caps & CAPS.ReportsPackageStatuses) init.packageStatuses ??= {};
  if (caps & CAPS.ReportsAvailableComponents) init.availableComponents ??= { hash: hex('aa') };
  if (caps & CAPS.ReportsConnectionSettingsStatus) init.connectionSettingsStatus ??= {};
  return a2s(init);
}

export const WS_A: Arrival = { gatewayId: 'gw-a', connectionId: 'c1', transport: Transport.WEBSOCKET, entryId: '' };
export const WS_B: Arrival = { gatewayId: 'gw-b', connectionId: 'c9', transport: Transport.WEBSOCKET, entryId: '' };
export const HTTP: Arrival = { gatewayId: 'gw-a', connectionId: 'h1', transport: Transport.HTTP, entryId: '' };

let uidCounter = 0;
export function fakeUid(): Uint8Array {
  const b = hex('01900000000070008000000000000000');
  b[15] = ++uidCounter & 0xff;
  b[14] = (uidCounter >> 8) & 0xff;
  return b;
}

/** Runs processAgentToServer with sensible defaults; returns the result and the next state. */
export function step(
  prev: AgentState | undefined,
  msg: AgentToServer,
  opts: Partial<Omit<AgentMessageInput, 'prev' | 'msg'>> = {},
): AgentMessageResult & { next: AgentState } {
  const r = processAgentToServer({
    uid: msg.instanceUid,
    prev,
    msg,
    arrival: WS_A,
    receivedAtMs: 0,
    nowMs: 1_000_000,
    recordedLinkAlive: true,
    policy: POLICY,
    newUid: fakeUid,
    ...opts,
  });
  return { ...r, next: r.primary.state };
}

export function configMap(files: Record<string, string>): AgentConfigMap {
  const configMap: Record<string, { body: Uint8Array; contentType: string }> = {};
  for (const [k, v] of Object.entries(files))
    configMap[k] = { body: new TextEncoder().encode(v), contentType: 'text/yaml' };
  return create(AgentConfigMapSchema, { configMap });
}

export function desiredConfigCommand(files: Record<string, string> | undefined, commandId = 'cmd-1'): ControlCommand {
  if (!files)
    return create(ControlCommandSchema, {
      commandId,
      command: { case: 'desiredConfig', value: { configHash: new Uint8Array(0) } },
    });
  const map = configMap(files);
  return create(ControlCommandSchema, {
    commandId,
    command: {
      case: 'desiredConfig',
      value: { configHash: computeConfigHash(map), configMap: toBinary(AgentConfigMapSchema, map) },
    },
  });
}

export const restartCommand = (commandId = 'r-1'): ControlCommand =>
  create(ControlCommandSchema, { commandId, command: { case: 'restart', value: {} } });

export const customMessageCommand = (capability: string, type = 't', data = 'x', commandId = 'm-1'): ControlCommand =>
  create(ControlCommandSchema, {
    commandId,
    command: { case: 'customMessage', value: { capability, type, data: new TextEncoder().encode(data) } },
  });
