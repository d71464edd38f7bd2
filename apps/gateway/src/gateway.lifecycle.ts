import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { HealthService, gauge } from '@opamp/telemetry';
import { AdmissionService } from './admission/admission.service.js';
import { GatewayBusService } from './bus/gateway-bus.service.js';
import { OpampHttpService } from './opamp/opamp-http.service.js';

/** Wires admission control to the bus state and exposes readiness and gauges. */
@Injectable()
export class GatewayLifecycle implements OnApplicationBootstrap {
  constructor(
    private readonly admission: AdmissionService,
    private readonly bus: GatewayBusService,
    private readonly http: OpampHttpService,
    private readonly health: HealthService,
  ) {}

  onApplicationBootstrap(): void {
    this.admission.setBusReadiness(() => this.bus.ready);
    this.admission.setPendingCounter(() => this.bus.pending.size);
    this.health.register('accepting', () => !this.admission.isDraining);
    const bus = this.bus;
    const http = this.http;
    gauge(
      'opamp_gateway_pending_replies',
      'Messages appended to the bus and not yet answered by the fleet',
      [],
      function () {
        this.set(bus.pending.size);
      },
    );
    gauge('opamp_gateway_http_in_flight', 'HTTP requests on /v1/opamp being processed', [], function () {
      this.set(http.requestsInFlight);
    });
  }
}
