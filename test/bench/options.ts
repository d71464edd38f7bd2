// `npm run bench -- [flags]`: the knobs of the benchmark. Every flag can also be given as an
// environment variable BENCH_<FLAG> (upper case, dashes as underscores), e.g. BENCH_AGENTS=50000;
// a flag wins over the variable. Pure: parseBenchOptions returns options or throws UsageError.
import { parseArgs } from 'node:util';

export const SCENARIOS = ['a', 'b', 'c', 'd', 'pg', 'rollout', 'api'] as const;
export type Scenario = (typeof SCENARIOS)[number];

export interface BenchOptions {
  scenarios: Scenario[];
  /** Gateway/fleet replica counts to measure each scenario with. */
  replicas: number[];
  /** (a) idle WS agent levels. */
  agents: number[];
  /** Agents started per second in connect phases that are not about admission control. */
  ramp: number;
  /** (b) agents in the closed loop and the measured window. */
  loopAgents: number;
  loopSeconds: number;
  /** (c) polling HTTP agents, the burst of new ones, their poll interval and the measured window. */
  httpAgents: number;
  httpBurst: number;
  httpInterval: number;
  httpWindow: number;
  /** (d) WS agents dropped at once, and how long to wait for them to come back. */
  stormAgents: number;
  stormTimeout: number;
  /** Gateway admission control in (c) and (d) (the gateway's defaults). */
  admissionRate: number;
  admissionBurst: number;
  retryAfter: number;
  /** (pg) agents heartbeating while Postgres writes are counted, and the window length. */
  pgAgents: number;
  pgWindow: number;
  /** Replica counts for (pg): the write rate per agent does not depend on them, so 1 by default. */
  pgReplicas: number[];
  // --- rollout scenario (test/bench/rollout-scenario.ts) ---
  /** (rollout) WS agents targeted, soak per wave, maxRestartsPerSecond, replica counts, give-up time. */
  rolloutAgents: number;
  rolloutSoak: number;
  rolloutRate: number;
  rolloutReplicas: number[];
  rolloutTimeout: number;
  // --- api scenario (test/bench/api-scenario.ts) ---
  /** (api) agents seeded into Postgres for the REST latency measurements. */
  apiAgents: number;
  /** Heartbeat interval offered by the fleet (a, d, pg). */
  heartbeat: number;
  /** Client worker processes (at least; more when the agents need more file descriptors). */
  workers: number;
  basePort: number;
  postgresPort: number;
  redisPort: number;
  /** Directory of performance.md / performance.json; undefined = do not write. */
  out: string | undefined;
  verbose: boolean;
  /** An existing build to measure instead of compiling the working tree. */
  dist: string | undefined;
  /** Extra node arguments for the gateways / fleets (profiling, V8 flags). */
  gatewayNodeArgs: string[];
  fleetNodeArgs: string[];
}

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export const BENCH_USAGE = `Usage: npm run bench -- [options]     (each option also as env BENCH_<NAME>, e.g. BENCH_AGENTS=50000)

Scenarios (--scenario, comma-separated; default all):
  a   idle WS agents on one gateway: gateway RSS per connection
  b   closed-loop AgentToServer round trips through gateway → Redis → fleet → reply, vs a bare ws baseline
  c   HTTP polling agents plus a burst of new ones: admission (429/503 + Retry-After) and latency
  d   reconnect storm: every gateway is killed (-9) and restarted; time until all agents are back
  pg  Postgres rows written per agent per minute while agents heartbeat
  rollout  staged rollout to N agents through api + rollout worker: time vs soak, apply rate, PG rows per agent
  api      REST latency over N seeded agents: selector pages vs the same SQL in pg, search, sorts, summary, rollout creation

  --scenario LIST        a,b,c,d,pg,rollout,api
  --replicas LIST        gateway+fleet replica counts to compare (default 1,2)
  --agents LIST          (a) agent levels (default 10000,50000; capped by the open-files limit)
  --ramp N               agents started per second outside admission tests (default 2000)
  --loop-agents N        (b) agents in the closed loop (default 512)
  --loop-seconds S       (b) measured window (default 10)
  --http-agents N        (c) polling agents (default 10000)
  --http-burst N         (c) new agents started within one second (default 2000)
  --http-interval S      (c) poll interval (default 30)
  --http-window S        (c) measured window after the burst starts (default 20)
  --storm-agents N       (d) agents dropped at once (default 10000)
  --storm-timeout S      (d) give up waiting after (default 300)
  --admission-rate N     (c, d) GATEWAY_ADMISSION_RATE per gateway (default 500)
  --admission-burst N    (c, d) GATEWAY_ADMISSION_BURST (default 1000)
  --retry-after S        (c, d) GATEWAY_RETRY_AFTER_SECONDS (default 30)
  --pg-agents N          (pg) heartbeating agents (default 10000)
  --pg-window S          (pg) measured window (default 60; 330 covers one last_seen_at write per agent)
  --pg-replicas LIST     (pg) replica counts (default 1)
  --rollout-agents N     (rollout) agents targeted (default 10000)
  --rollout-soak S       (rollout) soakSeconds of every wave (default 5)
  --rollout-rate N       (rollout) maxRestartsPerSecond (default 500)
  --rollout-replicas L   (rollout) replica counts (default 1)
  --rollout-timeout S    (rollout) give up waiting for completed after (default 900)
  --api-agents N         (api) agents seeded into Postgres (default 100000)
  --heartbeat S          heartbeat interval offered by the fleet (default 30)
  --workers N            client processes, at least (default 2)
  --base-port P          gateways on P.., fleets on P+10.., baseline on P+20 (default 4500)
  --postgres-port P      (default 54349)      --redis-port P   (default 63809)
  --out DIR              where performance.md/.json go (default docs); --no-write to skip
  --dist DIR             measure an existing build (scripts/build.ts output) instead of compiling the working tree
  --gateway-node-args A  extra node arguments for every gateway, space-separated (e.g. "--cpu-prof")
  --fleet-node-args A    the same for every fleet replica
  --verbose              echo the apps' output
  -h, --help
`;

const FLAGS = {
  scenario: 'a,b,c,d,pg,rollout,api',
  replicas: '1,2',
  agents: '10000,50000',
  ramp: '2000',
  'loop-agents': '512',
  'loop-seconds': '10',
  'http-agents': '10000',
  'http-burst': '2000',
  'http-interval': '30',
  'http-window': '20',
  'storm-agents': '10000',
  'storm-timeout': '300',
  'admission-rate': '500',
  'admission-burst': '1000',
  'retry-after': '30',
  'pg-agents': '10000',
  'pg-window': '60',
  'pg-replicas': '1',
  'rollout-agents': '10000',
  'rollout-soak': '5',
  'rollout-rate': '500',
  'rollout-replicas': '1',
  'rollout-timeout': '900',
  'api-agents': '100000',
  heartbeat: '30',
  workers: '2',
  'base-port': '4500',
  'postgres-port': '54349',
  'redis-port': '63809',
  out: 'docs',
  dist: '',
  'gateway-node-args': '',
  'fleet-node-args': '',
} as const;

type Flag = keyof typeof FLAGS;

const envName = (flag: string): string => `BENCH_${flag.toUpperCase().replaceAll('-', '_')}`;

function positiveInt(flag: string, raw: string, min = 1, max = 10_000_000): number {
  const v = Number(raw.trim());
  if (raw.trim() === '' || !Number.isInteger(v)) throw new UsageError(`--${flag} must be an integer, got "${raw}"`);
  if (v < min || v > max) throw new UsageError(`--${flag} must be between ${min} and ${max}, got ${v}`);
  return v;
}

function intList(flag: string, raw: string, min = 1, max = 10_000_000): number[] {
  const items = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (items.length === 0) throw new UsageError(`--${flag} needs at least one value`);
  return [...new Set(items.map((s) => positiveInt(flag, s, min, max)))].sort((a, b) => a - b);
}

export function parseBenchOptions(argv: string[], env: Record<string, string | undefined> = {}): BenchOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        ...Object.fromEntries(Object.keys(FLAGS).map((f) => [f, { type: 'string' as const }])),
        'no-write': { type: 'boolean' },
        verbose: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  if (values.help) throw new UsageError('');
  const get = (flag: Flag): string => {
    const v = values[flag];
    if (typeof v === 'string') return v;
    return env[envName(flag)] ?? FLAGS[flag];
  };
  const bool = (flag: string): boolean => {
    if (values[flag] === true) return true;
    const raw = env[envName(flag)];
    return raw !== undefined && ['1', 'true', 'yes'].includes(raw.toLowerCase());
  };

  const scenarios = get('scenario')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  for (const s of scenarios) {
    if (!(SCENARIOS as readonly string[]).includes(s)) {
      throw new UsageError(`--scenario: unknown scenario "${s}" (choose from ${SCENARIOS.join(', ')})`);
    }
  }
  if (scenarios.length === 0) throw new UsageError('--scenario needs at least one scenario');

  const opts: BenchOptions = {
    scenarios: SCENARIOS.filter((s) => scenarios.includes(s)),
    replicas: intList('replicas', get('replicas'), 1, 8),
    agents: intList('agents', get('agents'), 1, 1_000_000),
    ramp: positiveInt('ramp', get('ramp'), 1, 100_000),
    loopAgents: positiveInt('loop-agents', get('loop-agents'), 1, 100_000),
    loopSeconds: positiveInt('loop-seconds', get('loop-seconds'), 1, 3600),
    httpAgents: positiveInt('http-agents', get('http-agents'), 1, 1_000_000),
    httpBurst: positiveInt('http-burst', get('http-burst'), 1, 1_000_000),
    httpInterval: positiveInt('http-interval', get('http-interval'), 1, 3600),
    httpWindow: positiveInt('http-window', get('http-window'), 1, 3600),
    stormAgents: positiveInt('storm-agents', get('storm-agents'), 1, 1_000_000),
    stormTimeout: positiveInt('storm-timeout', get('storm-timeout'), 10, 3600),
    admissionRate: positiveInt('admission-rate', get('admission-rate')),
    admissionBurst: positiveInt('admission-burst', get('admission-burst')),
    retryAfter: positiveInt('retry-after', get('retry-after'), 1, 3600),
    pgAgents: positiveInt('pg-agents', get('pg-agents'), 1, 1_000_000),
    pgWindow: positiveInt('pg-window', get('pg-window'), 5, 3600),
    pgReplicas: intList('pg-replicas', get('pg-replicas'), 1, 8),
    rolloutAgents: positiveInt('rollout-agents', get('rollout-agents'), 1, 1_000_000),
    rolloutSoak: positiveInt('rollout-soak', get('rollout-soak'), 0, 3600),
    rolloutRate: positiveInt('rollout-rate', get('rollout-rate'), 1, 10_000),
    rolloutReplicas: intList('rollout-replicas', get('rollout-replicas'), 1, 8),
    rolloutTimeout: positiveInt('rollout-timeout', get('rollout-timeout'), 30, 86_400),
    apiAgents: positiveInt('api-agents', get('api-agents'), 1, 10_000_000),
    heartbeat: positiveInt('heartbeat', get('heartbeat'), 1, 86_400),
    workers: positiveInt('workers', get('workers'), 1, 64),
    basePort: positiveInt('base-port', get('base-port'), 1024, 65_000),
    postgresPort: positiveInt('postgres-port', get('postgres-port'), 1024, 65_535),
    redisPort: positiveInt('redis-port', get('redis-port'), 1024, 65_535),
    out: bool('no-write') ? undefined : get('out'),
    verbose: bool('verbose'),
    dist: get('dist') || undefined,
    gatewayNodeArgs: get('gateway-node-args').split(' ').filter(Boolean),
    fleetNodeArgs: get('fleet-node-args').split(' ').filter(Boolean),
  };
  return opts;
}
