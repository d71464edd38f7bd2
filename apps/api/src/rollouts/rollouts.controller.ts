import { Body, Controller, Get, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import type { CreatedRollout, RolloutDetail, RolloutSummary } from '@opamp/rollouts';
import { CurrentPrincipal } from '../auth/principal.decorator.js';
import { Audit, RequireRole, type Principal } from '../auth/roles.js';
import type { Page } from '../common/pagination.js';
import { parseControlBody, parseCreateRolloutBody, parseListRolloutsQuery } from './rollouts.query.js';
import { RolloutsService, type DryRunResult } from './rollouts.service.js';

@Controller('api/v1/rollouts')
export class RolloutsController {
  constructor(private readonly rollouts: RolloutsService) {}

  /**
   * Body: { config, version, selector, strategy?, dryRun? }. 201 with the rollout (id, state,
   * plan, …); with dryRun: 200 with the plan, nothing stored.
   */
  @Post()
  @RequireRole('operator')
  @Audit({ action: 'rollouts.create', resourceType: 'rollout' })
  async create(
    @Body() body: unknown,
    @Res({ passthrough: true }) res: Response,
    @CurrentPrincipal() principal: Principal | undefined,
  ): Promise<CreatedRollout | DryRunResult> {
    const parsed = parseCreateRolloutBody(body);
    const result = await this.rollouts.create(parsed, principal?.id);
    res.status(parsed.dryRun ? 200 : 201);
    if (result.id !== null) res.location(`/api/v1/rollouts/${result.id}`);
    return result;
  }

  /** GET /api/v1/rollouts?state=&config=&limit=&cursor= (newest first) */
  @Get()
  @RequireRole('viewer')
  list(@Query() query: Record<string, unknown>): Promise<Page<RolloutSummary>> {
    return this.rollouts.list(parseListRolloutsQuery(query));
  }

  @Get(':id')
  @RequireRole('viewer')
  get(@Param('id') id: string): Promise<RolloutDetail> {
    return this.rollouts.get(id);
  }

  /** Body (optional): { reason }. */
  @Post(':id/pause')
  @HttpCode(200)
  @RequireRole('operator')
  @Audit({ action: 'rollouts.pause', resourceType: 'rollout', resourceParam: 'id' })
  pause(@Param('id') id: string, @Body() body: unknown): Promise<RolloutDetail> {
    return this.rollouts.control(id, 'pause', parseControlBody(body));
  }

  @Post(':id/resume')
  @HttpCode(200)
  @RequireRole('operator')
  @Audit({ action: 'rollouts.resume', resourceType: 'rollout', resourceParam: 'id' })
  resume(@Param('id') id: string, @Body() body: unknown): Promise<RolloutDetail> {
    return this.rollouts.control(id, 'resume', parseControlBody(body));
  }

  @Post(':id/promote')
  @HttpCode(200)
  @RequireRole('operator')
  @Audit({ action: 'rollouts.promote', resourceType: 'rollout', resourceParam: 'id' })
  promote(@Param('id') id: string, @Body() body: unknown): Promise<RolloutDetail> {
    return this.rollouts.control(id, 'promote', parseControlBody(body));
  }

  @Post(':id/abort')
  @HttpCode(200)
  @RequireRole('operator')
  @Audit({ action: 'rollouts.abort', resourceType: 'rollout', resourceParam: 'id' })
  abort(@Param('id') id: string, @Body() body: unknown): Promise<RolloutDetail> {
    return this.rollouts.control(id, 'abort', parseControlBody(body));
  }

  @Post(':id/rollback')
  @HttpCode(200)
  @RequireRole('operator')
  @Audit({ action: 'rollouts.rollback', resourceType: 'rollout', resourceParam: 'id' })
  rollback(@Param('id') id: string, @Body() body: unknown): Promise<RolloutDetail> {
    return this.rollouts.control(id, 'rollback', parseControlBody(body));
  }
}
