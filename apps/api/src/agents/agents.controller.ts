import { Controller, Delete, Get, Param, Query } from '@nestjs/common';
import { Audit, RequireRole } from '../auth/roles.js';
import type { Page } from '../common/pagination.js';
import type { AgentDetailView, AgentEventView, AgentSummaryView } from './agent.view.js';
import { AgentForgetService, type ForgetResult } from './agent-forget.service.js';
import { parseAgentUid, parseForceParam, parseListAgentsQuery } from './agents.query.js';
import { AgentsService } from './agents.service.js';

@Controller('api/v1/agents')
export class AgentsController {
  constructor(
    private readonly agents: AgentsService,
    private readonly forgetting: AgentForgetService,
  ) {}

  /**
   * GET /api/v1/agents?selector=&status=&health=&agentType=&version=&capability=&q=&sort=&limit=&cursor=
   */
  @Get()
  @RequireRole('viewer')
  list(@Query() query: Record<string, unknown>): Promise<Page<AgentSummaryView>> {
    return this.agents.list(parseListAgentsQuery(query));
  }

  @Get(':uid')
  @RequireRole('viewer')
  get(@Param('uid') uid: string): Promise<AgentDetailView> {
    return this.agents.get(parseAgentUid(uid));
  }

  /** Forgets the agent (row, events, desired config, hot state). 409 while connected unless ?force=true. */
  @Delete(':uid')
  @RequireRole('operator')
  @Audit({ action: 'agents.forget', resourceType: 'agent', resourceParam: 'uid' })
  forget(@Param('uid') uid: string, @Query() query: Record<string, unknown>): Promise<ForgetResult> {
    const parsedUid = parseAgentUid(uid);
    return this.forgetting.forget(parsedUid, parseForceParam(query.force));
  }

  /** GET /api/v1/agents/{uid}/events?limit=&cursor= (newest first) */
  @Get(':uid/events')
  @RequireRole('viewer')
  events(@Param('uid') uid: string, @Query() query: Record<string, unknown>): Promise<Page<AgentEventView>> {
    return this.agents.events(parseAgentUid(uid), query);
  }
}
