import { Body, Controller, HttpCode, Param, Post } from '@nestjs/common';
import { parseAgentUid, parseCustomMessageBody } from '../agents/agents.query.js';
import { CurrentPrincipal } from '../auth/principal.decorator.js';
import { Audit, RequireRole, type Principal } from '../auth/roles.js';
import type { CommandView } from './command.view.js';
import { parseSendCommandBody } from './commands.query.js';
import { CommandsService } from './commands.service.js';

/** `createdBy` of what a request creates: the caller's principal id. */
export const createdBy = (p: Principal | undefined): string | null => p?.id ?? null;

/** Commands addressed to one agent. Each answers 202 with the command resource (docs/commands.md). */
@Controller('api/v1/agents')
export class AgentCommandsController {
  constructor(private readonly commands: CommandsService) {}

  @Post(':uid/restart')
  @HttpCode(202)
  @RequireRole('operator')
  @Audit({ action: 'agents.restart', resourceType: 'agent', resourceParam: 'uid' })
  restart(@Param('uid') uid: string, @CurrentPrincipal() principal?: Principal): Promise<CommandView> {
    return this.commands.restart(parseAgentUid(uid), createdBy(principal));
  }

  /** Body: { capability, type, data (base64) }: opaque data, tracked by capability and type. */
  @Post(':uid/custom-messages')
  @HttpCode(202)
  @RequireRole('operator')
  @Audit({ action: 'agents.custom_message', resourceType: 'agent', resourceParam: 'uid' })
  customMessage(
    @Param('uid') uid: string,
    @Body() body: unknown,
    @CurrentPrincipal() principal?: Principal,
  ): Promise<CommandView> {
    const parsedUid = parseAgentUid(uid);
    return this.commands.customMessage(parsedUid, parseCustomMessageBody(body), createdBy(principal));
  }

  /** Body: { capability, type, parameters }: a custom command of a defined command type. */
  @Post(':uid/commands')
  @HttpCode(202)
  @RequireRole('operator')
  @Audit({ action: 'commands.create', resourceType: 'agent', resourceParam: 'uid' })
  send(
    @Param('uid') uid: string,
    @Body() body: unknown,
    @CurrentPrincipal() principal?: Principal,
  ): Promise<CommandView> {
    const parsedUid = parseAgentUid(uid);
    return this.commands.send(parsedUid, parseSendCommandBody(body), createdBy(principal));
  }
}
