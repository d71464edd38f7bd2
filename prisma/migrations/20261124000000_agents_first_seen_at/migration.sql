-- Follow new agents (docs/rollouts.md "Follow new agents"): the rollout worker's sweep looks, for
-- every completed rollout that follows new agents, for the agents first seen after that rollout
-- started, oldest first (`first_seen_at > $started ORDER BY first_seen_at, uid LIMIT n`). Without
-- an index that is a sequential scan of `agents` per rollout per sweep (33 ms at 200,000 agents);
-- with it, an index range scan that reads only the newer agents (0.2 ms when there are none).
-- Building it locks `agents` against writes for a moment (well under a second at 200,000 rows),
-- which only delays the fleet's write-behind (state waits in Redis), never OpAMP traffic.

-- CreateIndex
CREATE INDEX "agents_first_seen_at_uid_idx" ON "agents"("first_seen_at", "uid");
