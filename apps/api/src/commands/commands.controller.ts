import { Body, Controller, Get, Param, Post, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import type { Page } from '../common/pagination.js';
import { CurrentPrincipal } from '../auth/principal.decorator.js';
import { Audit, RequireRole, type Principal } from '../auth/roles.js';
import { createdBy } from './agent-commands.controller.js';
import type { CommandView } from './command.view.js';
import { parseBulkBody, parseCommandId, parseListCommandsQuery } from './commands.query.js';
import { CommandsService, type BulkResult, type DryRunResult } from './commands.service.js';

@Controller('api/v1/commands')
export class CommandsController {
  constructor(private readonly commands: CommandsService) {}

  /** GET /api/v1/commands?agent=&state=&kind=&bulkId=&limit=&cursor= (newest first) */
  @Get()
  @RequireRole('viewer')
  list(@Query() query: Record<string, unknown>): Promise<Page<CommandView>> {
    return this.commands.list(parseListCommandsQuery(query));
  }

  /**
   * Body: { selector, command: {kind:'restart'} | {kind:'custom', capability, type, parameters},
   * dryRun? }. 200 with counts for a dry run; else 202 with the bulk id and counts.
   */
  @Post('bulk')
  @RequireRole('operator')
  @Audit({ action: 'commands.bulk', resourceType: 'command' })
  async bulk(
    @Body() body: unknown,
    @CurrentPrincipal() principal: Principal | undefined,
    @Res({ passthrough: true }) res: Response,
  ): Promise<DryRunResult | BulkResult> {
    const input = parseBulkBody(body);
    const result = await this.commands.bulk(input, createdBy(principal));
    res.status(input.dryRun ? 200 : 202);
    return result;
  }

  @Get(':id')
  @RequireRole('viewer')
  get(@Param('id') id: string): Promise<CommandView> {
    return this.commands.get(parseCommandId(id));
  }
}
