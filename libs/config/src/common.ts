import { int, str, url } from './env.js';

/** Variables every server app reads. */
export const commonEnv = {
  REDIS_URL: url({
    default: 'redis://127.0.0.1:63790',
    protocols: ['redis', 'rediss'],
    description: 'Redis for streams, hot state, routing and leases.',
  }),
  OPAMP_SHARDS: int({
    default: 16,
    min: 1,
    max: 4096,
    description:
      'Number of inbound stream shards (hash(instance_uid) mod N). Must be the same on every gateway and fleet replica.',
  }),
  LOG_LEVEL: str({ default: 'log', description: 'Nest log level: error, warn, log, debug or verbose.' }),
};

export const databaseEnv = {
  DATABASE_URL: url({
    default: 'postgresql://opamp:opamp@127.0.0.1:54329/opamp',
    protocols: ['postgres', 'postgresql'],
    description: 'Postgres connection string (fleet and api only; gateways never touch Postgres).',
  }),
};
