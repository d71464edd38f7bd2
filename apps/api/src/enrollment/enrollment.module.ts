import { Module } from '@nestjs/common';
import { EnrollmentTokenMirrorService } from './enrollment-token-mirror.service.js';
import { EnrollmentTokensController } from './enrollment-tokens.controller.js';
import { EnrollmentTokensService } from './enrollment-tokens.service.js';

/** Enrollment tokens: REST routes and the Redis mirror the gateways read. */
@Module({
  controllers: [EnrollmentTokensController],
  providers: [EnrollmentTokenMirrorService, EnrollmentTokensService],
  exports: [EnrollmentTokensService],
})
export class EnrollmentModule {}
