import { Inject, Injectable } from '@nestjs/common';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { GATEWAY_CONFIG, type GatewayConfig } from '../gateway.config.js';

/**
 * Agent authentication at the transport edge: when an enrollment secret is configured, every
 * HTTP request and every WS upgrade must carry `Authorization: Bearer <secret>`. (Per-agent
 * enrollment tokens with revocation come with the API's token model.)
 */
@Injectable()
export class AgentAuthService {
  private readonly expectedDigest: Buffer | undefined;

  constructor(@Inject(GATEWAY_CONFIG) config: GatewayConfig) {
    this.expectedDigest = config.OPAMP_ENROLLMENT_SECRET ? digest(config.OPAMP_ENROLLMENT_SECRET) : undefined;
  }

  isAuthorized(headers: IncomingHttpHeaders): boolean {
    if (!this.expectedDigest) return true;
    const header = headers.authorization;
    if (typeof header !== 'string') return false;
    const match = /^Bearer\s+(.+)$/i.exec(header.trim());
    if (!match?.[1]) return false;
    // Compare fixed-length digests so neither length nor content leaks through timing.
    return timingSafeEqual(digest(match[1]), this.expectedDigest);
  }
}

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();
