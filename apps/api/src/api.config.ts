import { commonEnv, databaseEnv, int, loadEnv, str, type EnvOf } from '@opamp/config';
import { commandsEnv } from './commands/commands.config.js';

const roleNames = ['viewer', 'operator', 'admin'];

export const apiEnv = {
  ...commonEnv,
  ...databaseEnv,
  ...commandsEnv,
  API_PORT: int({
    default: 8080,
    min: 0,
    max: 65535,
    description: 'Port of the REST API (`/api/v1`), /healthz, /readyz and /metrics.',
  }),
  API_HOST: str({ default: '0.0.0.0', description: 'Address the api binds.' }),
  API_DB_POOL_SIZE: int({ default: 10, min: 1, max: 200, description: 'Postgres connections per api process.' }),
  OPAMP_ADMIN_API_KEY: str({
    optional: true,
    description:
      'The first admin API key (at least 32 characters). Stored hashed at start; replacing it revokes the previous one. `npm start` generates one when unset.',
    check: (v) =>
      v.length >= 32 && /^[\x21-\x7e]+$/.test(v)
        ? undefined
        : 'must be at least 32 printable characters without spaces',
  }),
  API_RATE_LIMIT_PER_MINUTE: int({
    default: 1200,
    min: 0,
    description:
      'Requests per minute per API key or person (all api replicas together; 0: no limit). A key may set its own.',
  }),
  API_AUTH_CACHE_MS: int({
    default: 5000,
    min: 0,
    max: 60_000,
    description:
      'How long a verified API key stays cached per api process; a revocation takes effect within this time.',
  }),
  OIDC_ISSUER: str({
    optional: true,
    description: 'OIDC issuer URL. When set, people may call the API with a JWT from it (`Authorization: Bearer`).',
  }),
  OIDC_AUDIENCE: str({
    optional: true,
    description: 'Required `aud` of OIDC JWTs (required when OIDC_ISSUER is set).',
  }),
  OIDC_JWKS_URL: str({
    optional: true,
    description: "JWKS URL of the issuer; default: the `jwks_uri` of the issuer's /.well-known/openid-configuration.",
  }),
  OIDC_ROLES_CLAIM: str({
    default: 'roles',
    description:
      "JWT claim (string or array; dotted path allowed, e.g. realm_access.roles) holding the person's roles.",
  }),
  OIDC_ROLE_MAP: str({
    default: '',
    description:
      'Claim value → role pairs, e.g. `platform-admins=admin,sre=operator`. Values equal to a role name map to it without an entry. The highest role wins.',
  }),
  OIDC_DEFAULT_ROLE: str({
    optional: true,
    description: 'Role of a valid JWT whose claim maps to no role (unset: such a person gets 403).',
    check: (v) => (roleNames.includes(v) ? undefined : `must be one of ${roleNames.join(', ')}`),
  }),
};

export type ApiConfig = EnvOf<typeof apiEnv>;

export const API_CONFIG = Symbol('API_CONFIG');

export function loadApiConfig(source: Record<string, string | undefined> = process.env): ApiConfig {
  const config = loadEnv(apiEnv, source);
  if (config.OIDC_ISSUER && !config.OIDC_AUDIENCE) {
    throw new Error(
      'OIDC_AUDIENCE is required when OIDC_ISSUER is set (a JWT for another audience must not be accepted)',
    );
  }
  return config;
}
