-- The failure budget of a rollout counts what happened since the last resume (docs/rollouts.md,
-- "Failure budget"): besides the failures a resume acknowledges, it needs the number of targets
-- already resolved at that moment.
ALTER TABLE "rollouts" ADD COLUMN "resolved_acknowledged" INTEGER NOT NULL DEFAULT 0;
