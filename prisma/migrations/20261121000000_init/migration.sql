-- CreateEnum
CREATE TYPE "agent_connection_state" AS ENUM ('connected', 'disconnected', 'offline');

-- CreateTable
CREATE TABLE "agents" (
    "uid" UUID NOT NULL,
    "agent_type" TEXT NOT NULL,
    "service_name" TEXT,
    "service_version" TEXT,
    "host_name" TEXT,
    "os_type" TEXT,
    "description" JSONB,
    "capabilities" BIGINT NOT NULL DEFAULT 0,
    "health" JSONB,
    "healthy" BOOLEAN,
    "effective_config" JSONB,
    "remote_config_status" JSONB,
    "custom_capabilities" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "labels" JSONB NOT NULL DEFAULT '{}',
    "connection_state" "agent_connection_state" NOT NULL DEFAULT 'connected',
    "transport" TEXT,
    "sequence_num" BIGINT,
    "first_seen_at" TIMESTAMPTZ(3) NOT NULL,
    "last_seen_at" TIMESTAMPTZ(3) NOT NULL,
    "disconnected_at" TIMESTAMPTZ(3),
    "replaced_by_uid" UUID,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "agents_pkey" PRIMARY KEY ("uid")
);

-- CreateTable
CREATE TABLE "agent_events" (
    "id" BIGSERIAL NOT NULL,
    "agent_uid" UUID NOT NULL,
    "type" TEXT NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL,
    "data" JSONB NOT NULL DEFAULT '{}',

    CONSTRAINT "agent_events_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "agents_connection_state_idx" ON "agents"("connection_state");

-- CreateIndex
CREATE INDEX "agents_last_seen_at_idx" ON "agents"("last_seen_at");

-- CreateIndex
CREATE INDEX "agents_agent_type_idx" ON "agents"("agent_type");

-- CreateIndex
CREATE INDEX "agents_labels_idx" ON "agents" USING GIN ("labels" jsonb_path_ops);

-- CreateIndex
CREATE INDEX "agents_description_idx" ON "agents" USING GIN ("description" jsonb_path_ops);

-- CreateIndex
CREATE INDEX "agent_events_agent_uid_id_idx" ON "agent_events"("agent_uid", "id");

-- AddForeignKey
ALTER TABLE "agent_events" ADD CONSTRAINT "agent_events_agent_uid_fkey" FOREIGN KEY ("agent_uid") REFERENCES "agents"("uid") ON DELETE CASCADE ON UPDATE CASCADE;
