// Prisma CLI configuration (Prisma 7 reads the datasource URL from here, not from schema.prisma).
// Only `prisma generate` runs on our machines; migrations are applied by libs/database/src/migrate.ts,
// which keeps the _prisma_migrations bookkeeping so `prisma migrate deploy/status` work wherever
// the native schema engine is available.
import { defineConfig } from 'prisma/config';

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: {
    // Default: the Postgres that `npm start` runs (scripts/infra.ts).
    url: process.env.DATABASE_URL ?? 'postgresql://opamp:opamp@127.0.0.1:54329/opamp',
  },
});
