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
import { AUDIT_SINK } from './audit/audit-sink.js';
import { AuditService } from './audit/audit.service.js';
import { AuthModule } from './auth/auth.module.js';
import { AuthService } from './auth/auth.service.js';
import { AUTHENTICATOR } from './auth/authenticator.js';
import { CommandsModule } from './commands/commands.module.js';
import { ConfigsModule } from './configs/configs.module.js';
import { EnrollmentModule } from './enrollment/enrollment.module.js';
import { GraphqlModule } from './graphql/graphql.module.js';
import { LiveModule } from './live/live.module.js';
import { OpenApiModule } from './openapi/openapi.module.js';
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
        OpenApiModule,
        AgentsModule,
        CommandsModule,
        ConfigsModule,
        RolloutsModule,
        EnrollmentModule,
        LiveModule,
        GraphqlModule,
      ],
      providers: [
        { provide: API_CONFIG, useValue: config },
        // GraphQL and the live streams authenticate and audit through these (auth/authenticator.ts, audit/audit-sink.ts).
        { provide: AUTHENTICATOR, useExisting: AuthService },
        { provide: AUDIT_SINK, useExisting: AuditService },
        {
          provide: ApiReadiness,
          inject: [HealthService, PrismaService],
          useFactory: (h: HealthService, p: PrismaService) => new ApiReadiness(h, p),
        },
      ],
      exports: [API_CONFIG, AUTHENTICATOR, AUDIT_SINK],
    };
  }
}
