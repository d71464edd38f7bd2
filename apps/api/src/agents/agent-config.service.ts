import { Inject, Injectable } from '@nestjs/common';
import { traceparentOf } from '@opamp/telemetry';
import type { AgentConfigState, AgentDesiredConfigService } from '@opamp/rollouts';
import { withConfigProblems } from '../configs/config-problems.js';
import { AGENT_DESIRED_CONFIGS } from '../configs/configs.service.js';
import type { AssignConfigBody } from '../configs/configs.query.js';

export function agentConfigView(s: AgentConfigState) {
  return {
    uid: s.uid,
    agentType: s.agentType,
    desired: s.desired
      ? {
          config: s.desired.config,
          version: s.desired.version,
          hash: s.desired.hash,
          source: s.desired.source,
          rolloutId: s.desired.rolloutId,
          assignedAt: s.desired.assignedAt.toISOString(),
        }
      : null,
    activeRolloutId: s.activeRolloutId,
    quarantine: s.quarantine.map((q) => ({
      hash: q.hash,
      config: q.config,
      version: q.version,
      errorMessage: q.errorMessage,
      reportedAt: q.reportedAt.toISOString(),
      clearedAt: q.clearedAt ? q.clearedAt.toISOString() : null,
      rolloutId: q.rolloutId,
    })),
  };
}

export type AgentConfigView = ReturnType<typeof agentConfigView>;

/** Per-agent config routes over AgentDesiredConfigService: views and problems. */
@Injectable()
export class AgentConfigService {
  constructor(@Inject(AGENT_DESIRED_CONFIGS) private readonly agents: AgentDesiredConfigService) {}

  get(uid: string): Promise<AgentConfigView> {
    return withConfigProblems(async () => agentConfigView(await this.agents.get(uid)));
  }

  assign(uid: string, body: AssignConfigBody): Promise<AgentConfigView & { commandId: string }> {
    return withConfigProblems(async () => {
      const state = await this.agents.assign(uid, { ...body, traceparent: traceparentOf() });
      return { ...agentConfigView(state), commandId: state.commandId };
    });
  }

  unassign(uid: string): Promise<{ uid: string; removed: boolean; commandId: string }> {
    return withConfigProblems(async () => ({ uid, ...(await this.agents.unassign(uid, traceparentOf())) }));
  }

  clearQuarantine(uid: string, hash: string) {
    return withConfigProblems(async () => {
      const r = await this.agents.clearQuarantine(uid, hash, traceparentOf());
      return { ...r, clearedAt: r.clearedAt.toISOString() };
    });
  }
}
