-- Platform API (issue 5): API keys and roles, enrollment tokens for agents, the audit log, and
-- commands with outcomes. docs/api.md describes the resources.

-- CreateEnum
CREATE TYPE "api_role" AS ENUM ('viewer', 'operator', 'admin');

-- CreateEnum
CREATE TYPE "command_state" AS ENUM ('queued', 'sent', 'succeeded', 'failed', 'timed_out');

-- CreateTable: API keys. Only the SHA-256 of the whole key is stored; `prefix` is what listings
-- show so a person can tell keys apart. `bootstrap` marks the key that OPAMP_ADMIN_API_KEY provides.
CREATE TABLE "api_keys" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "role" "api_role" NOT NULL,
    "secret_hash" TEXT NOT NULL,
    "prefix" TEXT NOT NULL,
    "bootstrap" BOOLEAN NOT NULL DEFAULT false,
    "rate_limit_per_minute" INTEGER,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "created_by" TEXT,
    "expires_at" TIMESTAMPTZ(3),
    "revoked_at" TIMESTAMPTZ(3),
    "revoked_by" TEXT,
    "last_used_at" TIMESTAMPTZ(3),

    CONSTRAINT "api_keys_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "api_keys_secret_hash_key" ON "api_keys"("secret_hash");

-- CreateTable: enrollment tokens agents present to the gateway. The api mirrors every usable
-- token into Redis (the gateway never reads Postgres); `labels` are copied onto agents that
-- enrol with the token.
CREATE TABLE "enrollment_tokens" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "secret_hash" TEXT NOT NULL,
    "prefix" TEXT NOT NULL,
    "labels" JSONB NOT NULL DEFAULT '{}',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "created_by" TEXT,
    "expires_at" TIMESTAMPTZ(3),
    "revoked_at" TIMESTAMPTZ(3),
    "revoked_by" TEXT,

    CONSTRAINT "enrollment_tokens_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "enrollment_tokens_secret_hash_key" ON "enrollment_tokens"("secret_hash");

-- AlterTable: the token an agent enrolled with (null: none, or the shared secret).
ALTER TABLE "agents" ADD COLUMN "enrollment_token_id" UUID;

-- CreateIndex
CREATE INDEX "agents_enrollment_token_id_idx" ON "agents"("enrollment_token_id");

-- CreateTable: the audit log: one row per mutation through REST or GraphQL, successful or not.
CREATE TABLE "audit_events" (
    "id" UUID NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "actor" TEXT NOT NULL,
    "actor_type" TEXT NOT NULL,
    "actor_role" TEXT,
    "action" TEXT NOT NULL,
    "resource_type" TEXT,
    "resource_id" TEXT,
    "interface" TEXT NOT NULL,
    "method" TEXT,
    "path" TEXT,
    "source_ip" TEXT,
    "user_agent" TEXT,
    "outcome" TEXT NOT NULL,
    "status" INTEGER,
    "detail" JSONB NOT NULL DEFAULT '{}',

    CONSTRAINT "audit_events_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "audit_events_at_id_idx" ON "audit_events"("at", "id");

-- CreateIndex
CREATE INDEX "audit_events_actor_at_idx" ON "audit_events"("actor", "at");

-- CreateIndex
CREATE INDEX "audit_events_action_at_idx" ON "audit_events"("action", "at");

-- CreateIndex
CREATE INDEX "audit_events_resource_type_resource_id_at_idx" ON "audit_events"("resource_type", "resource_id", "at");

-- CreateTable: command types: what a custom command's parameters must look like (JSON Schema).
CREATE TABLE "command_types" (
    "capability" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "description" TEXT,
    "parameters_schema" JSONB NOT NULL DEFAULT '{}',
    "timeout_seconds" INTEGER NOT NULL DEFAULT 60,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "command_types_pkey" PRIMARY KEY ("capability", "type")
);

-- CreateTable: every command sent to an agent and its outcome.
CREATE TABLE "commands" (
    "id" UUID NOT NULL,
    "agent_uid" UUID NOT NULL,
    "kind" TEXT NOT NULL,
    "capability" TEXT,
    "type" TEXT,
    "parameters" JSONB,
    "state" "command_state" NOT NULL DEFAULT 'queued',
    "reason" TEXT,
    "result" JSONB,
    "bulk_id" UUID,
    "created_by" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "sent_at" TIMESTAMPTZ(3),
    "completed_at" TIMESTAMPTZ(3),
    "deadline_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "commands_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "commands_agent_uid_created_at_idx" ON "commands"("agent_uid", "created_at");

-- CreateIndex
CREATE INDEX "commands_bulk_id_idx" ON "commands"("bulk_id");

-- CreateIndex
CREATE INDEX "commands_state_deadline_at_idx" ON "commands"("state", "deadline_at");
