// JSON representations of agents and their events. bigint never reaches JSON.stringify: 64-bit
// values are rendered as decimal strings here.
import { describeAgentCapabilities } from '@opamp/protocol';

/** An `agents` row as read by AgentsRepository (camelCase aliases of the columns). */
export interface AgentRecord {
  uid: string;
  agentType: string;
  serviceName: string | null;
  serviceVersion: string | null;
  hostName: string | null;
  osType: string | null;
  description: unknown;
  capabilities: bigint;
  health: unknown;
  healthy: boolean | null;
  effectiveConfig: unknown;
  remoteConfigStatus: unknown;
  customCapabilities: string[] | null;
  labels: unknown;
  connectionState: string;
  transport: string | null;
  sequenceNum: bigint | null;
  firstSeenAt: Date;
  lastSeenAt: Date;
  disconnectedAt: Date | null;
  replacedByUid: string | null;
  updatedAt: Date;
  /** The enrollment token the agent enrolled with (docs/enrollment.md); null: none. */
  enrollmentTokenId?: string | null;
}

export interface AgentEventRecord {
  id: bigint;
  type: string;
  at: Date;
  data: unknown;
}

type JsonObject = Record<string, unknown>;

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The uint64 bit field (stored two's complement in BIGINT). */
export function capabilitiesView(raw: bigint): { value: string; hex: string; names: string[] } {
  const caps = BigInt.asUintN(64, raw);
  return { value: caps.toString(), hex: `0x${caps.toString(16)}`, names: describeAgentCapabilities(caps) };
}

export interface DescriptionView {
  identifying: JsonObject;
  nonIdentifying: JsonObject;
}

export function descriptionView(raw: unknown): DescriptionView | null {
  if (!isObject(raw)) return null;
  return {
    identifying: isObject(raw.identifying) ? raw.identifying : {},
    nonIdentifying: isObject(raw.nonIdentifying) ? raw.nonIdentifying : {},
  };
}

export interface ConfigFileView {
  name: string;
  contentType: string;
  /** Size of the file body in bytes. */
  size: number;
  /** How `body` is encoded: utf-8 text, or base64 for bytes that are not valid UTF-8. */
  encoding: 'utf-8' | 'base64';
  body: string;
}

export interface EffectiveConfigView {
  /** Canonical SHA-256 of the config map (hex), as computed by the fleet. */
  hash: string | null;
  files: ConfigFileView[];
}

/** Stored as { hash, configMap: { name: { contentType, body | bodyBase64 } } } by the fleet. */
export function effectiveConfigView(raw: unknown): EffectiveConfigView | null {
  if (!isObject(raw)) return null;
  const map = isObject(raw.configMap) ? raw.configMap : {};
  const files: ConfigFileView[] = [];
  for (const name of Object.keys(map).sort()) {
    const f = map[name];
    if (!isObject(f)) continue;
    const contentType = typeof f.contentType === 'string' ? f.contentType : '';
    if (typeof f.body === 'string') {
      files.push({ name, contentType, size: Buffer.byteLength(f.body, 'utf8'), encoding: 'utf-8', body: f.body });
    } else {
      const b64 = typeof f.bodyBase64 === 'string' ? f.bodyBase64 : '';
      files.push({ name, contentType, size: Buffer.from(b64, 'base64').length, encoding: 'base64', body: b64 });
    }
  }
  return { hash: typeof raw.hash === 'string' ? raw.hash : null, files };
}

export interface RemoteConfigStatusView {
  status: string;
  lastRemoteConfigHash: string;
  errorMessage: string;
}

export function remoteConfigStatusView(raw: unknown): RemoteConfigStatusView | null {
  if (!isObject(raw)) return null;
  return {
    status: typeof raw.status === 'string' ? raw.status : 'UNSET',
    lastRemoteConfigHash: typeof raw.lastRemoteConfigHash === 'string' ? raw.lastRemoteConfigHash : '',
    errorMessage: typeof raw.errorMessage === 'string' ? raw.errorMessage : '',
  };
}

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

/** Compact form for lists. */
export function agentSummaryView(r: AgentRecord) {
  const rcs = remoteConfigStatusView(r.remoteConfigStatus);
  const ec = isObject(r.effectiveConfig) && typeof r.effectiveConfig.hash === 'string' ? r.effectiveConfig.hash : null;
  return {
    uid: r.uid,
    agentType: r.agentType,
    serviceName: r.serviceName,
    serviceVersion: r.serviceVersion,
    hostName: r.hostName,
    osType: r.osType,
    description: descriptionView(r.description),
    labels: isObject(r.labels) ? r.labels : {},
    capabilities: capabilitiesView(r.capabilities),
    healthy: r.healthy,
    connectionState: r.connectionState,
    transport: r.transport,
    remoteConfigStatus: rcs,
    effectiveConfigHash: ec,
    sequenceNum: r.sequenceNum === null ? null : BigInt.asUintN(64, r.sequenceNum).toString(),
    firstSeenAt: iso(r.firstSeenAt),
    lastSeenAt: iso(r.lastSeenAt),
    disconnectedAt: iso(r.disconnectedAt),
  };
}

export type AgentSummaryView = ReturnType<typeof agentSummaryView>;

/** Everything known about one agent. */
export function agentDetailView(r: AgentRecord) {
  const { effectiveConfigHash: _hash, ...summary } = agentSummaryView(r);
  return {
    ...summary,
    health: r.health ?? null,
    effectiveConfig: effectiveConfigView(r.effectiveConfig),
    customCapabilities: r.customCapabilities ?? [],
    replacedByUid: r.replacedByUid,
    enrollmentTokenId: r.enrollmentTokenId ?? null,
    updatedAt: iso(r.updatedAt),
  };
}

export type AgentDetailView = ReturnType<typeof agentDetailView>;

export function agentEventView(e: AgentEventRecord) {
  return { id: e.id.toString(), type: e.type, at: e.at.toISOString(), data: e.data ?? {} };
}

export type AgentEventView = ReturnType<typeof agentEventView>;
