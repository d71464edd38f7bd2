// Per-agent config operations of the api: assign a version to one agent, remove it, lift a
// quarantine, and read it all back. Each runs in one transaction holding a per-agent advisory lock
// (two requests for one agent apply one after the other; the fleet's writes are not blocked), and
// sends its command before committing: a failed send rolls the row back.
import type { PrismaClient } from '@opamp/database';
import { isConfigHashHex } from '@opamp/domain';
import { AgentCapability, hasCapability } from '@opamp/protocol';
import {
  AgentConfigConflictError,
  AgentNotFoundError,
  AgentTypeMismatchError,
  ConfigInputError,
  ConfigNotFoundError,
  ConfigVersionNotFoundError,
  QuarantineNotFoundError,
} from './configs.errors.js';
import { DesiredConfigService, type DbClient, type DesiredConfigSource } from './desired-config.service.js';

export interface AgentDesiredConfig {
  config: string;
  agentType: string;
  version: number;
  /** config_versions.id */
  versionId: bigint;
  hash: string;
  source: DesiredConfigSource;
  rolloutId: string | null;
  assignedAt: Date;
}

export interface QuarantineEntry {
  hash: string;
  errorMessage: string | null;
  reportedAt: Date;
  clearedAt: Date | null;
  rolloutId: string | null;
  /** The config version with this hash, when one exists (any config). */
  config: string | null;
  version: number | null;
}

export interface AgentConfigState {
  uid: string;
  agentType: string;
  /** null: no config assigned (the fleet sends none). */
  desired: AgentDesiredConfig | null;
  /** The active rollout targeting the agent (per-agent changes are refused meanwhile). */
  activeRolloutId: string | null;
  /** Newest first, at most 50. */
  quarantine: QuarantineEntry[];
}

export interface AssignToAgentInput {
  config: string;
  version: number;
  /** Assign even though the agent quarantined this version, lifting the quarantine. */
  clearQuarantine?: boolean;
  traceparent?: string;
}

export interface QuarantineCleared {
  uid: string;
  hash: string;
  clearedAt: Date;
  /** True when the hash is the agent's desired config and was sent again with clear_quarantine. */
  resent: boolean;
  commandId: string | null;
}

export interface AgentDesiredConfigServiceOptions {
  prisma: PrismaClient;
  desired: DesiredConfigService;
  /** Interactive transaction timeout, ms. Default 10 000. */
  transactionTimeoutMs?: number;
}

interface AgentRow {
  agentType: string;
  capabilities: bigint;
}

export class AgentDesiredConfigService {
  private readonly prisma: PrismaClient;
  private readonly desired: DesiredConfigService;
  private readonly timeout: number;

  constructor(options: AgentDesiredConfigServiceOptions) {
    this.prisma = options.prisma;
    this.desired = options.desired;
    this.timeout = options.transactionTimeoutMs ?? 10_000;
  }

  async get(uid: string, db: DbClient = this.prisma): Promise<AgentConfigState> {
    const agents = await db.$queryRaw<Array<{ agentType: string }>>`
      SELECT agent_type AS "agentType" FROM agents WHERE uid = ${uid}::uuid`;
    if (agents.length === 0) throw new AgentNotFoundError(uid);
    const desired = await db.$queryRaw<AgentDesiredConfig[]>`
      SELECT c.name AS config, c.agent_type AS "agentType", v.version, v.id AS "versionId", d.hash, d.source,
             d.rollout_id::text AS "rolloutId", d.assigned_at AS "assignedAt"
      FROM agent_desired_configs d
      JOIN config_versions v ON v.id = d.config_version_id
      JOIN configs c ON c.id = v.config_id
      WHERE d.agent_uid = ${uid}::uuid`;
    const quarantine = await db.$queryRaw<QuarantineEntry[]>`
      SELECT q.hash, q.error_message AS "errorMessage", q.reported_at AS "reportedAt", q.cleared_at AS "clearedAt",
             q.rollout_id::text AS "rolloutId", m.name AS config, m.version
      FROM config_quarantine q
      LEFT JOIN LATERAL (
        SELECT c.name, v.version FROM config_versions v JOIN configs c ON c.id = v.config_id
        WHERE v.hash = q.hash ORDER BY v.created_at LIMIT 1
      ) m ON true
      WHERE q.agent_uid = ${uid}::uuid
      ORDER BY q.reported_at DESC
      LIMIT 50`;
    return {
      uid,
      agentType: agents[0]!.agentType,
      desired: desired[0] ?? null,
      activeRolloutId: await this.activeRollout(db, uid),
      quarantine,
    };
  }

  /**
   * Assigns version `input.version` of config `input.config` to the agent (source `assignment`).
   * Refused when the agent is unknown (404), the config or version does not exist (404), the
   * config is for another agent type and not generic (422), or the agent is in an active
   * rollout, lacks AcceptsRemoteConfig, or quarantined this version without `clearQuarantine`
   * (409).
   */
  async assign(uid: string, input: AssignToAgentInput): Promise<AgentConfigState & { commandId: string }> {
    if (!Number.isSafeInteger(input.version) || input.version < 1) {
      throw new ConfigInputError('version', 'must be a positive integer');
    }
    return this.prisma.$transaction(
      async (tx) => {
        const agent = await this.lockAgent(tx, uid);
        const rows = await tx.$queryRaw<Array<{ agentType: string; id: bigint | null; hash: string | null }>>`
          SELECT c.agent_type AS "agentType", v.id, v.hash
          FROM configs c LEFT JOIN config_versions v ON v.config_id = c.id AND v.version = ${input.version}::int
          WHERE c.name = ${input.config}`;
        const found = rows[0];
        if (!found) throw new ConfigNotFoundError(input.config);
        if (found.id === null || found.hash === null) throw new ConfigVersionNotFoundError(input.config, input.version);
        if (found.agentType !== 'generic' && found.agentType !== agent.agentType) {
          throw new AgentTypeMismatchError(uid, agent.agentType, input.config, found.agentType);
        }
        if (!hasCapability(BigInt.asUintN(64, agent.capabilities), AgentCapability.AcceptsRemoteConfig)) {
          throw new AgentConfigConflictError(
            uid,
            'capability_missing',
            `Agent ${uid} does not declare the AcceptsRemoteConfig capability (0x2), so the fleet never sends it a remote config.`,
          );
        }
        await this.refuseDuringRollout(tx, uid, 'assign a config to');
        if (!input.clearQuarantine) {
          const q = await tx.$queryRaw<Array<{ reportedAt: Date }>>`
            SELECT reported_at AS "reportedAt" FROM config_quarantine
            WHERE agent_uid = ${uid}::uuid AND hash = ${found.hash} AND cleared_at IS NULL`;
          if (q.length > 0) {
            throw new AgentConfigConflictError(
              uid,
              'quarantined',
              `Agent ${uid} reported FAILED for version ${input.version} of "${input.config}" (hash ${found.hash}) at ` +
                `${q[0]!.reportedAt.toISOString()}, so it is quarantined for this agent. Fix the config and post a new ` +
                'version, or send "clearQuarantine": true to offer this one again.',
            );
          }
        }
        const result = await this.desired.assign([uid], found.id, 'assignment', null, {
          db: tx,
          clearQuarantine: input.clearQuarantine === true,
          traceparent: input.traceparent,
        });
        return { ...(await this.get(uid, tx)), commandId: result.commandId };
      },
      { timeout: this.timeout },
    );
  }

  /** Removes the agent's desired config (409 during an active rollout). */
  async unassign(uid: string, traceparent?: string): Promise<{ removed: boolean; commandId: string }> {
    return this.prisma.$transaction(
      async (tx) => {
        await this.lockAgent(tx, uid);
        await this.refuseDuringRollout(tx, uid, 'remove the config of');
        const r = await this.desired.clear([uid], { db: tx, traceparent });
        return { removed: r.removed > 0, commandId: r.commandId };
      },
      { timeout: this.timeout },
    );
  }

  /**
   * Lifts the agent's quarantine of `hash`: marks the entry cleared (kept for history) and, when
   * the hash is the agent's desired config, sends it again with clear_quarantine so the fleet
   * offers it at once. Otherwise the next assignment of that hash carries the flag.
   */
  async clearQuarantine(uid: string, hash: string, traceparent?: string): Promise<QuarantineCleared> {
    if (!isConfigHashHex(hash)) throw new ConfigInputError('hash', 'must be 64 lower-case hex characters');
    return this.prisma.$transaction(
      async (tx) => {
        await this.lockAgent(tx, uid);
        const rows = await tx.$queryRaw<Array<{ clearedAt: Date }>>`
          UPDATE config_quarantine SET cleared_at = COALESCE(cleared_at, now())
          WHERE agent_uid = ${uid}::uuid AND hash = ${hash}
          RETURNING cleared_at AS "clearedAt"`;
        if (rows.length === 0) throw new QuarantineNotFoundError(uid, hash);
        const desired = await tx.$queryRaw<Array<{ hash: string }>>`
          SELECT hash FROM agent_desired_configs WHERE agent_uid = ${uid}::uuid`;
        let commandId: string | null = null;
        if (desired[0]?.hash === hash) {
          commandId = (await this.desired.resend([uid], { db: tx, clearQuarantine: true, traceparent })).commandId;
        }
        return { uid, hash, clearedAt: rows[0]!.clearedAt, resent: commandId !== null, commandId };
      },
      { timeout: this.timeout },
    );
  }

  private async lockAgent(tx: DbClient, uid: string): Promise<AgentRow> {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`agent-config:${uid}`}, 0))`;
    const rows = await tx.$queryRaw<AgentRow[]>`
      SELECT agent_type AS "agentType", capabilities FROM agents WHERE uid = ${uid}::uuid`;
    if (rows.length === 0) throw new AgentNotFoundError(uid);
    return rows[0]!;
  }

  private async activeRollout(db: DbClient, uid: string): Promise<string | null> {
    const rows = await db.$queryRaw<Array<{ rolloutId: string }>>`
      SELECT rollout_id::text AS "rolloutId" FROM rollout_targets WHERE agent_uid = ${uid}::uuid AND active LIMIT 1`;
    return rows[0]?.rolloutId ?? null;
  }

  private async refuseDuringRollout(db: DbClient, uid: string, what: string): Promise<void> {
    const rolloutId = await this.activeRollout(db, uid);
    if (rolloutId !== null) {
      throw new AgentConfigConflictError(
        uid,
        'active_rollout',
        `Cannot ${what} agent ${uid}: it is a target of active rollout ${rolloutId}. Wait for the rollout to finish, or abort it.`,
        rolloutId,
      );
    }
  }
}
