import { Module } from '@nestjs/common';
import { AgentCommandsController } from './agent-commands.controller.js';
import { CommandTracker } from './command-tracker.service.js';
import { CommandTypesController } from './command-types.controller.js';
import { CommandTypesService } from './command-types.service.js';
import { CommandsController } from './commands.controller.js';
import { CommandsRepository } from './commands.repository.js';
import { CommandsService } from './commands.service.js';

/**
 * Commands with ids and outcomes (docs/commands.md): restart and custom commands for one agent
 * or a selection, command types, and the tracker that moves commands to their outcome.
 */
@Module({
  controllers: [AgentCommandsController, CommandsController, CommandTypesController],
  providers: [CommandsRepository, CommandsService, CommandTypesService, CommandTracker],
  exports: [CommandsService, CommandTypesService],
})
export class CommandsModule {}
