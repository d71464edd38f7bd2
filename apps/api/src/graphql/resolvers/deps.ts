// The services the resolvers are thin over: the same instances the REST controllers use.
import type { AgentLabelsService } from '../../agents/agent-labels.service.js';
import type { AgentsService } from '../../agents/agents.service.js';
import type { CommandsService } from '../../commands/commands.service.js';
import type { ConfigsApiService } from '../../configs/configs.service.js';
import type { LiveHub } from '../../live/live-hub.service.js';
import type { RolloutsService } from '../../rollouts/rollouts.service.js';

export interface ResolverDeps {
  agents: Pick<AgentsService, 'list' | 'get' | 'events'>;
  labels: Pick<AgentLabelsService, 'replace'>;
  commands: Pick<CommandsService, 'restart' | 'customMessage'>;
  configs: Pick<ConfigsApiService, 'create' | 'list' | 'get' | 'addVersion' | 'listVersions' | 'getVersion' | 'diff'>;
  rollouts: Pick<RolloutsService, 'create' | 'list' | 'get' | 'control'>;
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
