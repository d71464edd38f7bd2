-- Indexes for GET /api/v1/agents (docs/api.md "Agents"): sorts, keyset pages and free-text search,
-- measured with EXPLAIN ANALYZE on 100,000 agents (test/bench/api-seed.ts; a 2-core machine).
--
-- Sorts. Pages are keyset-paginated on (sort column, uid): `(col, uid) > ($value, $uid) ORDER BY
-- col, uid LIMIT n`, which a btree on (col, uid) answers as a range read of n entries, forwards or
-- backwards. Without one, every page sorts all matching agents: 60-160 ms per page for hostName,
-- serviceName, serviceVersion and agentType (with or without a selector), ~1 ms with the index.
-- (agent_type, uid) replaces the (agent_type) index: it serves the agentType filter just as well.
-- lastSeenAt needs nothing new: the (last_seen_at) index plus an incremental sort on uid reads a
-- page in ~1 ms; firstSeenAt has (first_seen_at, uid) already.
--
-- Every index costs the fleet's write-behind: its upserts change last_seen_at (indexed), so they
-- are never HOT updates and insert into every index. Three more btrees of (text, uuid) add a few
-- µs per row written, ~5 MB each at 100,000 agents.

-- DropIndex
DROP INDEX "agents_agent_type_idx";

-- CreateIndex
CREATE INDEX "agents_agent_type_uid_idx" ON "agents"("agent_type", "uid");

-- CreateIndex
CREATE INDEX "agents_host_name_uid_idx" ON "agents"("host_name", "uid");

-- CreateIndex
CREATE INDEX "agents_service_name_uid_idx" ON "agents"("service_name", "uid");

-- CreateIndex
CREATE INDEX "agents_service_version_uid_idx" ON "agents"("service_version", "uid");

-- Free text (`q=`): a case-insensitive substring of service name, host name or uid, matched as
-- `<search text> ILIKE '%q%'` on the expression below. That is a sequential scan (70 ms at 100,000
-- agents, more on one core) unless a trigram index covers the expression: with it, a search that
-- matches few agents takes ~2 ms. pg_trgm ships with Postgres (contrib, a trusted extension since
-- PostgreSQL 13); where it cannot be installed the migration still succeeds without the index and
-- search keeps working, only slower. This index is the costly one for writes: GIN entries for
-- ~50 trigrams per row (30 MB at 100,000 agents). Measured on a busy 2-core machine, an UPDATE of
-- last_seen_at on 10,000 agents went from 40-100 µs to 85-115 µs per row with all the indexes of
-- this migration (the trigram index alone: 40 → 70-90 µs). The write-behind pays that once per
-- agent per FLEET_LAST_SEEN_PERSIST_SECONDS and per state change. It is partial (replaced_by_uid IS NULL, as in every listing query), which also
-- keeps it out of the Prisma schema: Prisma cannot express an expression index, and the
-- schema-drift check leaves partial indexes alone.
DO $$
BEGIN
  CREATE EXTENSION IF NOT EXISTS pg_trgm;
EXCEPTION WHEN OTHERS THEN
  RAISE NOTICE 'pg_trgm is not available (%): agent search (q=) runs without an index', SQLERRM;
END
$$;

DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
    CREATE INDEX "agents_search_trgm_idx" ON "agents" USING gin (
      (COALESCE("service_name", '') || chr(10) || COALESCE("host_name", '') || chr(10) || "uid"::text) gin_trgm_ops
    ) WHERE "replaced_by_uid" IS NULL;
  END IF;
END
$$;
