import { Body, Controller, Get, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import { CurrentPrincipal } from '../auth/principal.decorator.js';
import { Audit, RequireRole, type Principal } from '../auth/roles.js';
import type { Page } from '../common/pagination.js';
import { parseCreateEnrollmentTokenBody, parseListEnrollmentTokensQuery } from './enrollment-tokens.query.js';
import { EnrollmentTokensService, type EnrollmentTokenView } from './enrollment-tokens.service.js';

/** Enrollment tokens for agents (docs/enrollment.md). Admins only: a token lets agents in. */
@Controller('api/v1/enrollment-tokens')
export class EnrollmentTokensController {
  constructor(private readonly tokens: EnrollmentTokensService) {}

  /**
   * Body: { name, labels?, expiresAt? (ISO 8601) | ttlSeconds? }. 201 with the token resource and
   * `token`, which is shown only in this reply.
   */
  @Post()
  @RequireRole('admin')
  @Audit({ action: 'enrollment_tokens.create', resourceType: 'enrollment_token' })
  async create(
    @Body() body: unknown,
    @CurrentPrincipal() by: Principal | undefined,
    @Res({ passthrough: true }) res: Response,
  ): Promise<EnrollmentTokenView & { token: string }> {
    const created = await this.tokens.create(parseCreateEnrollmentTokenBody(body), by);
    res.location(`/api/v1/enrollment-tokens/${created.id}`);
    return created;
  }

  /** GET /api/v1/enrollment-tokens?includeRevoked=&limit=&cursor= (oldest first). */
  @Get()
  @RequireRole('admin')
  list(@Query() query: Record<string, unknown>): Promise<Page<EnrollmentTokenView>> {
    return this.tokens.list(parseListEnrollmentTokensQuery(query));
  }

  @Get(':id')
  @RequireRole('admin')
  get(@Param('id') id: string): Promise<EnrollmentTokenView> {
    return this.tokens.get(id);
  }

  /** Idempotent. Gateways close the WS connections the token admitted (4401) and refuse it from then on. */
  @Post(':id/revoke')
  @HttpCode(200)
  @RequireRole('admin')
  @Audit({ action: 'enrollment_tokens.revoke', resourceType: 'enrollment_token', resourceParam: 'id' })
  revoke(@Param('id') id: string, @CurrentPrincipal() by: Principal | undefined): Promise<EnrollmentTokenView> {
    return this.tokens.revoke(id, by);
  }
}
