import { Controller, Get, Query } from '@nestjs/common';
import { RequireRole } from '../auth/roles.js';
import { parseFleetSummaryQuery } from './agents.query.js';
import { FleetSummaryService, type FleetSummary } from './fleet-summary.service.js';

/** Fleet-wide counts for dashboards (docs/agents-api.md "Fleet summary"). */
@Controller('api/v1/fleet')
export class FleetSummaryController {
  constructor(private readonly fleet: FleetSummaryService) {}

  /** GET /api/v1/fleet/summary?selector=&top= (top: versions and config hashes listed, 1–100, default 10) */
  @Get('summary')
  @RequireRole('viewer')
  summary(@Query() query: Record<string, unknown>): Promise<FleetSummary> {
    return this.fleet.summary(parseFleetSummaryQuery(query));
  }
}
