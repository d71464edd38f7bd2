import { Module } from '@nestjs/common';
import { BusService } from '../redis/bus.service.js';
import { AgentCommandsService } from './agent-commands.service.js';
import { AgentsController } from './agents.controller.js';
import { AgentsRepository } from './agents.repository.js';
import { AgentsService } from './agents.service.js';

@Module({
  controllers: [AgentsController],
  providers: [AgentsRepository, AgentsService, AgentCommandsService, BusService],
})
export class AgentsModule {}
