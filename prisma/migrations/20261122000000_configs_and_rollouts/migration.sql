-- Remote config and staged rollouts (docs/rollouts.md).

-- CreateEnum
CREATE TYPE "rollout_state" AS ENUM ('planned', 'running', 'paused', 'completed', 'aborted', 'rolling_back', 'rolled_back');

-- CreateEnum
CREATE TYPE "rollout_target_state" AS ENUM ('pending', 'applying', 'applied', 'failed', 'timed_out', 'skipped');

-- CreateTable
CREATE TABLE "configs" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "agent_type" TEXT NOT NULL,
    "description" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "configs_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "configs_agent_type_check" CHECK ("agent_type" IN ('fluentbit', 'fluentd', 'otelcol', 'generic'))
);

-- CreateTable
CREATE TABLE "config_versions" (
    "id" BIGSERIAL NOT NULL,
    "config_id" UUID NOT NULL,
    "version" INTEGER NOT NULL,
    "hash" TEXT NOT NULL,
    "config_map" BYTEA NOT NULL,
    "files" JSONB NOT NULL,
    "size_bytes" INTEGER NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "config_versions_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "config_versions_version_check" CHECK ("version" >= 1),
    CONSTRAINT "config_versions_hash_check" CHECK ("hash" ~ '^[0-9a-f]{64}$')
);

-- CreateTable
CREATE TABLE "agent_desired_configs" (
    "agent_uid" UUID NOT NULL,
    "config_version_id" BIGINT NOT NULL,
    "hash" TEXT NOT NULL,
    "source" TEXT NOT NULL,
    "rollout_id" UUID,
    "assigned_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "agent_desired_configs_pkey" PRIMARY KEY ("agent_uid"),
    CONSTRAINT "agent_desired_configs_source_check" CHECK ("source" IN ('rollout', 'rollback', 'follow', 'assignment'))
);

-- CreateTable
CREATE TABLE "config_quarantine" (
    "agent_uid" UUID NOT NULL,
    "hash" TEXT NOT NULL,
    "error_message" TEXT,
    "reported_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "cleared_at" TIMESTAMPTZ(3),
    "rollout_id" UUID,

    CONSTRAINT "config_quarantine_pkey" PRIMARY KEY ("agent_uid", "hash")
);

-- CreateTable
CREATE TABLE "rollouts" (
    "id" UUID NOT NULL,
    "config_id" UUID NOT NULL,
    "config_version_id" BIGINT NOT NULL,
    "selector" TEXT NOT NULL,
    "strategy" JSONB NOT NULL,
    "plan" JSONB NOT NULL,
    "state" "rollout_state" NOT NULL DEFAULT 'planned',
    "stage_index" INTEGER NOT NULL DEFAULT 0,
    "reason" TEXT,
    "follow_new_agents" BOOLEAN NOT NULL DEFAULT true,
    "step" INTEGER NOT NULL DEFAULT 0,
    "failures_acknowledged" INTEGER NOT NULL DEFAULT 0,
    "created_by" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "started_at" TIMESTAMPTZ(3),
    "finished_at" TIMESTAMPTZ(3),
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "rollouts_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "rollout_waves" (
    "rollout_id" UUID NOT NULL,
    "direction" TEXT NOT NULL,
    "index" INTEGER NOT NULL,
    "stage" INTEGER NOT NULL,
    "size" INTEGER NOT NULL,
    "state" TEXT NOT NULL DEFAULT 'pending',
    "started_at" TIMESTAMPTZ(3),
    "resolved_at" TIMESTAMPTZ(3),
    "finished_at" TIMESTAMPTZ(3),

    CONSTRAINT "rollout_waves_pkey" PRIMARY KEY ("rollout_id", "direction", "index"),
    CONSTRAINT "rollout_waves_direction_check" CHECK ("direction" IN ('forward', 'rollback'))
);

-- CreateTable
CREATE TABLE "rollout_targets" (
    "rollout_id" UUID NOT NULL,
    "agent_uid" UUID NOT NULL,
    "stage" INTEGER NOT NULL,
    "wave_index" INTEGER NOT NULL,
    "state" "rollout_target_state" NOT NULL DEFAULT 'pending',
    "active" BOOLEAN NOT NULL DEFAULT true,
    "previous_version_id" BIGINT,
    "previous_hash" TEXT,
    "dispatched_at" TIMESTAMPTZ(3),
    "resolved_at" TIMESTAMPTZ(3),
    "detail" TEXT,
    "rollback_state" TEXT,
    "rollback_wave" INTEGER,

    CONSTRAINT "rollout_targets_pkey" PRIMARY KEY ("rollout_id", "agent_uid")
);

-- CreateIndex
CREATE UNIQUE INDEX "configs_name_key" ON "configs"("name");

-- CreateIndex
CREATE UNIQUE INDEX "config_versions_config_id_version_key" ON "config_versions"("config_id", "version");

-- CreateIndex
CREATE UNIQUE INDEX "config_versions_config_id_hash_key" ON "config_versions"("config_id", "hash");

-- CreateIndex
CREATE INDEX "config_versions_hash_idx" ON "config_versions"("hash");

-- CreateIndex
CREATE INDEX "agent_desired_configs_config_version_id_idx" ON "agent_desired_configs"("config_version_id");

-- CreateIndex
CREATE INDEX "rollouts_state_idx" ON "rollouts"("state");

-- CreateIndex
CREATE INDEX "rollouts_config_id_idx" ON "rollouts"("config_id");

-- CreateIndex
CREATE INDEX "rollout_targets_rollout_id_wave_index_state_idx" ON "rollout_targets"("rollout_id", "wave_index", "state");

-- CreateIndex
CREATE INDEX "rollout_targets_agent_uid_idx" ON "rollout_targets"("agent_uid");

-- One running (not finished) rollout per agent, whatever the race between two creations.
CREATE UNIQUE INDEX "rollout_targets_one_active_per_agent" ON "rollout_targets"("agent_uid") WHERE "active";

-- AddForeignKey
ALTER TABLE "config_versions" ADD CONSTRAINT "config_versions_config_id_fkey" FOREIGN KEY ("config_id") REFERENCES "configs"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "agent_desired_configs" ADD CONSTRAINT "agent_desired_configs_config_version_id_fkey" FOREIGN KEY ("config_version_id") REFERENCES "config_versions"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "rollouts" ADD CONSTRAINT "rollouts_config_id_fkey" FOREIGN KEY ("config_id") REFERENCES "configs"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "rollouts" ADD CONSTRAINT "rollouts_config_version_id_fkey" FOREIGN KEY ("config_version_id") REFERENCES "config_versions"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "rollout_waves" ADD CONSTRAINT "rollout_waves_rollout_id_fkey" FOREIGN KEY ("rollout_id") REFERENCES "rollouts"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "rollout_targets" ADD CONSTRAINT "rollout_targets_rollout_id_fkey" FOREIGN KEY ("rollout_id") REFERENCES "rollouts"("id") ON DELETE CASCADE ON UPDATE CASCADE;
