import { Module } from '@nestjs/common';
import { ConfigsModule } from '../configs/configs.module.js';
import { AgentCommandsService } from './agent-commands.service.js';
import { AgentConfigController } from './agent-config.controller.js';
import { AgentConfigService } from './agent-config.service.js';
import { AgentLabelsService } from './agent-labels.service.js';
import { AgentsController } from './agents.controller.js';
import { AgentsRepository } from './agents.repository.js';
import { AgentsService } from './agents.service.js';

@Module({
  imports: [ConfigsModule],
  controllers: [AgentsController, AgentConfigController],
  providers: [AgentsRepository, AgentsService, AgentCommandsService, AgentConfigService, AgentLabelsService],
})
export class AgentsModule {}
