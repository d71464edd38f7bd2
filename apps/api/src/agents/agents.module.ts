import { Module } from '@nestjs/common';
import { ConfigsModule } from '../configs/configs.module.js';
import { AgentConfigController } from './agent-config.controller.js';
import { AgentConfigService } from './agent-config.service.js';
import { AgentForgetService } from './agent-forget.service.js';
import { AgentLabelsService } from './agent-labels.service.js';
import { AgentsController } from './agents.controller.js';
import { AgentsRepository } from './agents.repository.js';
import { AgentsService } from './agents.service.js';
import { FleetSummaryController } from './fleet-summary.controller.js';
import { FleetSummaryService } from './fleet-summary.service.js';

@Module({
  imports: [ConfigsModule],
  controllers: [AgentsController, AgentConfigController, FleetSummaryController],
  providers: [
    AgentsRepository,
    AgentsService,
    AgentConfigService,
    AgentLabelsService,
    AgentForgetService,
    FleetSummaryService,
  ],
  exports: [AgentsService, AgentLabelsService, AgentForgetService, FleetSummaryService],
})
export class AgentsModule {}
