// Status compression (checklist §3.4): the agent may omit any status sub-message that did not
// change since it last reported it, so the server keeps the last value of each and merges:
//  - a present sub-message is complete and replaces the stored one wholesale (no field diffs);
//  - an absent one keeps the stored value;
//  - an empty-but-present one (e.g. `EffectiveConfig{}`) is a real value and replaces;
//  - capabilities == 0 means "unchanged" (bare polls and heartbeats may omit it, §3.20 item 3).
// One deliberate refinement: AvailableComponents carrying only a hash (no components) that equals
// the stored hash keeps the stored components map. A hash-only message is how the agent says
// "still the same set" (§3.11); replacing would throw away the map it sent when asked for it.
import { equals, type DescMessage } from '@bufbuild/protobuf';
import {
  AgentDescriptionSchema,
  AvailableComponentsSchema,
  ComponentHealthSchema,
  ConnectionSettingsStatusSchema,
  CustomCapabilitiesSchema,
  EffectiveConfigSchema,
  PackageStatusesSchema,
  RemoteConfigStatusSchema,
  type AgentReportState,
  type AgentToServer,
} from '@opamp/proto';
import { bytesEqual } from './state.js';

export type ReportPart =
  | 'description'
  | 'capabilities'
  | 'health'
  | 'effectiveConfig'
  | 'remoteConfigStatus'
  | 'packageStatuses'
  | 'customCapabilities'
  | 'availableComponents'
  | 'connectionSettingsStatus';

/** Parts that have a column in Postgres (a change there makes the agent row dirty). */
export const PERSISTED_PARTS: ReadonlySet<ReportPart> = new Set<ReportPart>([
  'description',
  'capabilities',
  'health',
  'effectiveConfig',
  'remoteConfigStatus',
  'customCapabilities',
]);

export interface MergeResult {
  report: AgentReportState;
  /** Parts whose stored value changed (a present-but-identical part is not a change). */
  changes: ReportPart[];
}

type MessagePart = Exclude<ReportPart, 'capabilities'>;

const PART_SCHEMAS: ReadonlyArray<[MessagePart, DescMessage]> = [
  ['description', AgentDescriptionSchema],
  ['health', ComponentHealthSchema],
  ['effectiveConfig', EffectiveConfigSchema],
  ['remoteConfigStatus', RemoteConfigStatusSchema],
  ['packageStatuses', PackageStatusesSchema],
  ['customCapabilities', CustomCapabilitiesSchema],
  ['availableComponents', AvailableComponentsSchema],
  ['connectionSettingsStatus', ConnectionSettingsStatusSchema],
];

/** The sub-message of AgentToServer that feeds each report part (same names except description). */
function incoming(msg: AgentToServer, part: MessagePart): AgentReportState[MessagePart] {
  switch (part) {
    case 'description':
      return msg.agentDescription;
    default:
      return msg[part];
  }
}

/** Merges one AgentToServer into the stored report; never mutates `report` or `msg`. */
export function mergeAgentToServer(report: AgentReportState, msg: AgentToServer): MergeResult {
  const next: AgentReportState = { ...report };
  const changes: ReportPart[] = [];

  if (msg.capabilities !== 0n && msg.capabilities !== report.capabilities) {
    next.capabilities = msg.capabilities;
    changes.push('capabilities');
  }

  for (const [part, schema] of PART_SCHEMAS) {
    let value = incoming(msg, part);
    if (value === undefined) continue;
    const stored = report[part];
    if (part === 'availableComponents' && stored !== undefined) {
      const v = value as NonNullable<AgentReportState['availableComponents']>;
      const s = stored as NonNullable<AgentReportState['availableComponents']>;
      if (Object.keys(v.components).length === 0 && v.hash.length > 0 && bytesEqual(v.hash, s.hash)) {
        value = s;
      }
    }
    if (stored !== undefined && (stored === value || equals(schema, stored as never, value as never))) continue;
    (next as Record<MessagePart, unknown>)[part] = value;
    changes.push(part);
  }
  return { report: next, changes };
}
