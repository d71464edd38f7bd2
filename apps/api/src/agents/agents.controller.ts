import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import type { Page } from '../common/pagination.js';
import type { AgentDetailView, AgentEventView, AgentSummaryView } from './agent.view.js';
import { AgentCommandsService, type CommandAccepted } from './agent-commands.service.js';
import { parseAgentUid, parseCustomMessageBody, parseListAgentsQuery } from './agents.query.js';
import { AgentsService } from './agents.service.js';

@Controller('api/v1/agents')
export class AgentsController {
  constructor(
    private readonly agents: AgentsService,
    private readonly commands: AgentCommandsService,
  ) {}

  /** GET /api/v1/agents?selector=&status=&limit=&cursor= */
  @Get()
  list(@Query() query: Record<string, unknown>): Promise<Page<AgentSummaryView>> {
    return this.agents.list(parseListAgentsQuery(query));
  }

  @Get(':uid')
  get(@Param('uid') uid: string): Promise<AgentDetailView> {
    return this.agents.get(parseAgentUid(uid));
  }

  /** GET /api/v1/agents/{uid}/events?limit=&cursor= (newest first) */
  @Get(':uid/events')
  events(@Param('uid') uid: string, @Query() query: Record<string, unknown>): Promise<Page<AgentEventView>> {
    return this.agents.events(parseAgentUid(uid), query);
  }

  @Post(':uid/restart')
  @HttpCode(202)
  restart(@Param('uid') uid: string): Promise<CommandAccepted> {
    return this.commands.restart(parseAgentUid(uid));
  }

  /** Body: { capability, type, data (base64) } */
  @Post(':uid/custom-messages')
  @HttpCode(202)
  customMessage(@Param('uid') uid: string, @Body() body: unknown): Promise<CommandAccepted> {
    const parsedUid = parseAgentUid(uid);
    return this.commands.customMessage(parsedUid, parseCustomMessageBody(body));
  }
}
