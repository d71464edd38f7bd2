// Capability and flag bits as bigint. The wire fields are uint64, which protobuf-es maps to bigint;
// doing bit tests in bigint avoids the 2^53 precision cliff and the 32-bit truncation of `&` on numbers.

/** AgentToServer.capabilities bits (AgentCapabilities). */
export const AgentCapability = Object.freeze({
  ReportsStatus: 0x1n,
  AcceptsRemoteConfig: 0x2n,
  ReportsEffectiveConfig: 0x4n,
  AcceptsPackages: 0x8n,
  ReportsPackageStatuses: 0x10n,
  ReportsOwnTraces: 0x20n,
  ReportsOwnMetrics: 0x40n,
  ReportsOwnLogs: 0x80n,
  AcceptsOpAMPConnectionSettings: 0x100n,
  AcceptsOtherConnectionSettings: 0x200n,
  AcceptsRestartCommand: 0x400n,
  ReportsHealth: 0x800n,
  ReportsRemoteConfig: 0x1000n,
  ReportsHeartbeat: 0x2000n,
  ReportsAvailableComponents: 0x4000n,
  ReportsConnectionSettingsStatus: 0x8000n,
} as const);
export type AgentCapabilityName = keyof typeof AgentCapability;

/** Every agent bit defined by the spec version we implement; anything above is unknown and ignored. */
export const ALL_AGENT_CAPABILITIES = 0xffffn;

/** ServerToAgent.capabilities bits (ServerCapabilities). */
export const ServerCapability = Object.freeze({
  AcceptsStatus: 0x1n,
  OffersRemoteConfig: 0x2n,
  AcceptsEffectiveConfig: 0x4n,
  OffersPackages: 0x8n,
  AcceptsPackagesStatus: 0x10n,
  OffersConnectionSettings: 0x20n,
  AcceptsConnectionSettingsRequest: 0x40n,
} as const);
export type ServerCapabilityName = keyof typeof ServerCapability;

/** Every server bit defined by the spec; a server must never advertise bits outside this mask. */
export const ALL_SERVER_CAPABILITIES = 0x7fn;

/** AgentToServer.flags bits (AgentToServerFlags). */
export const AgentToServerFlag = Object.freeze({
  RequestInstanceUid: 0x1n,
} as const);

/** ServerToAgent.flags bits (ServerToAgentFlags). */
export const ServerToAgentFlag = Object.freeze({
  ReportFullState: 0x1n,
  ReportAvailableComponents: 0x2n,
} as const);

/**
 * What this control plane advertises in every ServerToAgent. Only features we actually implement:
 * status, remote config, effective config, connection settings offers. Packages and the CSR flow are
 * not offered, so their bits stay clear.
 */
export const SERVER_CAPABILITIES: bigint =
  ServerCapability.AcceptsStatus |
  ServerCapability.OffersRemoteConfig |
  ServerCapability.AcceptsEffectiveConfig |
  ServerCapability.OffersConnectionSettings;

/**
 * True when every bit of `bit` is set in `caps`. A zero `bit` is never "had" (0 is the
 * Unspecified value, not a capability). Works for flags too (see {@link hasFlag}).
 */
export function hasCapability(caps: bigint, bit: bigint): boolean {
  return bit !== 0n && (caps & bit) === bit;
}

/** Same test as {@link hasCapability}, named for the flags fields. */
export const hasFlag: (flags: bigint, bit: bigint) => boolean = hasCapability;

function describeBits(value: bigint, table: Readonly<Record<string, bigint>>): string[] {
  const names: string[] = [];
  for (const [name, bit] of Object.entries(table)) {
    if ((value & bit) !== 0n) names.push(name);
  }
  return names;
}

/** Names of the known agent capability bits set in `caps`, in bit order; unknown bits are skipped. */
export function describeAgentCapabilities(caps: bigint): string[] {
  return describeBits(caps, AgentCapability);
}

/** Names of the known server capability bits set in `caps`, in bit order. */
export function describeServerCapabilities(caps: bigint): string[] {
  return describeBits(caps, ServerCapability);
}
