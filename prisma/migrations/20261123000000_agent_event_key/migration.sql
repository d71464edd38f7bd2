-- Idempotent write-behind of agent events: the fleet gives every event an identity (a UUIDv7) when
-- it queues the event in Redis, and inserts with ON CONFLICT (agent_uid, key) DO NOTHING, so a
-- batch flushed again after a crash between the Postgres commit and the Redis clean-up adds no
-- second row. Rows written before have no key (NULLs never conflict).
-- Adding the nullable column is instant; building the index locks agent_events against writes
-- meanwhile, which only delays the write-behind (events wait in Redis), never OpAMP traffic.
ALTER TABLE "agent_events" ADD COLUMN "key" UUID;

-- CreateIndex
CREATE UNIQUE INDEX "agent_events_agent_uid_key_key" ON "agent_events"("agent_uid", "key");
