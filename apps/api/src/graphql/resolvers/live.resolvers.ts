// Subscriptions: each is one subscriber of the live hub (docs/live-updates.md) with its filter.
import { isAgentUid, parseAgentUid, parseSelector } from '../../agents/agents.query.js';
import { isUuid } from '../../commands/commands.query.js';
import { validationProblem } from '../../common/problem.js';
import type { AgentChange, CommandUpdate, LiveFilter, RolloutProgress } from '../../live/live-events.js';
import type { LiveItem } from '../../live/live-subscription.js';
import { isRolloutId } from '../../rollouts/rollouts.query.js';
import { ErrorCode, codedError } from '../errors.js';
import { objectType, type ObjectResolvers, type SubscriptionField } from '../resolver-types.js';
import { orNullWhenGone, type ResolverDeps } from './deps.js';

type WithId<T> = T & { id: string };

/** One event as the subscription field's value; the hub's `end` becomes the operation's last error. */
function eventValue(item: LiveItem): unknown {
  if (item.type === 'end') {
    throw codedError(item.reason === 'slow_consumer' ? ErrorCode.slowConsumer : ErrorCode.unavailable, item.message);
  }
  return { id: item.id, ...item.payload };
}

function optionalText(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

export function subscriptions(d: ResolverDeps): Record<string, SubscriptionField> {
  const subscribe = (filter: LiveFilter) => d.hub.subscribe(filter);
  return {
    agentChanged: {
      subscribe: (_s, a) => {
        const uid = optionalText(a.uid);
        const selector = parseSelector(optionalText(a.selector));
        return subscribe({
          types: new Set(['agent']),
          ...(uid !== undefined ? { agentUid: parseAgentUid(uid) } : {}),
          ...(selector.length > 0 ? { selector } : {}),
        });
      },
      resolve: eventValue,
    },
    rolloutProgress: {
      subscribe: (_s, a) => {
        const id = optionalText(a.id);
        if (id !== undefined && !isRolloutId(id))
          throw validationProblem([{ name: 'id', reason: 'must be a rollout id (a UUID)' }]);
        return subscribe({ types: new Set(['rollout']), ...(id !== undefined ? { rolloutId: id.toLowerCase() } : {}) });
      },
      resolve: eventValue,
    },
    commandUpdated: {
      subscribe: (_s, a) => {
        const uid = optionalText(a.agentUid);
        if (uid !== undefined && !isAgentUid(uid)) {
          throw validationProblem([
            { name: 'agentUid', reason: 'must be an agent uid in canonical 8-4-4-4-12 hex form' },
          ]);
        }
        return subscribe({
          types: new Set(['command']),
          ...(uid !== undefined ? { agentUid: uid.toLowerCase() } : {}),
        });
      },
      resolve: eventValue,
    },
  };
}

export function liveTypes(d: ResolverDeps): Record<string, ObjectResolvers> {
  return {
    AgentChange: objectType<WithId<AgentChange>>(['id', 'agentUid', 'type', 'at', 'data'], {
      agent: (s) => orNullWhenGone(d.agents.get(s.agentUid.toLowerCase())),
    }),
    RolloutProgress: objectType<WithId<RolloutProgress>>(
      ['id', 'rolloutId', 'step', 'at', 'type', 'state', 'stage', 'wave', 'counts', 'reason'],
      { rollout: (s) => orNullWhenGone(d.rollouts.get(s.rolloutId)) },
    ),
    CommandUpdate: objectType<WithId<CommandUpdate>>(
      ['id', 'commandId', 'agentUid', 'kind', 'state', 'reason', 'bulkId', 'at'],
      { command: (s) => (isUuid(s.commandId) ? orNullWhenGone(d.commands.get(s.commandId.toLowerCase())) : null) },
    ),
  };
}
