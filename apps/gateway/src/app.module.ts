import { Module, type DynamicModule } from '@nestjs/common';
import { HealthModule } from '@opamp/telemetry';
import { AdmissionService } from './admission/admission.service.js';
import { GatewayBusService } from './bus/gateway-bus.service.js';
import { GATEWAY_CONFIG, type GatewayConfig } from './gateway.config.js';
import { GatewayLifecycle } from './gateway.lifecycle.js';
import { AgentAuthService } from './opamp/agent-auth.service.js';
import { IngressService } from './opamp/ingress.service.js';
import { OpampHttpController } from './opamp/opamp-http.controller.js';
import { OpampHttpService } from './opamp/opamp-http.service.js';
import { OpampWsServer } from './opamp/opamp-ws.server.js';

@Module({})
export class GatewayAppModule {
  static forRoot(config: GatewayConfig): DynamicModule {
    return {
      module: GatewayAppModule,
      imports: [HealthModule],
      controllers: [OpampHttpController],
      providers: [
        { provide: GATEWAY_CONFIG, useValue: config },
        AdmissionService,
        GatewayBusService,
        AgentAuthService,
        IngressService,
        OpampHttpService,
        OpampWsServer,
        GatewayLifecycle,
      ],
    };
  }
}
