import { Module } from '@nestjs/common';
import { PrismaService } from '@opamp/database';
import { AgentDesiredConfigService, ConfigsService, DesiredConfigService } from '@opamp/rollouts';
import { BusService } from '../redis/bus.service.js';
import { ConfigsController } from './configs.controller.js';
import { AGENT_DESIRED_CONFIGS, CONFIGS, ConfigsApiService, DESIRED_CONFIGS } from './configs.service.js';

/**
 * Configs and versions (REST), and the desired-config services the agents routes use for
 * per-agent assignments (exported).
 */
@Module({
  controllers: [ConfigsController],
  providers: [
    {
      provide: CONFIGS,
      inject: [PrismaService],
      useFactory: (prisma: PrismaService) => new ConfigsService({ prisma }),
    },
    {
      provide: DESIRED_CONFIGS,
      inject: [PrismaService, BusService],
      useFactory: (prisma: PrismaService, bus: BusService) =>
        new DesiredConfigService({ prisma, publisher: bus.publisher }),
    },
    {
      provide: AGENT_DESIRED_CONFIGS,
      inject: [PrismaService, DESIRED_CONFIGS],
      useFactory: (prisma: PrismaService, desired: DesiredConfigService) =>
        new AgentDesiredConfigService({ prisma, desired }),
    },
    ConfigsApiService,
  ],
  exports: [CONFIGS, DESIRED_CONFIGS, AGENT_DESIRED_CONFIGS, ConfigsApiService],
})
export class ConfigsModule {}
