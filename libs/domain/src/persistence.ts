// Mapping between the agent state and its Postgres row (table `agents`), and the binary codec of
// the hot state kept in Redis. The JSON shapes of the jsonb columns are part of the contract with
// the API (which reads them):
//   description          { identifying: {k: v}, nonIdentifying: {k: v} }   (AnyValue as plain JSON)
//   health               ComponentHealth in protobuf JSON (camelCase, 64-bit ints as strings,
//                        defaults included): { healthy, startTimeUnixNano, lastError, status,
//                        statusTimeUnixNano, componentHealthMap: {...}, attributes: [...] }
//   effective_config     { hash: hex, configMap: { <file name>: { contentType, body } } } where
//                        body is the UTF-8 text, or bodyBase64 when the bytes are not valid UTF-8
//   remote_config_status { lastRemoteConfigHash: hex, status: UNSET|APPLIED|APPLYING|FAILED, errorMessage }
import { create, fromBinary, fromJson, toBinary, toJson, type JsonValue as PbJson } from '@bufbuild/protobuf';
import {
  AgentConfigMapSchema,
  AgentCoreStateSchema,
  AgentDesiredStateSchema,
  AgentReportStateSchema,
  ComponentHealthSchema,
  ConnectionStatus,
  EffectiveConfigSchema,
  RemoteConfigStatusSchema,
  RemoteConfigStatuses,
  Transport,
  type EffectiveConfig,
  type RemoteConfigStatus,
} from '@opamp/proto';
import { computeConfigHash } from '@opamp/protocol';
import {
  agentTypeOf,
  attributeString,
  descriptionFromJson,
  descriptionToJson,
  type DescriptionJson,
  type JsonValue,
} from './description.js';
import { toHex, uidFromString, uidString, type AgentState } from './state.js';

export function remoteConfigStatusName(s: RemoteConfigStatuses): string {
  switch (s) {
    case RemoteConfigStatuses.RemoteConfigStatuses_APPLIED:
      return 'APPLIED';
    case RemoteConfigStatuses.RemoteConfigStatuses_APPLYING:
      return 'APPLYING';
    case RemoteConfigStatuses.RemoteConfigStatuses_FAILED:
      return 'FAILED';
    default:
      return 'UNSET';
  }
}

function remoteConfigStatusFromName(name: unknown): RemoteConfigStatuses {
  switch (name) {
    case 'APPLIED':
      return RemoteConfigStatuses.RemoteConfigStatuses_APPLIED;
    case 'APPLYING':
      return RemoteConfigStatuses.RemoteConfigStatuses_APPLYING;
    case 'FAILED':
      return RemoteConfigStatuses.RemoteConfigStatuses_FAILED;
    default:
      return RemoteConfigStatuses.RemoteConfigStatuses_UNSET;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export interface EffectiveConfigJson {
  hash: string;
  configMap: { [name: string]: { contentType: string; body?: string; bodyBase64?: string } };
}

export function effectiveConfigToJson(ec: EffectiveConfig): EffectiveConfigJson {
  const files = ec.configMap?.configMap ?? {};
  const configMap: EffectiveConfigJson['configMap'] = {};
  for (const name of Object.keys(files).sort()) {
    const f = files[name]!;
    try {
      configMap[name] = { contentType: f.contentType, body: utf8.decode(f.body) };
    } catch {
      configMap[name] = { contentType: f.contentType, bodyBase64: Buffer.from(f.body).toString('base64') };
    }
  }
  return { hash: toHex(computeConfigHash(ec.configMap ?? create(AgentConfigMapSchema))), configMap };
}

export function effectiveConfigFromJson(j: EffectiveConfigJson): EffectiveConfig {
  const configMap: Record<string, { body: Uint8Array; contentType: string }> = {};
  for (const [name, f] of Object.entries(j.configMap ?? {})) {
    const body =
      f.body !== undefined
        ? new TextEncoder().encode(f.body)
        : Uint8Array.from(Buffer.from(f.bodyBase64 ?? '', 'base64'));
    configMap[name] = { body, contentType: f.contentType ?? '' };
  }
  return create(EffectiveConfigSchema, { configMap: { configMap } });
}

/** Small summary of an effective config for events: file names, sizes and the canonical hash. */
export function effectiveConfigDigest(ec: EffectiveConfig): { [key: string]: JsonValue } {
  const files = ec.configMap?.configMap ?? {};
  return {
    hash: toHex(computeConfigHash(ec.configMap ?? create(AgentConfigMapSchema))),
    files: Object.keys(files)
      .sort()
      .map((name) => ({ name, contentType: files[name]!.contentType, size: files[name]!.body.byteLength })),
  };
}

export interface RemoteConfigStatusJson {
  lastRemoteConfigHash: string;
  status: string;
  errorMessage: string;
}

export function remoteConfigStatusToJson(s: RemoteConfigStatus): RemoteConfigStatusJson {
  return {
    lastRemoteConfigHash: toHex(s.lastRemoteConfigHash),
    status: remoteConfigStatusName(s.status),
    errorMessage: s.errorMessage,
  };
}

export function remoteConfigStatusFromJson(j: RemoteConfigStatusJson): RemoteConfigStatus {
  return create(RemoteConfigStatusSchema, {
    lastRemoteConfigHash: Uint8Array.from(Buffer.from(j.lastRemoteConfigHash ?? '', 'hex')),
    status: remoteConfigStatusFromName(j.status),
    errorMessage: j.errorMessage ?? '',
  });
}

export type ConnectionStateName = 'connected' | 'disconnected' | 'offline';

export function connectionStateName(s: ConnectionStatus): ConnectionStateName {
  switch (s) {
    case ConnectionStatus.DISCONNECTED:
      return 'disconnected';
    case ConnectionStatus.OFFLINE:
      return 'offline';
    default:
      return 'connected';
  }
}

function connectionStatusFromName(s: string): ConnectionStatus {
  return s === 'disconnected'
    ? ConnectionStatus.DISCONNECTED
    : s === 'offline'
      ? ConnectionStatus.OFFLINE
      : ConnectionStatus.CONNECTED;
}

/**
 * One `agents` row as plain JSON, keyed by column name (the batch upsert feeds an array of these
 * to jsonb_to_recordset). 64-bit integers are decimal strings (two's complement into BIGINT:
 * capabilities and sequence_num are uint64 on the wire). `replaces_uid` is not a column: it names
 * the row whose labels a new row inherits (uid reassignment).
 */
export interface AgentRow {
  uid: string;
  agent_type: string;
  service_name: string | null;
  service_version: string | null;
  host_name: string | null;
  os_type: string | null;
  description: DescriptionJson | null;
  capabilities: string;
  health: PbJson | null;
  healthy: boolean | null;
  effective_config: EffectiveConfigJson | null;
  remote_config_status: RemoteConfigStatusJson | null;
  custom_capabilities: string[];
  connection_state: ConnectionStateName;
  transport: 'ws' | 'http' | null;
  sequence_num: string | null;
  first_seen_at: string;
  last_seen_at: string;
  disconnected_at: string | null;
  replaced_by_uid: string | null;
  replaces_uid: string | null;
  /** The enrollment token the agent first arrived with; a new row takes its labels. */
  enrollment_token_id: string | null;
}

const iso = (ms: number): string => new Date(ms).toISOString();
const toInt64 = (v: bigint): string => BigInt.asIntN(64, v).toString();
const fromInt64 = (v: string | number | bigint): bigint => BigInt.asUintN(64, BigInt(v));

export function toAgentRow(state: AgentState): AgentRow {
  const { report, core } = state;
  const d = report.description;
  const lastSeen = core.lastSeenMs || core.firstSeenMs || Date.now();
  return {
    uid: uidString(state.uid),
    agent_type: agentTypeOf(d),
    service_name: attributeString(d, 'service.name') ?? null,
    service_version: attributeString(d, 'service.version') ?? null,
    host_name: attributeString(d, 'host.name') ?? null,
    os_type: attributeString(d, 'os.type') ?? null,
    description: d ? descriptionToJson(d) : null,
    capabilities: toInt64(report.capabilities),
    health: report.health ? toJson(ComponentHealthSchema, report.health, { alwaysEmitImplicit: true }) : null,
    healthy: report.health ? report.health.healthy : null,
    effective_config: report.effectiveConfig ? effectiveConfigToJson(report.effectiveConfig) : null,
    remote_config_status: report.remoteConfigStatus ? remoteConfigStatusToJson(report.remoteConfigStatus) : null,
    custom_capabilities: report.customCapabilities ? [...report.customCapabilities.capabilities] : [],
    connection_state: connectionStateName(core.status),
    transport: core.transport === Transport.HTTP ? 'http' : core.transport === Transport.WEBSOCKET ? 'ws' : null,
    sequence_num: core.lastSeq === undefined ? null : toInt64(core.lastSeq),
    first_seen_at: iso(core.firstSeenMs || lastSeen),
    last_seen_at: iso(lastSeen),
    disconnected_at:
      core.status !== ConnectionStatus.CONNECTED && core.disconnectedAtMs > 0 ? iso(core.disconnectedAtMs) : null,
    replaced_by_uid: core.replacedByUid.length === 16 ? uidString(core.replacedByUid) : null,
    replaces_uid: core.assignedFromUid.length === 16 ? uidString(core.assignedFromUid) : null,
    enrollment_token_id: core.enrollmentTokenId || null,
  };
}

/** The columns read back when neither memory nor Redis has the agent (hot state lost). */
export interface StoredAgentRow {
  uid: string;
  description: unknown;
  capabilities: string | number | bigint;
  health: unknown;
  effective_config: unknown;
  remote_config_status: unknown;
  custom_capabilities: string[] | null;
  connection_state: string;
  transport: string | null;
  sequence_num: string | number | bigint | null;
  first_seen_at: Date | string;
  last_seen_at: Date | string;
  disconnected_at: Date | string | null;
  replaced_by_uid: string | null;
  enrollment_token_id?: string | null;
}

const ms = (v: Date | string): number => (v instanceof Date ? v.getTime() : Date.parse(v));

/**
 * Rebuilds a state from a Postgres row. The result is incomplete on purpose (no package
 * statuses, components, connection settings status, link, desired config) and its sequence
 * number is stale (heartbeats do not write rows), so the agent's next compressed message is a
 * gap and gets ReportFullState: exactly what §3.3 asks after the server lost state.
 */
export function stateFromAgentRow(row: StoredAgentRow): AgentState {
  const uid = uidFromString(row.uid);
  const report = create(AgentReportStateSchema, { capabilities: fromInt64(row.capabilities ?? 0) });
  if (row.description) report.description = descriptionFromJson(row.description as DescriptionJson);
  if (row.health) {
    try {
      report.health = fromJson(ComponentHealthSchema, row.health as PbJson, { ignoreUnknownFields: true });
    } catch {
      // unreadable health: treat as not reported (the agent reports it again)
    }
  }
  if (row.effective_config)
    report.effectiveConfig = effectiveConfigFromJson(row.effective_config as EffectiveConfigJson);
  if (row.remote_config_status)
    report.remoteConfigStatus = remoteConfigStatusFromJson(row.remote_config_status as RemoteConfigStatusJson);
  if (row.custom_capabilities && row.custom_capabilities.length > 0) {
    report.customCapabilities = {
      $typeName: 'opamp.proto.v1.CustomCapabilities',
      capabilities: [...row.custom_capabilities],
    };
  }
  const lastSeenMs = ms(row.last_seen_at);
  const core = create(AgentCoreStateSchema, {
    firstSeenMs: ms(row.first_seen_at),
    lastSeenMs,
    lastPersistedSeenMs: lastSeenMs,
    status: connectionStatusFromName(row.connection_state),
    transport:
      row.transport === 'http' ? Transport.HTTP : row.transport === 'ws' ? Transport.WEBSOCKET : Transport.UNSPECIFIED,
    disconnectedAtMs: row.disconnected_at ? ms(row.disconnected_at) : 0,
    persisted: true,
    replacedByUid: row.replaced_by_uid ? uidFromString(row.replaced_by_uid) : new Uint8Array(0),
    enrollmentTokenId: row.enrollment_token_id ?? '',
  });
  if (row.sequence_num !== null && row.sequence_num !== undefined) core.lastSeq = fromInt64(row.sequence_num);
  return { uid, core, report, desired: create(AgentDesiredStateSchema) };
}

export function encodeCore(state: AgentState): Uint8Array {
  return toBinary(AgentCoreStateSchema, state.core);
}
export function encodeReport(state: AgentState): Uint8Array {
  return toBinary(AgentReportStateSchema, state.report);
}
export function encodeDesired(state: AgentState): Uint8Array {
  return toBinary(AgentDesiredStateSchema, state.desired);
}

/** Decodes the hot state; undefined when there is no core (the agent is not in Redis). */
export function decodeHotState(
  uid: Uint8Array,
  fields: { core?: Uint8Array | null; report?: Uint8Array | null; desired?: Uint8Array | null },
): AgentState | undefined {
  if (!fields.core || fields.core.byteLength === 0) return undefined;
  return {
    uid,
    core: fromBinary(AgentCoreStateSchema, fields.core),
    report: fields.report ? fromBinary(AgentReportStateSchema, fields.report) : create(AgentReportStateSchema),
    desired: fields.desired ? fromBinary(AgentDesiredStateSchema, fields.desired) : create(AgentDesiredStateSchema),
  };
}
