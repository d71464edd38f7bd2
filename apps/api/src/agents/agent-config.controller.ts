import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Put } from '@nestjs/common';
import { Audit, RequireRole } from '../auth/roles.js';
import { parseAssignConfigBody } from '../configs/configs.query.js';
import { validationProblem } from '../common/problem.js';
import { AgentConfigService, type AgentConfigView } from './agent-config.service.js';
import {
  AgentLabelsService,
  parseLabelsBody,
  parseLabelsPatchBody,
  type AgentLabelsView,
} from './agent-labels.service.js';
import { parseAgentUid } from './agents.query.js';

/** An agent's labels and its config: what the api sets on one agent (docs/rollouts.md). */
@Controller('api/v1/agents')
export class AgentConfigController {
  constructor(
    private readonly config: AgentConfigService,
    private readonly labels: AgentLabelsService,
  ) {}

  /** Body: { labels: { key: value } } replaces the API-set labels; answers with them and the merged labels. */
  @Put(':uid/labels')
  @RequireRole('operator')
  @Audit({ action: 'agents.labels.replace', resourceType: 'agent', resourceParam: 'uid' })
  putLabels(@Param('uid') uid: string, @Body() body: unknown): Promise<AgentLabelsView> {
    const parsedUid = parseAgentUid(uid);
    return this.labels.replace(parsedUid, parseLabelsBody(body));
  }

  /** Body: { set?: { key: value }, remove?: [key] }: sets and removes some API labels; answers like PUT. */
  @Patch(':uid/labels')
  @RequireRole('operator')
  @Audit({ action: 'agents.labels.patch', resourceType: 'agent', resourceParam: 'uid' })
  patchLabels(@Param('uid') uid: string, @Body() body: unknown): Promise<AgentLabelsView> {
    const parsedUid = parseAgentUid(uid);
    return this.labels.patch(parsedUid, parseLabelsPatchBody(body));
  }

  /** The agent's desired config, the active rollout targeting it, and its quarantined hashes. */
  @Get(':uid/config')
  @RequireRole('viewer')
  getConfig(@Param('uid') uid: string): Promise<AgentConfigView> {
    return this.config.get(parseAgentUid(uid));
  }

  /** Body: { config, version, clearQuarantine? }: assigns that version to this agent. */
  @Put(':uid/config')
  @RequireRole('operator')
  @Audit({ action: 'agents.config.assign', resourceType: 'agent', resourceParam: 'uid' })
  putConfig(@Param('uid') uid: string, @Body() body: unknown): Promise<AgentConfigView & { commandId: string }> {
    const parsedUid = parseAgentUid(uid);
    return this.config.assign(parsedUid, parseAssignConfigBody(body));
  }

  /** Removes the agent's desired config; it keeps running what it has. */
  @Delete(':uid/config')
  @RequireRole('operator')
  @Audit({ action: 'agents.config.unassign', resourceType: 'agent', resourceParam: 'uid' })
  deleteConfig(@Param('uid') uid: string): Promise<{ uid: string; removed: boolean; commandId: string }> {
    return this.config.unassign(parseAgentUid(uid));
  }

  /** Lifts the agent's quarantine of `hash` and offers it again when it is the desired config. */
  @Post(':uid/config/quarantine/:hash/clear')
  @HttpCode(200)
  @RequireRole('operator')
  @Audit({ action: 'agents.quarantine.clear', resourceType: 'agent', resourceParam: 'uid' })
  clearQuarantine(@Param('uid') uid: string, @Param('hash') hash: string) {
    const parsedUid = parseAgentUid(uid);
    if (!/^[0-9a-fA-F]{64}$/.test(hash)) {
      throw validationProblem([{ name: 'hash', reason: 'must be a config hash: 64 hex characters' }]);
    }
    return this.config.clearQuarantine(parsedUid, hash.toLowerCase());
  }
}
