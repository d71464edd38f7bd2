import { Module, type DynamicModule } from '@nestjs/common';
import { DatabaseModule } from '@opamp/database';
import { HealthModule } from '@opamp/telemetry';
import { AgentProcessorService } from './agents/agent-processor.service.js';
import { AgentStateStore } from './agents/agent-state.store.js';
import { AgentRepository } from './agents/agent.repository.js';
import { LivenessService } from './agents/liveness.service.js';
import { ShardExecutor } from './agents/shard-executor.js';
import { WriteBehindService } from './agents/write-behind.service.js';
import { GatewayDirectory } from './bus/gateway-directory.js';
import { ShardOwnershipService } from './bus/shard-ownership.service.js';
import { ShardRegistry } from './bus/shard-registry.js';
import { FLEET_CONFIG, FLEET_POLICY, policyFromConfig, type FleetConfig } from './fleet.config.js';
import { FleetLifecycle } from './fleet.lifecycle.js';
import { RedisService } from './infra/redis.service.js';

@Module({})
export class FleetAppModule {
  static forRoot(config: FleetConfig): DynamicModule {
    return {
      module: FleetAppModule,
      imports: [HealthModule, DatabaseModule.forRoot({ url: config.DATABASE_URL })],
      providers: [
        { provide: FLEET_CONFIG, useValue: config },
        { provide: FLEET_POLICY, useValue: policyFromConfig(config) },
        RedisService,
        ShardRegistry,
        ShardExecutor,
        GatewayDirectory,
        AgentRepository,
        AgentStateStore,
        WriteBehindService,
        AgentProcessorService,
        LivenessService,
        ShardOwnershipService,
        FleetLifecycle,
      ],
    };
  }
}
