import {
  Module,
  type BeforeApplicationShutdown,
  type DynamicModule,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { DatabaseModule, PrismaService } from '@opamp/database';
import { HealthModule, HealthService } from '@opamp/telemetry';
import { AgentsModule } from './agents/agents.module.js';
import { API_CONFIG, type ApiConfig } from './api.config.js';
import { AuthModule } from './auth/auth.module.js';
import { ConfigsModule } from './configs/configs.module.js';
import { EnrollmentModule } from './enrollment/enrollment.module.js';
import { BusModule } from './redis/bus.module.js';
import { RolloutsModule } from './rollouts/rollouts.module.js';

/**
 * Registers the Postgres readiness check (Redis registers its own in BusService) and turns
 * readiness off first thing on SIGTERM, so load balancers stop sending requests while we drain.
 */
class ApiReadiness implements OnApplicationBootstrap, BeforeApplicationShutdown {
  constructor(
    private readonly health: HealthService,
    private readonly prisma: PrismaService,
  ) {}

  onApplicationBootstrap(): void {
    this.health.register('postgres', () => this.prisma.isHealthy());
  }

  beforeApplicationShutdown(): void {
    this.health.markShuttingDown();
  }
}

@Module({})
export class ApiAppModule {
  static forRoot(config: ApiConfig): DynamicModule {
    return {
      module: ApiAppModule,
      global: true,
      imports: [
        HealthModule,
        DatabaseModule.forRoot({ url: config.DATABASE_URL, poolSize: config.API_DB_POOL_SIZE }),
        BusModule,
        AuthModule,
        AgentsModule,
        ConfigsModule,
        RolloutsModule,
        EnrollmentModule,
      ],
      providers: [
        { provide: API_CONFIG, useValue: config },
        {
          provide: ApiReadiness,
          inject: [HealthService, PrismaService],
          useFactory: (h: HealthService, p: PrismaService) => new ApiReadiness(h, p),
        },
      ],
      exports: [API_CONFIG],
    };
  }
}
