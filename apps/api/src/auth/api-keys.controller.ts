import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import type { Page } from '../common/pagination.js';
import { ApiKeysService, parseCreateApiKeyBody, type ApiKeyView } from './api-keys.service.js';
import { CurrentPrincipal } from './principal.decorator.js';
import { Audit, RequireRole, type Principal } from './roles.js';

@Controller('api/v1/api-keys')
@RequireRole('admin')
export class ApiKeysController {
  constructor(private readonly keys: ApiKeysService) {}

  /** Body: { name, role, expiresAt? | ttlSeconds?, rateLimitPerMinute? }. 201 with `key`, shown only here. */
  @Post()
  @Audit({ action: 'api_keys.create', resourceType: 'api_key' })
  create(@Body() body: unknown, @CurrentPrincipal() by: Principal): Promise<ApiKeyView & { key: string }> {
    return this.keys.create(parseCreateApiKeyBody(body), by);
  }

  /** GET /api/v1/api-keys?includeRevoked=&limit=&cursor= */
  @Get()
  list(@Query() query: Record<string, unknown>): Promise<Page<ApiKeyView>> {
    return this.keys.list(query);
  }

  @Get(':id')
  get(@Param('id') id: string): Promise<ApiKeyView> {
    return this.keys.get(id);
  }

  /** Idempotent; every api process refuses the key within API_AUTH_CACHE_MS. */
  @Post(':id/revoke')
  @HttpCode(200)
  @Audit({ action: 'api_keys.revoke', resourceType: 'api_key', resourceParam: 'id' })
  revoke(@Param('id') id: string, @CurrentPrincipal() by: Principal): Promise<ApiKeyView> {
    return this.keys.revoke(id, by);
  }
}

@Controller('api/v1/me')
export class MeController {
  /** Who the caller is: id, type, name, role and rate limit. */
  @Get()
  @RequireRole('viewer')
  me(@CurrentPrincipal() principal: Principal): Principal {
    return principal;
  }
}
