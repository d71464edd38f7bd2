// Command-line parsing for `npm run simulate`. Pure: returns a validated config or a usage error.
import { parseArgs } from 'node:util';
import { AgentCapability } from '@opamp/protocol';
import { DEFAULT_AGENT_CAPABILITIES } from './simulated-agent.js';
import type { TransportKind } from './transport.js';

export interface SimulatorConfig {
  agents: number;
  transport: TransportKind;
  url: string;
  /** Further endpoints (`--url` given more than once): agents move to the next one when theirs fails. */
  failoverUrls?: string[];
  heartbeatSeconds: number;
  capabilities: bigint;
  serviceName: string;
  serviceVersion: string;
  labels: Record<string, string>;
  failConfigPercent: number;
  /** Seconds to run; 0 = until SIGINT/SIGTERM. */
  durationSeconds: number;
  rampPerSecond: number;
  token: string | undefined;
  applyDelayMs: number;
  restartDelayMs: number;
  gzip: boolean;
  fullStateOnReconnect: boolean;
  statusIntervalSeconds: number;
  /** Custom capabilities to declare (default: the simulator's echo capability). */
  customCapabilities?: string[];
  /** Answer custom commands by the reply convention (docs/commands.md) instead of echoing. */
  commandReplies: boolean;
  failCommandTypes: string[];
  ignoreCommandTypes: string[];
}

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export const USAGE = `Usage: npm run simulate -- [options]

Simulates N OpAMP agents (Fluent Bit-like) in one process.

  --agents N                 number of agents (default 1)
  --transport ws|http        OpAMP transport (default ws)
  --url URL                  endpoint (default ws://127.0.0.1:4320/v1/opamp, or http://... for --transport http;
                             a ws:// URL is turned into http:// for HTTP and vice versa); repeat it to give
                             several gateways: agents use the first and move to the next when theirs fails
  --heartbeat SECONDS        heartbeat (WS) / poll (HTTP) interval until the server offers one (default 30)
  --capabilities CAPS        0x3d07, a decimal number, or names: ReportsStatus,AcceptsRemoteConfig,...
                             (default 0x${DEFAULT_AGENT_CAPABILITIES.toString(16)}; ReportsStatus is always added)
  --service-name NAME        service.name (default fluent-bit)
  --service-version VERSION  service.version (default 3.2.4)
  --label KEY=VALUE          non-identifying attribute, repeatable
  --fail-config-percent P    share of agents (deterministic by index) that report FAILED for every remote config (default 0)
  --duration SECONDS         stop after this long; 0 runs until Ctrl-C (default 0)
  --ramp-per-second R        agents started per second (default 200)
  --token TOKEN              Authorization: Bearer TOKEN
  --apply-delay-ms MS        time between APPLYING and APPLIED/FAILED (default 100)
  --restart-delay-ms MS      downtime of a simulated restart (default 1000)
  --gzip                     gzip HTTP request bodies
  --full-state-on-reconnect  send a full report after every WS reconnect
  --custom-capability CAP    custom capability to declare, repeatable (default io.opampcp.simulator.echo)
  --command-replies          answer custom commands (data: JSON with commandId) by the reply convention of
                             docs/commands.md instead of echoing them
  --fail-command-type TYPE   with --command-replies: answer commands of this type with status "failed", repeatable
  --ignore-command-type TYPE with --command-replies: never answer commands of this type (they time out), repeatable
  --status-interval SECONDS  status line period (default 5)
  -h, --help                 this text
`;

function num(
  name: string,
  raw: string | undefined,
  def: number,
  opts: { min: number; max?: number; integer?: boolean },
): number {
  if (raw === undefined) return def;
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v)) throw new UsageError(`--${name} must be a number, got "${raw}"`);
  if (opts.integer && !Number.isInteger(v)) throw new UsageError(`--${name} must be an integer, got "${raw}"`);
  if (v < opts.min) throw new UsageError(`--${name} must be >= ${opts.min}, got ${v}`);
  if (opts.max !== undefined && v > opts.max) throw new UsageError(`--${name} must be <= ${opts.max}, got ${v}`);
  return v;
}

/** `0x3d07`, `15623`, or `ReportsStatus,AcceptsRemoteConfig` (case-insensitive, `AgentCapabilities_` prefix optional). */
export function parseCapabilities(raw: string): bigint {
  const s = raw.trim();
  if (/^0x[0-9a-f]+$/i.test(s) || /^\d+$/.test(s)) {
    const v = BigInt(s);
    if (v >= 1n << 64n) throw new UsageError(`--capabilities ${raw} does not fit in 64 bits`);
    return v;
  }
  const byName = new Map(Object.entries(AgentCapability).map(([k, v]) => [k.toLowerCase(), v]));
  let caps = 0n;
  for (const part of s.split(/[,|+\s]+/).filter(Boolean)) {
    const name = part.replace(/^AgentCapabilities_/i, '').toLowerCase();
    const bit = byName.get(name);
    if (bit === undefined) {
      throw new UsageError(`unknown capability "${part}"; known: ${Object.keys(AgentCapability).join(', ')}`);
    }
    caps |= bit;
  }
  if (caps === 0n) throw new UsageError('--capabilities is empty');
  return caps;
}

export function parseLabel(raw: string): [string, string] {
  const eq = raw.indexOf('=');
  if (eq <= 0) throw new UsageError(`--label must be KEY=VALUE, got "${raw}"`);
  return [raw.slice(0, eq).trim(), raw.slice(eq + 1).trim()];
}

/** Makes the URL's scheme match the transport (ws↔http, wss↔https) and checks it. */
export function normaliseUrl(raw: string, transport: TransportKind): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`--url is not a valid URL: "${raw}"`);
  }
  const secure = url.protocol === 'wss:' || url.protocol === 'https:';
  if (!['ws:', 'wss:', 'http:', 'https:'].includes(url.protocol)) {
    throw new UsageError(`--url must use ws, wss, http or https, got ${url.protocol}`);
  }
  const want = transport === 'ws' ? (secure ? 'wss:' : 'ws:') : secure ? 'https:' : 'http:';
  return `${want}${url.href.slice(url.protocol.length)}`;
}

/** Parses argv (without node and script). Throws UsageError; returns 'help' for -h/--help. */
export function parseSimulatorArgs(argv: string[]): SimulatorConfig | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        agents: { type: 'string' },
        transport: { type: 'string' },
        url: { type: 'string', multiple: true },
        heartbeat: { type: 'string' },
        capabilities: { type: 'string' },
        'service-name': { type: 'string' },
        'service-version': { type: 'string' },
        label: { type: 'string', multiple: true },
        'fail-config-percent': { type: 'string' },
        duration: { type: 'string' },
        'ramp-per-second': { type: 'string' },
        token: { type: 'string' },
        'apply-delay-ms': { type: 'string' },
        'restart-delay-ms': { type: 'string' },
        gzip: { type: 'boolean' },
        'full-state-on-reconnect': { type: 'boolean' },
        'custom-capability': { type: 'string', multiple: true },
        'command-replies': { type: 'boolean' },
        'fail-command-type': { type: 'string', multiple: true },
        'ignore-command-type': { type: 'string', multiple: true },
        'status-interval': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const v = parsed.values;
  if (v.help) return 'help';
  const transport = v.transport ?? 'ws';
  if (transport !== 'ws' && transport !== 'http')
    throw new UsageError(`--transport must be ws or http, got "${transport}"`);
  const defaultUrl = transport === 'ws' ? 'ws://127.0.0.1:4320/v1/opamp' : 'http://127.0.0.1:4320/v1/opamp';
  const customCapabilities = v['custom-capability']?.map((c) => c.trim());
  for (const c of customCapabilities ?? []) {
    if (!/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)?$/.test(c)) {
      throw new UsageError(`--custom-capability must be a reverse-FQDN name (optionally /version), got "${c}"`);
    }
  }
  if (!(v['command-replies'] ?? false) && (v['fail-command-type'] || v['ignore-command-type'])) {
    throw new UsageError('--fail-command-type and --ignore-command-type need --command-replies');
  }
  const labels: Record<string, string> = {};
  for (const raw of v.label ?? []) {
    const [k, val] = parseLabel(raw);
    labels[k] = val;
  }
  return {
    agents: num('agents', v.agents, 1, { min: 1, max: 1_000_000, integer: true }),
    transport,
    url: normaliseUrl(v.url?.[0] ?? defaultUrl, transport),
    failoverUrls: (v.url ?? []).slice(1).map((u) => normaliseUrl(u, transport)),
    heartbeatSeconds: num('heartbeat', v.heartbeat, 30, { min: 0.01, max: 86_400 }),
    capabilities:
      (v.capabilities !== undefined ? parseCapabilities(v.capabilities) : DEFAULT_AGENT_CAPABILITIES) |
      AgentCapability.ReportsStatus,
    serviceName: v['service-name'] ?? 'fluent-bit',
    serviceVersion: v['service-version'] ?? '3.2.4',
    labels,
    failConfigPercent: num('fail-config-percent', v['fail-config-percent'], 0, { min: 0, max: 100 }),
    durationSeconds: num('duration', v.duration, 0, { min: 0 }),
    rampPerSecond: num('ramp-per-second', v['ramp-per-second'], 200, { min: 0.1 }),
    token: v.token,
    applyDelayMs: num('apply-delay-ms', v['apply-delay-ms'], 100, { min: 0, integer: true }),
    restartDelayMs: num('restart-delay-ms', v['restart-delay-ms'], 1_000, { min: 0, integer: true }),
    gzip: v.gzip ?? false,
    fullStateOnReconnect: v['full-state-on-reconnect'] ?? false,
    statusIntervalSeconds: num('status-interval', v['status-interval'], 5, { min: 0.1 }),
    ...(customCapabilities ? { customCapabilities } : {}),
    commandReplies: v['command-replies'] ?? false,
    failCommandTypes: v['fail-command-type'] ?? [],
    ignoreCommandTypes: v['ignore-command-type'] ?? [],
  };
}
