// Seeds N agents straight into Postgres for the api scenario (api-scenario.ts): one INSERT …
// SELECT over generate_series, so 100,000 rows take seconds, not a fleet of simulated agents.
// The rows look like what the fleet writes (apps/fleet agent.repository.ts): a description with
// identifying and non-identifying attributes, capabilities, health, an effective config and a
// remote config status, plus API labels. Values vary with the row number so that filters, sorts
// and the fleet summary have something to work with:
//
//   labels.env      prod 30 %, stage 20 %, dev 50 %       (the bench selector `env=prod` → 30 %)
//   labels.region   eu-west, us-east, ap-south (1/3 each)
//   labels.tier     edge 25 %, core 75 %
//   agent_type      fluentbit 50 %, otelcol 30 %, fluentd 10 %, generic 10 %
//   service_version 5 versions per type
//   connection      connected 80 %, disconnected 10 %, offline 10 %
//   health          healthy 94 %, unhealthy 4 %, unknown 2 %
//   host_name       node-<n> (unique); a few agents are named after "bench-needle" for q=
//   first/last seen spread over the last 10 days / the last day
//   desired config  for 60 % of the agents (agent_desired_configs), in various drift states
import pg from 'pg';

/** Agents whose host name contains this text (1 in 1,000): what the bench searches with q=. */
export const SEARCH_NEEDLE = 'bench-needle';
/** Selector of the paged walk: matches the 30 % with labels.env = prod. */
export const BENCH_SELECTOR = 'env=prod';
export const BENCH_SELECTOR_SHARE = 0.3;

const CONFIG_NAME = 'bench-api-seed';

/**
 * Inserts `n` agents (and desired configs for 60 % of them, against one seeded config version).
 * Returns the seconds it took. The table is expected to be empty of bench rows.
 */
export async function seedAgents(databaseUrl: string, n: number): Promise<number> {
  const started = Date.now();
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query('BEGIN');
    const config = await client.query<{ id: string }>(
      `INSERT INTO configs (id, name, agent_type, description) VALUES (gen_random_uuid(), $1, 'generic', 'npm run bench (api)')
       ON CONFLICT (name) DO UPDATE SET updated_at = now() RETURNING id`,
      [CONFIG_NAME],
    );
    const hash = 'a1'.repeat(32);
    const version = await client.query<{ id: string }>(
      `INSERT INTO config_versions (config_id, version, hash, config_map, files, size_bytes)
       VALUES ($1, 1, $2, '\\x'::bytea, '[]'::jsonb, 0)
       ON CONFLICT (config_id, version) DO UPDATE SET hash = EXCLUDED.hash RETURNING id`,
      [config.rows[0]!.id, hash],
    );
    await client.query(
      `INSERT INTO agents (
         uid, agent_type, service_name, service_version, host_name, os_type, description, capabilities,
         health, healthy, effective_config, remote_config_status, custom_capabilities, labels,
         connection_state, transport, sequence_num, first_seen_at, last_seen_at, disconnected_at, updated_at)
       SELECT
         s.uid, s.agent_type, s.service_name, s.service_version, s.host_name, 'linux',
         jsonb_build_object(
           'identifying', jsonb_build_object('service.name', s.service_name, 'service.instance.id', s.uid::text),
           'nonIdentifying', jsonb_build_object('host.name', s.host_name, 'os.type', 'linux',
                                                'service.version', s.service_version, 'zone', 'z' || (s.g % 7))),
         CASE WHEN s.g % 2 = 0 THEN x'3d07'::bigint ELSE x'1807'::bigint END,
         CASE WHEN s.healthy IS NULL THEN NULL
              ELSE jsonb_build_object('healthy', s.healthy, 'status', CASE WHEN s.healthy THEN 'running' ELSE 'degraded' END,
                                      'lastError', CASE WHEN s.healthy THEN '' ELSE 'output retrying' END) END,
         s.healthy,
         jsonb_build_object('hash', s.effective_hash, 'configMap', jsonb_build_object(
           'agent.conf', jsonb_build_object('contentType', 'text/plain',
             'body', '[SERVICE]' || chr(10) || '    Flush 1' || chr(10) || '[INPUT]' || chr(10) || '    Name dummy' || chr(10) ||
                     '    Tag  host-' || s.g || chr(10) || '[OUTPUT]' || chr(10) || '    Name stdout' || chr(10) || '    Match *' || chr(10)))),
         jsonb_build_object('lastRemoteConfigHash', s.reported_hash, 'status', s.rcs_status, 'errorMessage',
                            CASE WHEN s.rcs_status = 'FAILED' THEN 'parse error' ELSE '' END),
         CASE WHEN s.g % 10 = 0 THEN ARRAY['io.opampcp.simulator.echo']::text[] ELSE ARRAY[]::text[] END,
         jsonb_build_object('bench', 'api', 'env', s.env, 'region', s.region, 'tier', s.tier),
         s.state, 'ws', s.g, s.first_seen, s.last_seen,
         CASE WHEN s.state = 'connected' THEN NULL ELSE s.last_seen END, now()
       FROM (
         SELECT g,
           md5('bench-agent-' || g)::uuid AS uid,
           t.agent_type, t.service_name,
           t.version_prefix || (g % 5) AS service_version,
           CASE WHEN g % 1000 = 7 THEN 'bench-needle-' || g ELSE 'node-' || g END AS host_name,
           CASE WHEN g % 10 < 3 THEN 'prod' WHEN g % 10 < 5 THEN 'stage' ELSE 'dev' END AS env,
           (ARRAY['eu-west', 'us-east', 'ap-south'])[1 + g % 3] AS region,
           CASE WHEN g % 4 = 0 THEN 'edge' ELSE 'core' END AS tier,
           CASE WHEN g % 10 < 8 THEN 'connected' WHEN g % 10 = 8 THEN 'disconnected' ELSE 'offline' END::agent_connection_state AS state,
           CASE WHEN g % 50 = 3 THEN NULL WHEN g % 25 = 1 THEN false ELSE true END AS healthy,
           -- Reported and effective hashes: the desired hash for most, something else for the drifting few.
           repeat(CASE WHEN g % 20 = 5 THEN 'b2' ELSE 'a1' END, 32) AS reported_hash,
           CASE WHEN g % 20 = 6 THEN 'FAILED' WHEN g % 20 = 7 THEN 'APPLYING' ELSE 'APPLIED' END AS rcs_status,
           CASE WHEN g % 20 = 8 THEN repeat('c3', 32) ELSE repeat('a1', 32) END AS effective_hash,
           now() - make_interval(secs => (g % 864000)) AS first_seen,
           now() - make_interval(secs => (g % 86400)) AS last_seen
         FROM generate_series(1, $1::int) AS g
         CROSS JOIN LATERAL (
           SELECT * FROM (VALUES
             (0, 'fluentbit', 'fluent-bit', '3.'), (1, 'otelcol', 'otelcol-contrib', '0.11'),
             (2, 'fluentd', 'fluentd', '1.1'), (3, 'generic', 'bench-agent', '2.')
           ) AS v(k, agent_type, service_name, version_prefix)
           WHERE v.k = CASE WHEN g % 10 < 5 THEN 0 WHEN g % 10 < 8 THEN 1 WHEN g % 10 = 8 THEN 2 ELSE 3 END
         ) t
       ) s`,
      [n],
    );
    await client.query(
      `INSERT INTO agent_desired_configs (agent_uid, config_version_id, hash, source, assigned_at)
       SELECT md5('bench-agent-' || g)::uuid, $2::bigint, $3, 'assignment', now()
       FROM generate_series(1, $1::int) AS g WHERE g % 5 < 3`,
      [n, version.rows[0]!.id, hash],
    );
    await client.query('COMMIT');
    // Fresh statistics, as a long-running database would have: the planner needs them.
    await client.query('VACUUM ANALYZE agents');
    await client.query('VACUUM ANALYZE agent_desired_configs');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    await client.end();
  }
  return (Date.now() - started) / 1000;
}
