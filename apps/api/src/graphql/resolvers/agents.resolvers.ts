// Agents, their events and labels, forgetting one, the fleet summary, and restart and custom
// messages for one agent.
import type { ForgetResult } from '../../agents/agent-forget.service.js';
import { parseLabelsBody, parseLabelsPatchBody, type AgentLabelsView } from '../../agents/agent-labels.service.js';
import type {
  AgentDetailView,
  AgentEventView,
  AgentSummaryView,
  ConfigFileView,
  DescriptionView,
  EffectiveConfigView,
  RemoteConfigStatusView,
  capabilitiesView,
} from '../../agents/agent.view.js';
import {
  parseAgentUid,
  parseCustomMessageBody,
  parseFleetSummaryQuery,
  parseForceParam,
  parseListAgentsQuery,
} from '../../agents/agents.query.js';
import type { FleetSummary } from '../../agents/fleet-summary.service.js';
import type { Page } from '../../common/pagination.js';
import { objectType, restBody, restQuery, type FieldResolver, type ObjectResolvers } from '../resolver-types.js';
import type { ResolverDeps } from './deps.js';

export function agentQueries(d: ResolverDeps): Record<string, FieldResolver> {
  return {
    agents: (_s, a) => d.agents.list(parseListAgentsQuery(restQuery(a))),
    agent: (_s, a) => d.agents.get(parseAgentUid(String(a.uid))),
    agentEvents: (_s, a) => {
      const { uid, ...page } = a;
      return d.agents.events(parseAgentUid(String(uid)), restQuery(page));
    },
    fleetSummary: (_s, a) => d.fleet.summary(parseFleetSummaryQuery(restQuery(a))),
  };
}

export function agentMutations(d: ResolverDeps): Record<string, FieldResolver> {
  return {
    setAgentLabels: (_s, a) => {
      const uid = parseAgentUid(String(a.uid));
      return d.labels.replace(uid, parseLabelsBody({ labels: a.labels }));
    },
    patchAgentLabels: (_s, a) => {
      const uid = parseAgentUid(String(a.uid));
      return d.labels.patch(uid, parseLabelsPatchBody(restBody({ set: a.set, remove: a.remove })));
    },
    forgetAgent: (_s, a) => {
      const uid = parseAgentUid(String(a.uid));
      return d.forget.forget(uid, parseForceParam(restQuery({ force: a.force }).force));
    },
    restartAgent: (_s, a, ctx) => d.commands.restart(parseAgentUid(String(a.uid)), ctx.principal.id),
    sendCustomMessage: (_s, a, ctx) => {
      const uid = parseAgentUid(String(a.uid));
      const input = parseCustomMessageBody(restBody({ capability: a.capability, type: a.type, data: a.data }));
      return d.commands.customMessage(uid, input, ctx.principal.id);
    },
  };
}

const SUMMARY_FIELDS = [
  'uid',
  'agentType',
  'serviceName',
  'serviceVersion',
  'hostName',
  'osType',
  'description',
  'labels',
  'capabilities',
  'healthy',
  'connectionState',
  'transport',
  'remoteConfigStatus',
  'sequenceNum',
  'firstSeenAt',
  'lastSeenAt',
  'disconnectedAt',
] as const;

export const agentTypes: Record<string, ObjectResolvers> = {
  AgentCapabilities: objectType<ReturnType<typeof capabilitiesView>>(['value', 'hex', 'names']),
  AgentDescription: objectType<DescriptionView>(['identifying', 'nonIdentifying']),
  RemoteConfigStatus: objectType<RemoteConfigStatusView>(['status', 'lastRemoteConfigHash', 'errorMessage']),
  EffectiveConfigFile: objectType<ConfigFileView>(['name', 'contentType', 'size', 'encoding', 'body']),
  EffectiveConfig: objectType<EffectiveConfigView>(['hash', 'files']),
  AgentSummary: objectType<AgentSummaryView>([...SUMMARY_FIELDS, 'effectiveConfigHash']),
  Agent: objectType<AgentDetailView>([
    ...SUMMARY_FIELDS,
    'health',
    'effectiveConfig',
    'customCapabilities',
    'replacedByUid',
    'enrollmentTokenId',
    'updatedAt',
  ]),
  AgentConnection: objectType<Page<AgentSummaryView>>(['items', 'nextCursor']),
  AgentEvent: objectType<AgentEventView>(['id', 'type', 'at', 'data']),
  AgentEventConnection: objectType<Page<AgentEventView>>(['items', 'nextCursor']),
  AgentLabels: objectType<AgentLabelsView>(['uid', 'labels', 'mergedLabels']),
  ForgottenRows: objectType<ForgetResult['deleted']>(['events', 'desiredConfig', 'quarantine']),
  ForgetAgentResult: objectType<ForgetResult>(['uid', 'forgotten', 'wasConnected', 'deleted']),
  FleetStatusCounts: objectType<FleetSummary['status']>(['connected', 'disconnected', 'offline']),
  FleetHealthCounts: objectType<FleetSummary['health']>(['healthy', 'unhealthy', 'unknown']),
  FleetVersionCount: objectType<FleetSummary['versions']['top'][number]>(['serviceName', 'serviceVersion', 'count']),
  FleetVersions: objectType<FleetSummary['versions']>(['top', 'other', 'distinct']),
  FleetConfigHashCount: objectType<FleetSummary['configHashes']['top'][number]>(['hash', 'count']),
  FleetConfigHashes: objectType<FleetSummary['configHashes']>(['top', 'other', 'none', 'distinct']),
  FleetDrift: objectType<FleetSummary['drift']>([
    'inSync',
    'pendingApply',
    'applyFailed',
    'effectiveDiffers',
    'noDesired',
  ]),
  FleetSummary: objectType<FleetSummary>([
    'total',
    'status',
    'health',
    'agentTypes',
    'versions',
    'configHashes',
    'drift',
    'generatedAt',
  ]),
};
