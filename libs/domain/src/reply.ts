// Deciding the ServerToAgent for one AgentToServer (checklist §3.1, §3.5–§3.11, §3.16, §3.17).
//
// Every AgentToServer gets exactly one reply; `decideReply` builds it from the difference between
// what the server wants (desired state, one-shot commands, settings) and what the agent reported,
// and returns the bookkeeping that makes the next decision idempotent ("already offered in this
// session", "restart delivered", ...). Rules, in order:
//
//  1. instance_uid = the uid received; capabilities (0x27) in every non-error reply.
//  2. new_instance_uid requested/assigned: the reply carries only identification (+ ReportFullState
//     if needed); everything else waits for the agent's next message under its new uid.
//  3. agent_disconnect: a plain ack (the agent is leaving; nothing is pushed at it).
//  4. A pending restart (only with AcceptsRestartCommand 0x400) is a reply of its own that
//     carries only instance_uid, capabilities and command (§3.9); it is delivered once. Without
//     0x400 it is dropped and recorded as command_rejected.
//  5. flags: ReportFullState per needsFullState; ReportAvailableComponents when the agent (0x4000)
//     reports a components hash the server does not know (asked once per hash and session).
//  6. remote_config per §3.6 [REC]: never without AcceptsRemoteConfig 0x2; never when no config is
//     assigned (no empty config by accident); with ReportsRemoteConfig 0x1000: send iff the
//     reported last_remote_config_hash differs from the desired hash (equal → never, whatever the
//     status: FAILED with the desired hash does not loop), and not while a full report is being
//     requested in this very reply (the reported hash may be stale); without 0x1000: send when
//     the desired hash differs from the last one sent in this session (a session is a WS
//     connection, or for HTTP the span between agent restarts/disconnects).
//  7. connection_settings for agents with ReportsHeartbeat 0x2000: {hash, opamp{destination_endpoint,
//     heartbeat_interval_seconds}} once per session, again when the settings change, or when the
//     agent's ConnectionSettingsStatus in this message reports another hash.
//  8. custom_capabilities (the server's list) once per session when the server has any.
//  9. One queued custom_message per reply, only for a capability the agent currently declares;
//     queued messages for capabilities the agent no longer declares are dropped.
import { create } from '@bufbuild/protobuf';
import { createHash } from 'node:crypto';
import {
  AgentConfigMapSchema,
  AgentIdentificationSchema,
  AgentRemoteConfigSchema,
  CommandType,
  CustomCapabilitiesSchema,
  CustomMessageSchema,
  ServerToAgentCommandSchema,
  ConnectionSettingsOffersSchema,
  RemoteConfigStatuses,
  ServerToAgentSchema,
  Transport,
  type AgentToServer,
  type ConnectionSettingsOffers,
  type ServerToAgent,
} from '@opamp/proto';
import { AgentCapability, ServerToAgentFlag, hasCapability } from '@opamp/protocol';
import { event, type AgentEvent } from './events.js';
import type { FleetPolicy } from './policy.js';
import { bytesEqual, toHex, uidString, type AgentState } from './state.js';

export interface ReplyInput {
  /** The agent's state after merging the message (or, for pushes, the current state). */
  state: AgentState;
  /** The message being answered; undefined for a push (control command). */
  msg: AgentToServer | undefined;
  /** Result of needsFullState for this message. */
  fullState: boolean;
  transport: Transport;
  policy: FleetPolicy;
  nowMs: number;
  /** A new uid for the agent (RequestInstanceUid or duplicate): identification-only reply. */
  assignUid?: Uint8Array;
  /** The message carries agent_disconnect: plain ack. */
  disconnecting?: boolean;
  /** Whether the server already knows the components behind an AvailableComponents hash. */
  isKnownComponentsHash?: (hash: Uint8Array) => boolean;
}

export interface ReplyDecision {
  reply: ServerToAgent;
  /** The state with the "already sent" bookkeeping updated. */
  state: AgentState;
  events: AgentEvent[];
  /** What the reply carries besides uid/capabilities (for metrics and logs). */
  contents: string[];
}

export function decideReply(input: ReplyInput): ReplyDecision {
  const { state, policy, nowMs } = input;
  const uidStr = uidString(state.uid);
  const caps = state.report.capabilities;
  const core = { ...state.core };
  const events: AgentEvent[] = [];
  const contents: string[] = [];
  const reply = create(ServerToAgentSchema, { instanceUid: state.uid, capabilities: policy.serverCapabilities });

  const done = (): ReplyDecision => ({ reply, state: { ...state, core }, events, contents });

  if (input.assignUid) {
    reply.agentIdentification = create(AgentIdentificationSchema, { newInstanceUid: input.assignUid });
    contents.push('agent_identification');
    if (input.fullState) {
      reply.flags |= ServerToAgentFlag.ReportFullState;
      contents.push('report_full_state');
    }
    core.fullStateRequested = input.fullState;
    return done();
  }

  if (input.disconnecting) {
    core.fullStateRequested = false;
    return done();
  }

  if (core.restartPending) {
    core.restartPending = false;
    const commandId = core.restartCommandId;
    core.restartCommandId = '';
    if (hasCapability(caps, AgentCapability.AcceptsRestartCommand)) {
      reply.command = create(ServerToAgentCommandSchema, { type: CommandType.CommandType_Restart });
      contents.push('command');
      core.fullStateRequested = false;
      events.push(event(uidStr, 'command_sent', nowMs, { command: 'restart', commandId, delivery: 'reply' }));
      return done();
    }
    events.push(
      event(uidStr, 'command_rejected', nowMs, {
        command: 'restart',
        commandId,
        reason: 'agent no longer declares AcceptsRestartCommand (0x400)',
      }),
    );
  }

  if (input.fullState) {
    reply.flags |= ServerToAgentFlag.ReportFullState;
    contents.push('report_full_state');
  }
  core.fullStateRequested = input.fullState;

  const components = state.report.availableComponents;
  if (
    hasCapability(caps, AgentCapability.ReportsAvailableComponents) &&
    components !== undefined &&
    components.hash.length > 0 &&
    Object.keys(components.components).length === 0 &&
    !(input.isKnownComponentsHash?.(components.hash) ?? false) &&
    !bytesEqual(core.componentsRequestedHash, components.hash)
  ) {
    reply.flags |= ServerToAgentFlag.ReportAvailableComponents;
    core.componentsRequestedHash = components.hash;
    contents.push('report_available_components');
  }

  const config = decideRemoteConfig(state, { fullStateRequestedNow: input.fullState });
  if (config) {
    reply.remoteConfig = create(AgentRemoteConfigSchema, { config: config.config, configHash: config.configHash });
    if (!bytesEqual(core.lastSentConfigHash, config.configHash)) {
      events.push(event(uidStr, 'remote_config_offered', nowMs, { hash: toHex(config.configHash) }));
    }
    core.lastSentConfigHash = config.configHash;
    core.retryConfigHash = new Uint8Array(0);
    contents.push('remote_config');
  }

  if (hasCapability(caps, AgentCapability.ReportsHeartbeat)) {
    const offer = connectionSettingsOffer(policy, input.transport);
    const reported = input.msg?.connectionSettingsStatus;
    const staleReport =
      reported !== undefined &&
      hasCapability(caps, AgentCapability.ReportsConnectionSettingsStatus) &&
      !bytesEqual(reported.lastConnectionSettingsHash, offer.hash);
    if (!bytesEqual(core.offeredConnectionSettingsHash, offer.hash) || staleReport) {
      reply.connectionSettings = offer;
      core.offeredConnectionSettingsHash = offer.hash;
      contents.push('connection_settings');
    }
  }

  if (policy.serverCustomCapabilities.length > 0) {
    const key = policy.serverCustomCapabilities.join('\n');
    if (core.sentCustomCapabilities !== key) {
      reply.customCapabilities = create(CustomCapabilitiesSchema, {
        capabilities: [...policy.serverCustomCapabilities],
      });
      core.sentCustomCapabilities = key;
      contents.push('custom_capabilities');
    }
  }

  if (core.pendingCustomMessages.length > 0) {
    const declared = new Set(state.report.customCapabilities?.capabilities ?? []);
    const queue = [...core.pendingCustomMessages];
    while (queue.length > 0) {
      const next = queue.shift()!;
      if (declared.has(next.capability)) {
        reply.customMessage = create(CustomMessageSchema, {
          capability: next.capability,
          type: next.type,
          data: next.data,
        });
        contents.push('custom_message');
        events.push(
          event(uidStr, 'command_sent', nowMs, {
            command: 'custom_message',
            commandId: next.commandId,
            capability: next.capability,
            type: next.type,
            delivery: 'reply',
          }),
        );
        break;
      }
      events.push(
        event(uidStr, 'command_rejected', nowMs, {
          command: 'custom_message',
          commandId: next.commandId,
          capability: next.capability,
          type: next.type,
          reason: 'agent no longer declares the capability',
        }),
      );
    }
    core.pendingCustomMessages = queue;
  }

  return done();
}

export interface RemoteConfigChoice {
  configHash: Uint8Array;
  config: NonNullable<NonNullable<AgentState['desired']['config']>['config']>;
}

/**
 * §3.6 [REC] steps 1–5. Returns the config to send, or undefined.
 * `fullStateRequestedNow`: this reply asks for a full report, so the reported hash may be stale.
 */
export function decideRemoteConfig(
  state: AgentState,
  opts: { fullStateRequestedNow: boolean },
): RemoteConfigChoice | undefined {
  const caps = state.report.capabilities;
  if (!hasCapability(caps, AgentCapability.AcceptsRemoteConfig)) return undefined; // step 1
  const desired = state.desired.config;
  if (desired === undefined || desired.configHash.length === 0) return undefined; // step 2
  // Quarantine: the agent reported FAILED for this hash; never offer it again (no resend loop).
  if (state.desired.quarantinedHashes.some((h) => bytesEqual(h, desired.configHash))) return undefined;
  const config = desired.config ?? create(AgentConfigMapSchema);
  // A cleared quarantine asks for one more offer of the same hash, whatever the agent reports.
  if (bytesEqual(state.core.retryConfigHash, desired.configHash)) return { configHash: desired.configHash, config };
  if (hasCapability(caps, AgentCapability.ReportsRemoteConfig)) {
    if (opts.fullStateRequestedNow) return undefined;
    const reported = state.report.remoteConfigStatus?.lastRemoteConfigHash;
    if (bytesEqual(reported, desired.configHash)) return undefined; // step 4 (APPLIED, APPLYING or FAILED)
    return { configHash: desired.configHash, config }; // step 3
  }
  if (bytesEqual(state.core.lastSentConfigHash, desired.configHash)) return undefined; // step 5
  return { configHash: desired.configHash, config };
}

/** True when the agent reported FAILED for exactly the desired hash (surface, do not resend). */
export function desiredConfigFailed(state: AgentState): boolean {
  const status = state.report.remoteConfigStatus;
  const desired = state.desired.config;
  return (
    status !== undefined &&
    desired !== undefined &&
    status.status === RemoteConfigStatuses.RemoteConfigStatuses_FAILED &&
    bytesEqual(status.lastRemoteConfigHash, desired.configHash)
  );
}

/** The OpAMP endpoint offered to an agent, in the scheme of the transport it uses (ws[s] ⇄ http[s]). */
export function endpointFor(publicUrl: string, transport: Transport): string {
  if (transport === Transport.HTTP) return publicUrl.replace(/^ws(s?):\/\//i, (_m, s: string) => `http${s}://`);
  return publicUrl.replace(/^http(s?):\/\//i, (_m, s: string) => `ws${s}://`);
}

// Every message of a heartbeat agent needs the offer's hash; it depends only on the policy and
// the transport, so it is built (and hashed) once per pair. Offers are never mutated.
const offerCache = new WeakMap<FleetPolicy, Map<Transport, ConnectionSettingsOffers>>();

/**
 * ConnectionSettingsOffers for heartbeats: opamp{destination_endpoint, heartbeat_interval_seconds}
 * (always explicit, §3.7 [REC]) with a deterministic, non-empty hash over every offered setting.
 */
export function connectionSettingsOffer(policy: FleetPolicy, transport: Transport): ConnectionSettingsOffers {
  let byTransport = offerCache.get(policy);
  if (!byTransport) offerCache.set(policy, (byTransport = new Map()));
  let offer = byTransport.get(transport);
  if (!offer) byTransport.set(transport, (offer = buildConnectionSettingsOffer(policy, transport)));
  return offer;
}

function buildConnectionSettingsOffer(policy: FleetPolicy, transport: Transport): ConnectionSettingsOffers {
  const endpoint = endpointFor(policy.opampPublicUrl, transport);
  const interval = BigInt(policy.heartbeatIntervalSeconds);
  const hash = createHash('sha256')
    .update(`opamp\0destination_endpoint=${endpoint}\0heartbeat_interval_seconds=${interval}`)
    .digest();
  return create(ConnectionSettingsOffersSchema, {
    hash: new Uint8Array(hash),
    opamp: { destinationEndpoint: endpoint, heartbeatIntervalSeconds: interval },
  });
}
