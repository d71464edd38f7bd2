import { Module } from '@nestjs/common';
import { APP_GUARD, APP_INTERCEPTOR } from '@nestjs/core';
import { AuditController } from '../audit/audit.controller.js';
import { AuditInterceptor } from '../audit/audit.interceptor.js';
import { AuditService } from '../audit/audit.service.js';
import { ApiKeysController, MeController } from './api-keys.controller.js';
import { ApiKeysService } from './api-keys.service.js';
import { AuthGuard } from './auth.guard.js';
import { AuthService } from './auth.service.js';
import { OidcService } from './oidc.service.js';
import { RateLimiter } from './rate-limiter.js';

/** Authentication, roles, rate limits and the audit log for every route of the api. */
@Module({
  controllers: [ApiKeysController, MeController, AuditController],
  providers: [
    ApiKeysService,
    OidcService,
    AuthService,
    RateLimiter,
    AuditService,
    { provide: APP_GUARD, useClass: AuthGuard },
    { provide: APP_INTERCEPTOR, useClass: AuditInterceptor },
  ],
  exports: [AuthService, AuditService, ApiKeysService, RateLimiter],
})
export class AuthModule {}
