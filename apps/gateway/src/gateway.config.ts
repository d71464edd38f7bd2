import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { bool, commonEnv, int, loadEnv, oneOf, str, type EnvOf } from '@opamp/config';

const MiB = 1024 * 1024;

export const gatewayEnv = {
  ...commonEnv,
  GATEWAY_PORT: int({
    default: 4320,
    min: 0,
    max: 65535,
    description: 'Port for OpAMP (`/v1/opamp`, WS and HTTP) and for /healthz, /readyz, /metrics.',
  }),
  GATEWAY_HOST: str({ default: '0.0.0.0', description: 'Address to bind.' }),
  GATEWAY_ID: str({
    default: '',
    description:
      'Id of this gateway pod; names its outbound stream. Default: hostname plus a random suffix, new on every start.',
  }),
  OPAMP_MAX_MESSAGE_BYTES: int({
    default: 64 * MiB,
    min: 64,
    description:
      'Largest AgentToServer/ServerToAgent accepted or sent, measured after decompression (HTTP 413, WS close 1009).',
  }),
  OPAMP_ENROLLMENT_SECRET: str({
    optional: true,
    description:
      'A shared secret agents may send as `Authorization: Bearer <secret>` instead of an enrollment token. When set, agents without a credential get 401 (as with GATEWAY_AGENT_AUTH=token).',
  }),
  GATEWAY_AGENT_AUTH: oneOf(['open', 'token'] as const, {
    default: 'open',
    description:
      'Agent authentication (docs/enrollment.md). `open`: agents without `Authorization` are admitted; `token`: a usable enrollment token or OPAMP_ENROLLMENT_SECRET is required. In both modes a Bearer that is neither gets 401.',
  }),
  GATEWAY_ADMISSION_RATE: int({
    default: 500,
    min: 1,
    description:
      'New WS connections plus HTTP first contacts admitted per second by this pod (token bucket); beyond it 429 + Retry-After.',
  }),
  GATEWAY_ADMISSION_BURST: int({ default: 1000, min: 1, description: 'Token bucket size for GATEWAY_ADMISSION_RATE.' }),
  GATEWAY_RETRY_AFTER_SECONDS: int({
    default: 30,
    min: 1,
    description:
      'Base Retry-After (seconds) for 429/503 and UNAVAILABLE; jittered by up to +50 % so refused agents spread out.',
  }),
  GATEWAY_MAX_PENDING_MESSAGES: int({
    default: 20_000,
    min: 0,
    description:
      'Messages appended to Redis but not yet answered by the fleet; above it the pod is overloaded (503, UNAVAILABLE + close 1013).',
  }),
  GATEWAY_HTTP_REPLY_TIMEOUT_MS: int({
    default: 10_000,
    min: 100,
    description: 'How long an HTTP poll waits for the fleet reply before the gateway answers 503 + Retry-After.',
  }),
  GATEWAY_PING_INTERVAL_MS: int({
    default: 30_000,
    min: 100,
    description: 'WS ping interval; a socket that misses 2 pongs in a row is terminated (half-open TCP).',
  }),
  GATEWAY_MAX_MALFORMED_IN_A_ROW: int({
    default: 10,
    min: 1,
    description: 'Consecutive malformed WS messages (each answered BAD_REQUEST) before the socket is closed with 1008.',
  }),
  GATEWAY_WS_COMPRESSION: bool({
    default: false,
    description: 'Negotiate permessage-deflate. Off by default: it costs tens of KiB of zlib state per connection.',
  }),
  GATEWAY_DRAIN_TIMEOUT_MS: int({
    default: 10_000,
    min: 0,
    description: 'On SIGTERM: how long to wait for in-flight HTTP requests after closing WS sockets with 1001.',
  }),
};

export type GatewayConfig = EnvOf<typeof gatewayEnv> & { gatewayId: string };

export const GATEWAY_CONFIG = Symbol('GATEWAY_CONFIG');

export function loadGatewayConfig(source: Record<string, string | undefined> = process.env): GatewayConfig {
  const env = loadEnv(gatewayEnv, source);
  const gatewayId = env.GATEWAY_ID || `${hostname()}-${randomBytes(3).toString('hex')}`;
  return { ...env, gatewayId };
}
