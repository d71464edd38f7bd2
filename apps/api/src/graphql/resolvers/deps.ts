// The services the resolvers are thin over: the same instances the REST controllers use.
import type { AgentForgetService } from '../../agents/agent-forget.service.js';
import type { AgentLabelsService } from '../../agents/agent-labels.service.js';
import type { AgentsService } from '../../agents/agents.service.js';
import type { FleetSummaryService } from '../../agents/fleet-summary.service.js';
import type { AuditService } from '../../audit/audit.service.js';
import type { ApiKeysService } from '../../auth/api-keys.service.js';
import type { CommandTypesService } from '../../commands/command-types.service.js';
import type { CommandsService } from '../../commands/commands.service.js';
import type { ConfigsApiService } from '../../configs/configs.service.js';
import type { EnrollmentTokensService } from '../../enrollment/enrollment-tokens.service.js';
import type { LiveHub } from '../../live/live-hub.service.js';
import type { RolloutsService } from '../../rollouts/rollouts.service.js';

export interface ResolverDeps {
  agents: Pick<AgentsService, 'list' | 'get' | 'events'>;
  labels: Pick<AgentLabelsService, 'replace' | 'patch'>;
  forget: Pick<AgentForgetService, 'forget'>;
  fleet: Pick<FleetSummaryService, 'summary'>;
  commands: Pick<CommandsService, 'restart' | 'customMessage' | 'send' | 'bulk' | 'list' | 'get'>;
  commandTypes: Pick<CommandTypesService, 'list' | 'put' | 'delete'>;
  configs: Pick<ConfigsApiService, 'create' | 'list' | 'get' | 'addVersion' | 'listVersions' | 'getVersion' | 'diff'>;
  rollouts: Pick<RolloutsService, 'create' | 'list' | 'get' | 'control'>;
  enrollmentTokens: Pick<EnrollmentTokensService, 'create' | 'list' | 'get' | 'revoke'>;
  apiKeys: Pick<ApiKeysService, 'create' | 'list' | 'get' | 'revoke'>;
  audit: Pick<AuditService, 'list'>;
  hub: Pick<LiveHub, 'subscribe'>;
}

/** A value the field may be null for instead of failing: the resource disappeared (404). */
export async function orNullWhenGone<T>(p: Promise<T>): Promise<T | null> {
  try {
    return await p;
  } catch (err) {
    if ((err as { status?: unknown }).status === 404) return null;
    throw err;
  }
}
