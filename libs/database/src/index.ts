export { DatabaseModule } from './database.module.js';
export { redactDatabaseUrl } from './database-url.js';
export { DATABASE_OPTIONS, DatabaseUnavailableError, PrismaService, type DatabaseOptions } from './prisma.service.js';
export { isDatabaseUnavailable } from './unavailable.js';
export {
  applyMigrations,
  DEFAULT_MIGRATIONS_DIR,
  migrationChecksum,
  MigrationChecksumError,
  MigrationError,
  PRISMA_MIGRATE_ADVISORY_LOCK,
  readMigrations,
  type MigrateOptions,
  type MigrationFile,
  type MigrationResult,
} from './migrate.js';
// The generated client: model types (Agent, AgentEvent), enums (AgentConnectionState), the Prisma namespace.
export * from './generated/prisma/client.js';
export { jsonSpellings, requirementSql, selectorConditions, selectorToSql } from './selector-sql.js';
