import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import type { Principal } from './roles.js';

/** Express request after the auth guard ran. */
export type AuthedRequest = Request & { principal?: Principal };

/** The authenticated caller (undefined only on @Public routes). */
export const CurrentPrincipal = createParamDecorator(
  (_data: unknown, ctx: ExecutionContext): Principal | undefined =>
    ctx.switchToHttp().getRequest<AuthedRequest>().principal,
);
