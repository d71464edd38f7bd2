// Which agents a rollout may send its config to (docs/rollouts.md "Targets and exclusivity" and
// "Dispatch details"). Pure: the rollout store and follow-new-agents run the agent type rule in
// SQL (they select thousands of agents at once); the engine checks each target with
// skipReasonAtSend right before it sends.
import { AgentCapability, hasCapability } from '@opamp/protocol';

/**
 * `detail` of a target that was not sent because its agent was not connected when its wave reached
 * it. Not a failure: the failure budget never counts it, and follow-new-agents gives such an agent
 * the config once it is connected again (docs/rollouts.md "Follow new agents").
 */
export const OFFLINE_AT_SEND = 'offline at send';

/** Config agent type whose configs go to agents of every type. */
export const GENERIC_AGENT_TYPE = 'generic';

/**
 * True when a config written for `configAgentType` may go to an agent of `agentType`: a `generic`
 * config fits every agent, a `fluentbit`, `fluentd` or `otelcol` config only agents of that type
 * (`agents.agent_type`; an agent whose type could not be recognised is `generic`).
 */
export function configFitsAgentType(configAgentType: string, agentType: string): boolean {
  return configAgentType === GENERIC_AGENT_TYPE || configAgentType === agentType;
}

/** What the engine knows about a target's agent at send time (`agents` row). */
export interface AgentAtSend {
  agentType: string;
  /** AgentCapabilities bit field. */
  capabilities: bigint;
  /** `agents.connection_state`: connected | disconnected | offline. */
  connectionState: string;
  /** Whether the agent has an active (not cleared) quarantine entry for the rollout's hash. */
  quarantined: boolean;
}

/**
 * Why a forward target is skipped instead of sent (becomes its `detail`), or undefined when it is
 * sent. `agent` is null when the agent's row is gone. The first reason wins, in this order: agent
 * forgotten, agent of another type, no AcceptsRemoteConfig, quarantined for the hash, not
 * connected. Only the last one is picked up again later (by follow-new-agents).
 */
export function skipReasonAtSend(agent: AgentAtSend | null, configAgentType: string): string | undefined {
  if (agent === null) return 'agent forgotten';
  if (!configFitsAgentType(configAgentType, agent.agentType)) {
    return `the agent is a ${agent.agentType} agent, the config is for ${configAgentType} agents`;
  }
  if (!hasCapability(agent.capabilities, AgentCapability.AcceptsRemoteConfig)) {
    return 'the agent no longer accepts remote config';
  }
  if (agent.quarantined) return 'the agent reported FAILED for this hash before (quarantined)';
  if (agent.connectionState !== 'connected') return OFFLINE_AT_SEND;
  return undefined;
}
