// sequence_num and ReportFullState (checklist §3.3 [REC], §3.16, §3.20 items 3 and 6).
//
//   gap      = agent unknown || lastSeq unknown || seq !== lastSeq + 1   (bigint: seq is uint64)
//   complete = the message itself carries every status part the agent's capabilities promise
//   flag     = gap && !complete
//
// A complete message never triggers the flag, so answering ReportFullState with a full report
// cannot loop. A bare poll ({uid} only: seq 0, caps 0, nothing else) from a known agent whose
// stored state is complete is not a gap (§3.20 item 3): a client that never sets seq must not
// cause a ReportFullState storm.
import type { AgentReportState, AgentToServer } from '@opamp/proto';
import { AgentCapability, hasCapability } from '@opamp/protocol';

/** The status parts a report of an agent with `caps` must carry to be complete. */
interface Parts {
  description?: unknown;
  health?: unknown;
  effectiveConfig?: unknown;
  remoteConfigStatus?: unknown;
  packageStatuses?: unknown;
  availableComponents?: unknown;
  connectionSettingsStatus?: unknown;
}

function completeFor(parts: Parts, caps: bigint): boolean {
  const need = (bit: bigint, value: unknown): boolean => !hasCapability(caps, bit) || value !== undefined;
  return (
    parts.description !== undefined &&
    need(AgentCapability.ReportsEffectiveConfig, parts.effectiveConfig) &&
    need(AgentCapability.ReportsRemoteConfig, parts.remoteConfigStatus) &&
    need(AgentCapability.ReportsHealth, parts.health) &&
    need(AgentCapability.ReportsPackageStatuses, parts.packageStatuses) &&
    need(AgentCapability.ReportsAvailableComponents, parts.availableComponents) &&
    need(AgentCapability.ReportsConnectionSettingsStatus, parts.connectionSettingsStatus)
  );
}

/** The capabilities in force for `msg`: its own, or the stored ones when it says 0 (unchanged). */
export function effectiveCapabilities(msg: AgentToServer, storedCaps: bigint): bigint {
  return msg.capabilities !== 0n ? msg.capabilities : storedCaps;
}

/** True when the message alone carries a full status report (§3.3 [REC] step 2). */
export function isCompleteMessage(msg: AgentToServer, caps: bigint): boolean {
  return completeFor({ ...msg, description: msg.agentDescription }, caps);
}

/** True when the merged stored report holds every part the agent's capabilities promise. */
export function isCompleteReport(report: AgentReportState): boolean {
  return completeFor(report, report.capabilities);
}

/** {uid} and nothing else: seq 0, caps 0, flags 0, no sub-message (a legacy bare poll/heartbeat). */
export function isBarePoll(msg: AgentToServer): boolean {
  return (
    msg.sequenceNum === 0n &&
    msg.capabilities === 0n &&
    msg.flags === 0n &&
    msg.agentDescription === undefined &&
    msg.health === undefined &&
    msg.effectiveConfig === undefined &&
    msg.remoteConfigStatus === undefined &&
    msg.packageStatuses === undefined &&
    msg.agentDisconnect === undefined &&
    msg.connectionSettingsRequest === undefined &&
    msg.customCapabilities === undefined &&
    msg.customMessage === undefined &&
    msg.availableComponents === undefined &&
    msg.connectionSettingsStatus === undefined
  );
}

export interface FullStateInput {
  /** The server knows this agent (state loaded from memory, Redis or Postgres). */
  known: boolean;
  /** Last sequence_num received, if known. */
  lastSeq: bigint | undefined;
  msg: AgentToServer;
  /** Stored (merged) report before this message. */
  stored: AgentReportState;
}

/** True when the received seq does not follow the last one (unknown agent or seq included). */
export function isSequenceGap(known: boolean, lastSeq: bigint | undefined, seq: bigint): boolean {
  return !known || lastSeq === undefined || seq !== lastSeq + 1n;
}

/** Whether the reply to `msg` must set ServerToAgentFlags.ReportFullState. */
export function needsFullState({ known, lastSeq, msg, stored }: FullStateInput): boolean {
  if (known && isBarePoll(msg) && isCompleteReport(stored)) return false;
  const gap = isSequenceGap(known, lastSeq, msg.sequenceNum);
  if (!gap) return false;
  return !isCompleteMessage(msg, effectiveCapabilities(msg, stored.capabilities));
}
