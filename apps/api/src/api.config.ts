import { commonEnv, databaseEnv, int, loadEnv, str, type EnvOf } from '@opamp/config';

export const apiEnv = {
  ...commonEnv,
  ...databaseEnv,
  API_PORT: int({
    default: 8080,
    min: 0,
    max: 65535,
    description: 'Port of the REST API (`/api/v1`), /healthz, /readyz and /metrics.',
  }),
  API_HOST: str({ default: '0.0.0.0', description: 'Address the api binds.' }),
  API_DB_POOL_SIZE: int({ default: 10, min: 1, max: 200, description: 'Postgres connections per api process.' }),
};

export type ApiConfig = EnvOf<typeof apiEnv>;

export const API_CONFIG = Symbol('API_CONFIG');

export function loadApiConfig(source: Record<string, string | undefined> = process.env): ApiConfig {
  return loadEnv(apiEnv, source);
}
