import { Body, Controller, Delete, Get, Param, Put, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import type { Page } from '../common/pagination.js';
import { Audit, RequireRole } from '../auth/roles.js';
import type { CommandTypeView } from './command.view.js';
import { parseCommandTypeBody, parseCommandTypePath, parseListCommandTypesQuery } from './commands.query.js';
import { CommandTypesService } from './command-types.service.js';

/** Command types (settings): the schema of a custom command's parameters and its timeout. */
@Controller('api/v1/command-types')
export class CommandTypesController {
  constructor(private readonly types: CommandTypesService) {}

  /** GET /api/v1/command-types?capability= */
  @Get()
  @RequireRole('viewer')
  list(@Query() query: Record<string, unknown>): Promise<Page<CommandTypeView>> {
    return this.types.list(parseListCommandTypesQuery(query));
  }

  /** Body: { description?, parametersSchema, timeoutSeconds? }. 201 when created, 200 when replaced. */
  @Put(':capability/:type')
  @RequireRole('admin')
  @Audit({ action: 'command_types.put', resourceType: 'command_type', resourceParam: ['capability', 'type'] })
  async put(
    @Param('capability') capability: string,
    @Param('type') type: string,
    @Body() body: unknown,
    @Res({ passthrough: true }) res: Response,
  ): Promise<CommandTypeView> {
    const p = parseCommandTypePath(capability, type);
    const { view, created } = await this.types.put(p.capability, p.type, parseCommandTypeBody(body));
    res.status(created ? 201 : 200);
    return view;
  }

  /** 200 with the command type as it was. Commands already sent keep their outcome tracking. */
  @Delete(':capability/:type')
  @RequireRole('admin')
  @Audit({ action: 'command_types.delete', resourceType: 'command_type', resourceParam: ['capability', 'type'] })
  delete(@Param('capability') capability: string, @Param('type') type: string): Promise<CommandTypeView> {
    const p = parseCommandTypePath(capability, type);
    return this.types.delete(p.capability, p.type);
  }
}
