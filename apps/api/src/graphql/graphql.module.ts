import { Module, RequestMethod, type MiddlewareConsumer, type NestModule } from '@nestjs/common';
import { AgentsModule } from '../agents/agents.module.js';
import { AuthModule } from '../auth/auth.module.js';
import { CommandsModule } from '../commands/commands.module.js';
import { ConfigsModule } from '../configs/configs.module.js';
import { EnrollmentModule } from '../enrollment/enrollment.module.js';
import { LiveModule } from '../live/live.module.js';
import { RolloutsModule } from '../rollouts/rollouts.module.js';
import { GraphqlGate } from './graphql-gate.js';
import { GraphqlHttpMiddleware } from './graphql-http.middleware.js';
import { GraphqlWsServer } from './graphql-ws.server.js';
import { GraphqlService } from './graphql.service.js';

/** GraphQL at /graphql: queries and mutations over HTTP POST, everything over graphql-ws. */
@Module({
  imports: [AuthModule, AgentsModule, CommandsModule, ConfigsModule, RolloutsModule, EnrollmentModule, LiveModule],
  providers: [GraphqlService, GraphqlGate, GraphqlWsServer],
})
export class GraphqlModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(GraphqlHttpMiddleware).forRoutes({ path: 'graphql', method: RequestMethod.ALL });
  }
}
