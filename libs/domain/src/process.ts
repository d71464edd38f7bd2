// Applying one inbound envelope to an agent's state: the whole decision, with no I/O. The fleet
// service loads the state, calls one of these functions, and writes what the result says
// (hot state, events, dirty marker, route, deadline, reply/push, close) atomically.
//
// Duplicate uid policy (checklist §3.14 [REC], §3.20 item 7, case 29). A message for uid U that
// arrives on WebSocket connection B while U's recorded live connection is A (A ≠ B) on a gateway
// that is still alive:
//  - if the message carries identifying attributes that differ from the stored ones, B is a
//    clone (copied VM, bad uid generator): B gets agent_identification.new_instance_uid (a fresh
//    UUIDv7, the same one if B asks again) and a record of its own; U's state is not touched by
//    the clone's message;
//  - otherwise it is the same agent reconnecting: A's gateway is told to close A with 1008
//    ("replaced by a newer connection") and B becomes U's connection.
// Replies always go to the connection the message came on and pushes only to the recorded
// connection, so nothing is ever routed to the wrong socket. HTTP has no live connection: no
// duplicate detection there (an HTTP message clears any recorded WS link).
//
// New uid assignment (RequestInstanceUid, §3.2): the reply to U carries only the identification.
// The new uid N gets a full copy of the state (written to Redis by whoever processes U, so N's
// shard owner finds it) and continues the record: when U had never been seen before (the usual
// temporary uid), U leaves no Postgres row and every event is recorded under N; when U was a
// known agent, U's row is kept with replaced_by_uid = N (and N's row takes U's labels when it is
// first inserted). A repeated request from U gets the same N; N itself never gets another uid.
import { create, fromBinary } from '@bufbuild/protobuf';
import {
  AgentConfigMapSchema,
  AgentIdentificationSchema,
  AgentLinkSchema,
  CommandType,
  CloneAssignmentSchema,
  ConnectionStatus,
  PendingCustomMessageSchema,
  RemoteConfigStatuses,
  ServerToAgentSchema,
  Transport,
  type AgentCoreState,
  type AgentLink,
  type AgentToServer,
  type ControlCommand,
  type ServerToAgent,
} from '@opamp/proto';
import {
  AgentCapability,
  AgentToServerFlag,
  ServerToAgentFlag,
  describeAgentCapabilities,
  hasCapability,
  hasFlag,
} from '@opamp/protocol';
import { agentTypeOf, descriptionToJson, identifyingAttributesDiffer } from './description.js';
import { event, type AgentEvent } from './events.js';
import { needsFullState } from './full-state.js';
import { livenessDeadline } from './liveness.js';
import { PERSISTED_PARTS, mergeAgentToServer, type ReportPart } from './merge.js';
import type { FleetPolicy } from './policy.js';
import { decideRemoteConfig, decideReply } from './reply.js';
import { effectiveConfigDigest, remoteConfigStatusName } from './persistence.js';
import {
  bytesEqual,
  compareStreamIds,
  emptyAgentState,
  hasBeenSeen,
  isWebSocket,
  toHex,
  uidString,
  type AgentState,
  type Arrival,
} from './state.js';

export const CLOSE_REPLACED = { code: 1008, reason: 'replaced by a newer connection' } as const;
const MAX_CLONE_ASSIGNMENTS = 8;
const EMPTY = new Uint8Array(0);

export type RouteAction = { kind: 'set'; link: AgentLink } | { kind: 'delete' } | { kind: 'keep' };

/** Everything the fleet must write for one agent after a decision. */
export interface StateWrite {
  state: AgentState;
  /** Events to append (agent_events). */
  events: AgentEvent[];
  /** The Postgres row must be (re)written: mark the agent dirty for the write-behind. */
  persist: boolean;
  /** The big `report` field changed and must be rewritten. */
  reportChanged: boolean;
  /** The `desired` field changed and must be rewritten. */
  desiredChanged: boolean;
  route: RouteAction;
  /** Liveness deadline to schedule (ms); 0 = remove any. */
  deadlineMs: number;
  /** A throw-away state (temporary uid): let its hot state expire instead of keeping it. */
  ephemeral?: boolean;
}

export type MessageOutcome = 'normal' | 'redelivery' | 'reconnect' | 'clone' | 'uid_assigned';

export interface AgentMessageResult {
  outcome: MessageOutcome;
  /** Writes for the uid the message was about. */
  primary: StateWrite;
  /** Writes for a newly assigned uid (clone or RequestInstanceUid), to be put in that uid's shard. */
  secondary?: StateWrite;
  reply: ServerToAgent;
  /** Close another connection (duplicate uid, reconnect case). */
  closeLink?: { link: AgentLink; code: number; reason: string };
  fullStateRequested: boolean;
  changes: ReportPart[];
  /** AvailableComponents hash whose full map the agent just sent (add to the known set). */
  learnedComponentsHash?: Uint8Array;
  contents: string[];
}

export interface AgentMessageInput {
  uid: Uint8Array;
  /** Stored state (memory, Redis or Postgres), undefined when unknown everywhere. */
  prev: AgentState | undefined;
  msg: AgentToServer;
  arrival: Arrival;
  /** When the gateway received the message (ms); 0 = unknown (use nowMs). */
  receivedAtMs: number;
  nowMs: number;
  /**
   * Whether the gateway of the recorded WS link is alive. Only consulted when the message
   * arrives on another WS connection than the recorded one.
   */
  recordedLinkAlive: boolean;
  policy: FleetPolicy;
  newUid: () => Uint8Array;
  isKnownComponentsHash?: (hash: Uint8Array) => boolean;
}

type LinkLike = Pick<AgentLink, 'gatewayId' | 'connectionId'>;

export function sameLink(a: LinkLike | undefined, b: LinkLike | undefined): boolean {
  if (!a || !b) return a === b;
  return a.gatewayId === b.gatewayId && a.connectionId === b.connectionId;
}

/** True when `prev` has a live WS link different from where `arrival` came from (duplicate check applies). */
export function needsLinkCheck(prev: AgentState | undefined, arrival: Arrival): boolean {
  if (!prev || !isWebSocket(arrival.transport)) return false;
  const link = prev.core.link;
  return link !== undefined && prev.core.status === ConnectionStatus.CONNECTED && !sameLink(link, arrival);
}

function routeFor(prevLink: AgentLink | undefined, link: AgentLink | undefined): RouteAction {
  if (link) return { kind: 'set', link };
  return prevLink ? { kind: 'delete' } : { kind: 'keep' };
}

function ack(uid: Uint8Array, policy: FleetPolicy): ServerToAgent {
  return create(ServerToAgentSchema, { instanceUid: uid, capabilities: policy.serverCapabilities });
}

function identification(uid: Uint8Array, newUid: Uint8Array, policy: FleetPolicy, fullState = false): ServerToAgent {
  const reply = ack(uid, policy);
  reply.agentIdentification = create(AgentIdentificationSchema, { newInstanceUid: newUid });
  if (fullState) reply.flags = ServerToAgentFlag.ReportFullState;
  return reply;
}

function keep(state: AgentState): StateWrite {
  return {
    state,
    events: [],
    persist: false,
    reportChanged: false,
    desiredChanged: false,
    route: { kind: 'keep' },
    deadlineMs: state.core.deadlineMs,
  };
}

/** Events describing what changed in the report. */
function changeEvents(prev: AgentState, next: AgentState, changes: ReportPart[], at: number): AgentEvent[] {
  const uid = uidString(next.uid);
  const out: AgentEvent[] = [];
  const has = (p: ReportPart): boolean => changes.includes(p);
  // First contact: the first_seen event stands for all of it (no "changed from nothing" events).
  if (!hasBeenSeen(prev)) return out;
  if (has('description') && prev.report.description !== undefined && next.report.description) {
    out.push(
      event(uid, 'description_changed', at, {
        agentType: agentTypeOf(next.report.description),
        ...descriptionToJson(next.report.description),
      }),
    );
  }
  if (has('capabilities') && prev.report.capabilities !== 0n) {
    const before = prev.report.capabilities;
    const after = next.report.capabilities;
    out.push(
      event(uid, 'capabilities_changed', at, {
        from: `0x${before.toString(16)}`,
        to: `0x${after.toString(16)}`,
        added: describeAgentCapabilities(after & ~before),
        removed: describeAgentCapabilities(before & ~after),
      }),
    );
  }
  if (has('health') && next.report.health) {
    const before = prev.report.health;
    const after = next.report.health;
    const flipped = before === undefined || before.healthy !== after.healthy;
    // A new start time is a new agent process (a restart, possibly on the same connection when a
    // supervisor restarts its agent): the command tracker completes restart commands with it.
    const restarted =
      before !== undefined &&
      before.startTimeUnixNano !== 0n &&
      after.startTimeUnixNano !== 0n &&
      before.startTimeUnixNano !== after.startTimeUnixNano;
    if (flipped || restarted) {
      out.push(
        event(uid, 'health_changed', at, {
          healthy: after.healthy,
          lastError: after.lastError,
          status: after.status,
          ...(after.startTimeUnixNano !== 0n ? { startTimeMs: Number(after.startTimeUnixNano / 1_000_000n) } : {}),
          ...(restarted ? { restarted: true } : {}),
        }),
      );
    }
  }
  if (has('effectiveConfig') && next.report.effectiveConfig) {
    out.push(event(uid, 'effective_config_changed', at, effectiveConfigDigest(next.report.effectiveConfig)));
  }
  if (has('remoteConfigStatus') && next.report.remoteConfigStatus) {
    const s = next.report.remoteConfigStatus;
    out.push(
      event(uid, 'remote_config_status_changed', at, {
        status: remoteConfigStatusName(s.status),
        hash: toHex(s.lastRemoteConfigHash),
        errorMessage: s.errorMessage,
      }),
    );
  }
  return out;
}

function customMessageEvent(uid: Uint8Array, msg: AgentToServer, policy: FleetPolicy, at: number): AgentEvent[] {
  const cm = msg.customMessage;
  if (!cm || !policy.serverCustomCapabilities.includes(cm.capability)) return [];
  const data: AgentEvent['data'] = { capability: cm.capability, type: cm.type, size: cm.data.byteLength };
  if (cm.data.byteLength <= policy.maxEventDataBytes) data.data = Buffer.from(cm.data).toString('base64');
  return [event(uidString(uid), 'custom_message_received', at, data)];
}

export function processAgentToServer(input: AgentMessageInput): AgentMessageResult {
  const { prev, msg, arrival, policy, nowMs } = input;
  const uid = input.uid;
  const uidStr = uidString(uid);
  const known = hasBeenSeen(prev);
  const base = prev ?? emptyAgentState(uid);
  const ws = isWebSocket(arrival.transport);
  const arrivalLink = ws
    ? create(AgentLinkSchema, { gatewayId: arrival.gatewayId, connectionId: arrival.connectionId })
    : undefined;
  const lastSeenMs = input.receivedAtMs > 0 ? input.receivedAtMs : nowMs;
  const requestsUid =
    hasFlag(msg.flags, AgentToServerFlag.RequestInstanceUid) && base.core.assignedFromUid.length === 0;

  // Redelivery of an envelope already applied (crash between the state write and the ack): its
  // effects, reply included, are already durable; answer again without applying it twice.
  if (
    prev &&
    arrival.entryId &&
    prev.core.lastEntryId &&
    compareStreamIds(arrival.entryId, prev.core.lastEntryId) <= 0
  ) {
    const clone = arrivalLink && prev.core.cloneAssignments.find((c) => sameLink(c, arrivalLink));
    let reply: ServerToAgent;
    if (clone) reply = identification(uid, clone.newUid, policy);
    else if (requestsUid && prev.core.assignedUid.length > 0)
      reply = identification(uid, prev.core.assignedUid, policy);
    else {
      reply = ack(uid, policy);
      if (prev.core.fullStateRequested) reply.flags = ServerToAgentFlag.ReportFullState;
    }
    return {
      outcome: 'redelivery',
      primary: keep(prev),
      reply,
      fullStateRequested: prev.core.fullStateRequested,
      changes: [],
      contents: [],
    };
  }

  // A connection already identified as a clone stays one (its later messages may carry no
  // description) until it switches to the uid it was given.
  if (known && arrivalLink && prev.core.cloneAssignments.some((c) => sameLink(c, arrivalLink))) {
    return cloneDetected(input, prev, arrivalLink, lastSeenMs);
  }

  // Duplicate uid on a second live WebSocket connection.
  let closeLink: AgentMessageResult['closeLink'];
  const duplicateEvents: AgentEvent[] = [];
  if (known && needsLinkCheck(prev, arrival) && input.recordedLinkAlive) {
    const recorded = prev.core.link!;
    if (identifyingAttributesDiffer(prev.report.description, msg.agentDescription)) {
      return cloneDetected(input, prev, arrivalLink!, lastSeenMs);
    }
    closeLink = { link: recorded, ...CLOSE_REPLACED };
    duplicateEvents.push(
      event(uidStr, 'duplicate_detected', nowMs, {
        action: 'closed_previous_connection',
        previous: { gatewayId: recorded.gatewayId, connectionId: recorded.connectionId },
        current: { gatewayId: arrival.gatewayId, connectionId: arrival.connectionId },
      }),
    );
  }

  const { report, changes } = mergeAgentToServer(base.report, msg);
  const fullState = needsFullState({ known, lastSeq: base.core.lastSeq, msg, stored: base.report });

  const prevLink = base.core.link;
  const wasConnected = known && base.core.status === ConnectionStatus.CONNECTED;
  const transportChanged = known && base.core.transport !== arrival.transport;
  // A uid the server just assigned has no link until its first message (the gateway only reports
  // closes for uids it has seen on a socket): that first message continues the session.
  const continuing =
    wasConnected && prevLink === undefined && base.core.assignedFromUid.length > 0 && base.core.lastEntryId === '';
  const newLink = ws && !sameLink(prevLink, arrivalLink) && !continuing;
  const restarted = known && base.core.lastSeq !== undefined && msg.sequenceNum < base.core.lastSeq;
  const newSession = !wasConnected || transportChanged || newLink || restarted;
  const disconnecting = msg.agentDisconnect !== undefined;

  const core: AgentCoreState = {
    ...base.core,
    lastSeq: msg.sequenceNum,
    firstSeenMs: known ? base.core.firstSeenMs : lastSeenMs,
    lastSeenMs,
    link: arrivalLink,
    status: ConnectionStatus.CONNECTED,
    transport: arrival.transport,
    lastEntryId: arrival.entryId || base.core.lastEntryId,
    // The first token the agent arrives with stays its token (its labels were inherited from it).
    enrollmentTokenId: base.core.enrollmentTokenId || validTokenId(arrival.enrollmentTokenId),
  };
  if (newSession) {
    core.offeredConnectionSettingsHash = EMPTY;
    core.sentCustomCapabilities = '';
    core.lastSentConfigHash = EMPTY;
    core.componentsRequestedHash = EMPTY;
  }
  if (disconnecting) {
    core.status = ConnectionStatus.DISCONNECTED;
    core.link = undefined;
    core.disconnectedAtMs = nowMs;
  }
  const desired = quarantineFailedHash(base.desired, changes.includes('remoteConfigStatus') ? report : undefined);
  let state: AgentState = { uid, core, report, desired };

  const events: AgentEvent[] = [...duplicateEvents];
  if (!known) {
    events.push(
      event(uidStr, 'first_seen', nowMs, {
        transport: transportName(arrival.transport),
        agentType: agentTypeOf(report.description),
        capabilities: describeAgentCapabilities(report.capabilities),
        ...(report.health ? { healthy: report.health.healthy } : {}),
      }),
    );
  }
  if (!wasConnected || newLink || transportChanged) {
    events.push(
      event(uidStr, 'connected', nowMs, {
        transport: transportName(arrival.transport),
        gatewayId: arrival.gatewayId,
        ...(ws ? { connectionId: arrival.connectionId } : {}),
      }),
    );
  }
  events.push(...changeEvents(base, state, changes, nowMs));
  events.push(...customMessageEvent(uid, msg, policy, nowMs));
  if (disconnecting) events.push(event(uidStr, 'disconnected', nowMs, { reason: 'agent_disconnect' }));

  const learnedComponentsHash =
    changes.includes('availableComponents') &&
    report.availableComponents &&
    report.availableComponents.hash.length > 0 &&
    Object.keys(report.availableComponents.components).length > 0
      ? report.availableComponents.hash
      : undefined;

  if (requestsUid && !disconnecting) {
    return assignUid(input, {
      base,
      state,
      events,
      changes,
      fullState,
      prevLink,
      lastSeenMs,
      learnedComponentsHash,
      closeLink,
    });
  }

  const decision = decideReply({
    state,
    msg,
    fullState,
    transport: arrival.transport,
    policy,
    nowMs,
    disconnecting,
    isKnownComponentsHash: input.isKnownComponentsHash,
  });
  state = decision.state;
  events.push(...decision.events);
  const primary = finish(base, state, events, changes, policy);
  if (desired !== base.desired) primary.desiredChanged = true;
  return {
    outcome: closeLink ? 'reconnect' : 'normal',
    primary: { ...primary, route: routeFor(prevLink, state.core.link) },
    reply: decision.reply,
    closeLink,
    fullStateRequested: fullState,
    changes,
    learnedComponentsHash,
    contents: decision.contents,
  };
}

/** Deadline, persisted markers and the dirty decision for a state that processed a message. */
function finish(
  base: AgentState,
  state: AgentState,
  events: AgentEvent[],
  changes: ReportPart[],
  policy: FleetPolicy,
): StateWrite {
  const deadlineMs = livenessDeadline(state, policy);
  const core = { ...state.core, deadlineMs };
  const persist =
    !base.core.persisted ||
    events.length > 0 ||
    changes.some((c) => PERSISTED_PARTS.has(c)) ||
    base.core.status !== core.status ||
    base.core.transport !== core.transport ||
    base.core.enrollmentTokenId !== core.enrollmentTokenId ||
    !bytesEqual(base.core.replacedByUid, core.replacedByUid) ||
    core.lastSeenMs - base.core.lastPersistedSeenMs >= policy.lastSeenPersistMs;
  if (persist) {
    core.persisted = true;
    core.lastPersistedSeenMs = core.lastSeenMs;
  }
  return {
    state: { ...state, core },
    events,
    persist,
    reportChanged: changes.length > 0,
    desiredChanged: false,
    route: { kind: 'keep' },
    deadlineMs,
  };
}

const TOKEN_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** An enrollment token id as the gateway sent it, or '' when absent or not a UUID (never a failing row). */
function validTokenId(id: string | undefined): string {
  return id !== undefined && TOKEN_ID.test(id) ? id : '';
}

function transportName(t: Transport): string {
  return t === Transport.HTTP ? 'http' : t === Transport.WEBSOCKET ? 'ws' : 'unknown';
}

interface AssignContext {
  base: AgentState;
  state: AgentState;
  events: AgentEvent[];
  changes: ReportPart[];
  fullState: boolean;
  prevLink: AgentLink | undefined;
  lastSeenMs: number;
  learnedComponentsHash: Uint8Array | undefined;
  closeLink: AgentMessageResult['closeLink'];
}

/** RequestInstanceUid: see the header comment. */
function assignUid(input: AgentMessageInput, ctx: AssignContext): AgentMessageResult {
  const { policy, nowMs } = input;
  const { base, state, prevLink, fullState } = ctx;
  const uidStr = uidString(input.uid);
  const known = hasBeenSeen(input.prev);

  if (base.core.assignedUid.length > 0) {
    // A repeated request before the agent switched: same uid again; the new uid's state (owned
    // by its own shard now) is left alone.
    const repeat = { ...base, core: { ...base.core, lastEntryId: state.core.lastEntryId, lastSeenMs: ctx.lastSeenMs } };
    return {
      outcome: 'uid_assigned',
      primary: keep(repeat),
      reply: identification(input.uid, base.core.assignedUid, policy, fullState),
      fullStateRequested: fullState,
      changes: [],
      contents: ['agent_identification'],
    };
  }

  const newUid = input.newUid();
  const newUidStr = uidString(newUid);
  const reply = identification(input.uid, newUid, policy, fullState);

  // The new uid continues the agent: same report, desired state, session and sequence.
  let nextCore: AgentCoreState = {
    ...state.core,
    assignedUid: EMPTY,
    assignedFromUid: input.uid,
    replacedByUid: EMPTY,
    cloneAssignments: [],
    lastEntryId: '', // stream ids of another shard are not comparable
    link: undefined, // set by its first message (see `continuing`)
    persisted: true,
    lastPersistedSeenMs: state.core.lastSeenMs,
    fullStateRequested: fullState,
  };
  const successor: AgentState = { uid: newUid, core: nextCore, report: state.report, desired: state.desired };
  const deadlineMs = livenessDeadline(successor, policy);
  nextCore = { ...nextCore, deadlineMs };
  const secondaryEvents: AgentEvent[] = known
    ? [
        event(newUidStr, 'uid_assigned', nowMs, { from: uidStr, to: newUidStr, reason: 'requested' }),
        event(newUidStr, 'connected', nowMs, {
          transport: transportName(input.arrival.transport),
          gatewayId: input.arrival.gatewayId,
        }),
      ]
    : [
        ...ctx.events.map((e) => ({ ...e, agentUid: newUidStr })),
        event(newUidStr, 'uid_assigned', nowMs, { from: uidStr, to: newUidStr, reason: 'requested' }),
      ];
  const secondary: StateWrite = {
    state: { ...successor, core: nextCore },
    events: secondaryEvents,
    persist: true,
    reportChanged: true,
    desiredChanged: state.desired.config !== undefined,
    route: { kind: 'keep' },
    deadlineMs,
  };

  // The old uid: replaced (known agent, row kept with replaced_by_uid) or a throw-away temporary uid.
  const oldCore: AgentCoreState = {
    ...state.core,
    assignedUid: newUid,
    replacedByUid: known ? newUid : EMPTY,
    link: undefined,
    status: ConnectionStatus.DISCONNECTED,
    disconnectedAtMs: nowMs,
    deadlineMs: 0,
    fullStateRequested: false,
    persisted: known ? true : false,
  };
  const primary: StateWrite = known
    ? {
        state: { ...state, core: { ...oldCore, lastPersistedSeenMs: oldCore.lastSeenMs } },
        events: [
          ...ctx.events,
          event(uidStr, 'uid_assigned', nowMs, { from: uidStr, to: newUidStr, reason: 'requested' }),
        ],
        persist: true,
        reportChanged: ctx.changes.length > 0,
        desiredChanged: false,
        route: prevLink ? { kind: 'delete' } : { kind: 'keep' },
        deadlineMs: 0,
      }
    : {
        state: { ...state, core: oldCore },
        events: [],
        persist: false,
        reportChanged: true,
        desiredChanged: false,
        route: prevLink ? { kind: 'delete' } : { kind: 'keep' },
        deadlineMs: 0,
        ephemeral: true,
      };
  return {
    outcome: 'uid_assigned',
    primary,
    secondary,
    reply,
    closeLink: ctx.closeLink,
    fullStateRequested: fullState,
    changes: ctx.changes,
    learnedComponentsHash: ctx.learnedComponentsHash,
    contents: ['agent_identification'],
  };
}

/** A clone on another live connection: new uid for it, the original is left alone. */
function cloneDetected(
  input: AgentMessageInput,
  prev: AgentState,
  arrivalLink: AgentLink,
  lastSeenMs: number,
): AgentMessageResult {
  const { policy, nowMs, msg } = input;
  const uidStr = uidString(input.uid);
  const existing = prev.core.cloneAssignments.find((c) => sameLink(c, arrivalLink));
  const newUid = existing?.newUid ?? input.newUid();
  const newUidStr = uidString(newUid);
  const reply = identification(input.uid, newUid, policy);
  const core: AgentCoreState = { ...prev.core, lastEntryId: input.arrival.entryId || prev.core.lastEntryId };
  if (existing) {
    return {
      outcome: 'clone',
      primary: keep({ ...prev, core }),
      reply,
      fullStateRequested: false,
      changes: [],
      contents: ['agent_identification'],
    };
  }
  core.cloneAssignments = [
    ...prev.core.cloneAssignments.slice(-(MAX_CLONE_ASSIGNMENTS - 1)),
    create(CloneAssignmentSchema, { gatewayId: arrivalLink.gatewayId, connectionId: arrivalLink.connectionId, newUid }),
  ];
  const primary: StateWrite = {
    state: { ...prev, core },
    events: [
      event(uidStr, 'duplicate_detected', nowMs, {
        action: 'reassigned_clone',
        newUid: newUidStr,
        previous: { gatewayId: prev.core.link?.gatewayId ?? '', connectionId: prev.core.link?.connectionId ?? '' },
        current: { gatewayId: arrivalLink.gatewayId, connectionId: arrivalLink.connectionId },
      }),
    ],
    persist: true,
    reportChanged: false,
    desiredChanged: false,
    route: { kind: 'keep' },
    deadlineMs: prev.core.deadlineMs,
  };

  const fresh = emptyAgentState(newUid);
  const { report } = mergeAgentToServer(fresh.report, msg);
  let cloneState: AgentState = {
    uid: newUid,
    report,
    desired: fresh.desired,
    core: {
      ...fresh.core,
      lastSeq: msg.sequenceNum,
      firstSeenMs: lastSeenMs,
      lastSeenMs,
      status: ConnectionStatus.CONNECTED,
      transport: input.arrival.transport,
      assignedFromUid: input.uid,
      persisted: true,
      lastPersistedSeenMs: lastSeenMs,
      // The clone is another agent: its token is the one its own connection was admitted with.
      enrollmentTokenId: validTokenId(input.arrival.enrollmentTokenId),
    },
  };
  const deadlineMs = livenessDeadline(cloneState, policy);
  cloneState = { ...cloneState, core: { ...cloneState.core, deadlineMs } };
  const secondary: StateWrite = {
    state: cloneState,
    events: [
      event(newUidStr, 'first_seen', nowMs, {
        transport: transportName(input.arrival.transport),
        agentType: agentTypeOf(report.description),
      }),
      event(newUidStr, 'connected', nowMs, {
        transport: transportName(input.arrival.transport),
        gatewayId: arrivalLink.gatewayId,
        connectionId: arrivalLink.connectionId,
      }),
      event(newUidStr, 'uid_assigned', nowMs, { from: uidStr, to: newUidStr, reason: 'duplicate' }),
    ],
    persist: true,
    reportChanged: true,
    desiredChanged: false,
    route: { kind: 'keep' },
    deadlineMs,
  };
  return {
    outcome: 'clone',
    primary,
    secondary,
    reply,
    fullStateRequested: false,
    changes: [],
    contents: ['agent_identification'],
  };
}

/** A WS connection closed (gateway report). Only the agent's current connection counts. */
export function processConnectionClosed(
  prev: AgentState | undefined,
  closed: { gatewayId: string; connectionId: string; code: number; reason: string },
  nowMs: number,
): StateWrite | undefined {
  if (!prev || !prev.core.link || !sameLink(prev.core.link, closed)) return undefined;
  const core: AgentCoreState = {
    ...prev.core,
    link: undefined,
    status: ConnectionStatus.DISCONNECTED,
    disconnectedAtMs: nowMs,
    deadlineMs: 0,
    persisted: true,
  };
  return {
    state: { ...prev, core },
    events: [
      event(uidString(prev.uid), 'disconnected', nowMs, {
        reason: 'connection_closed',
        code: closed.code,
        closeReason: closed.reason,
      }),
    ],
    persist: true,
    reportChanged: false,
    desiredChanged: false,
    route: { kind: 'delete' },
    deadlineMs: 0,
  };
}

export interface ControlInput {
  uid: Uint8Array;
  prev: AgentState | undefined;
  command: ControlCommand;
  nowMs: number;
  /** The gateway of the agent's recorded WS link is alive (a push can be delivered now). */
  linkAlive: boolean;
  policy: FleetPolicy;
}

export interface ControlResult {
  /** undefined: nothing to write (e.g. a command for an unknown agent was refused). */
  write?: StateWrite;
  /** A ServerToAgent to push now on the agent's recorded link. */
  push?: { link: AgentLink; message: ServerToAgent };
  /** Set when the command was refused (also recorded as a command_rejected event when possible). */
  rejected?: string;
  kind: 'restart' | 'custom_message' | 'desired_config' | 'unknown';
}

/** A control command (api, rollout worker): update desired/pending state, push on a live WS link. */
export function processControl(input: ControlInput): ControlResult {
  const { prev, command, nowMs, policy } = input;
  const c = command.command;
  const kind: ControlResult['kind'] =
    c.case === 'restart'
      ? 'restart'
      : c.case === 'customMessage'
        ? 'custom_message'
        : c.case === 'desiredConfig'
          ? 'desired_config'
          : 'unknown';
  if (c.case === undefined) return { kind, rejected: 'empty control command' };
  // Forgetting deletes state rather than deciding on it: the fleet handles it before calling this.
  if (c.case === 'forget') return { kind, rejected: 'forget is applied by the fleet, not decided here' };

  const seen = hasBeenSeen(prev);
  const state = prev ?? emptyAgentState(input.uid);
  const uidStr = uidString(state.uid);
  const live =
    seen && state.core.status === ConnectionStatus.CONNECTED && state.core.link !== undefined && input.linkAlive;
  const caps = state.report.capabilities;
  const commandId = command.commandId;

  const reject = (reason: string, data: AgentEvent['data'] = {}): ControlResult => {
    if (!seen) return { kind, rejected: reason };
    const write: StateWrite = {
      ...keep(state),
      events: [event(uidStr, 'command_rejected', nowMs, { command: kind, commandId, reason, ...data })],
      persist: true,
    };
    return { kind, rejected: reason, write };
  };
  const coreWrite = (core: AgentCoreState, events: AgentEvent[], extra: Partial<StateWrite> = {}): StateWrite => ({
    ...keep({ ...state, core }),
    events,
    persist: events.length > 0,
    ...extra,
  });

  switch (c.case) {
    case 'restart': {
      if (!seen) return { kind, rejected: 'unknown agent' };
      if (!hasCapability(caps, AgentCapability.AcceptsRestartCommand)) {
        return reject('agent does not accept restart commands (AcceptsRestartCommand 0x400 not set)');
      }
      if (live) {
        const message = create(ServerToAgentSchema, {
          instanceUid: state.uid,
          capabilities: policy.serverCapabilities,
          command: { type: CommandType.CommandType_Restart },
        });
        return {
          kind,
          push: { link: state.core.link!, message },
          write: coreWrite({ ...state.core, restartPending: false, restartCommandId: '' }, [
            event(uidStr, 'command_sent', nowMs, { command: 'restart', commandId, delivery: 'push' }),
          ]),
        };
      }
      return { kind, write: coreWrite({ ...state.core, restartPending: true, restartCommandId: commandId }, []) };
    }
    case 'customMessage': {
      if (!seen) return { kind, rejected: 'unknown agent' };
      const cm = c.value;
      const declared = state.report.customCapabilities?.capabilities ?? [];
      if (!declared.includes(cm.capability)) {
        return reject(`agent does not declare custom capability ${cm.capability}`, {
          capability: cm.capability,
          type: cm.type,
        });
      }
      if (live) {
        const message = create(ServerToAgentSchema, {
          instanceUid: state.uid,
          capabilities: policy.serverCapabilities,
          customMessage: { capability: cm.capability, type: cm.type, data: cm.data },
        });
        return {
          kind,
          push: { link: state.core.link!, message },
          write: coreWrite(state.core, [
            event(uidStr, 'command_sent', nowMs, {
              command: 'custom_message',
              commandId,
              capability: cm.capability,
              type: cm.type,
              delivery: 'push',
            }),
          ]),
        };
      }
      const queue = [
        ...state.core.pendingCustomMessages,
        create(PendingCustomMessageSchema, { capability: cm.capability, type: cm.type, data: cm.data, commandId }),
      ];
      const events: AgentEvent[] = [];
      while (queue.length > policy.maxPendingCustomMessages) {
        const dropped = queue.shift()!;
        events.push(
          event(uidStr, 'command_rejected', nowMs, {
            command: 'custom_message',
            commandId: dropped.commandId,
            capability: dropped.capability,
            type: dropped.type,
            reason: 'pending custom message queue full (oldest dropped)',
          }),
        );
      }
      return { kind, write: coreWrite({ ...state.core, pendingCustomMessages: queue }, events) };
    }
    case 'desiredConfig': {
      const dc = c.value;
      let desired: AgentState['desired'];
      if (dc.configHash.length === 0) {
        desired = { ...state.desired, config: undefined };
      } else {
        let configMap;
        try {
          configMap =
            dc.configMap.length > 0 ? fromBinary(AgentConfigMapSchema, dc.configMap) : create(AgentConfigMapSchema);
        } catch (err) {
          return reject(`desired config map does not decode: ${(err as Error).message}`);
        }
        desired = {
          ...state.desired,
          config: { $typeName: 'opampcp.fleet.v1.DesiredConfig', configHash: dc.configHash, config: configMap },
          quarantinedHashes: dc.clearQuarantine
            ? state.desired.quarantinedHashes.filter((h) => !bytesEqual(h, dc.configHash))
            : state.desired.quarantinedHashes,
        };
      }
      const retry = dc.clearQuarantine && dc.configHash.length > 0;
      const next: AgentState = {
        ...state,
        desired,
        core: retry ? { ...state.core, retryConfigHash: dc.configHash } : state.core,
      };
      const base: StateWrite = { ...keep(next), desiredChanged: true };
      if (live) {
        const choice = decideRemoteConfig(next, { fullStateRequestedNow: false });
        if (choice) {
          const message = create(ServerToAgentSchema, {
            instanceUid: state.uid,
            capabilities: policy.serverCapabilities,
            remoteConfig: { config: choice.config, configHash: choice.configHash },
          });
          const core = { ...next.core, lastSentConfigHash: choice.configHash, retryConfigHash: EMPTY };
          return {
            kind,
            push: { link: state.core.link!, message },
            write: {
              ...base,
              state: { ...next, core },
              events: [
                event(uidStr, 'remote_config_offered', nowMs, {
                  hash: toHex(choice.configHash),
                  delivery: 'push',
                  commandId,
                }),
              ],
              persist: true,
            },
          };
        }
      }
      return { kind, write: base };
    }
  }
}

/** At most this many quarantined hashes are kept per agent (the oldest are forgotten first). */
export const MAX_QUARANTINED_HASHES = 16;

/**
 * Records the hash of a FAILED remote config status in the agent's quarantine (docs/rollouts.md):
 * the fleet never offers it again until a control command clears it. Returns `desired` unchanged
 * (same object) when there is nothing new to record.
 */
export function quarantineFailedHash(
  desired: AgentState['desired'],
  report: AgentState['report'] | undefined,
): AgentState['desired'] {
  const status = report?.remoteConfigStatus;
  if (status?.status !== RemoteConfigStatuses.RemoteConfigStatuses_FAILED) return desired;
  const hash = status.lastRemoteConfigHash;
  if (hash.length === 0 || desired.quarantinedHashes.some((h) => bytesEqual(h, hash))) return desired;
  return { ...desired, quarantinedHashes: [...desired.quarantinedHashes, hash].slice(-MAX_QUARANTINED_HASHES) };
}
