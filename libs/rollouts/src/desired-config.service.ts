// Each agent's desired config: the `agent_desired_configs` row (source of truth) and the
// `control.desiredConfig` envelope that updates the fleet's Redis copy (docs/rollouts.md,
// "Desired config and the fleet"). Whoever changes a row sends the envelope; this service does both.
//
// Built for rollout waves of thousands of agents: per batch one SQL statement (unnest of the uid
// array) and one Redis pipeline with the envelope serialized once. It works inside the caller's
// transaction when given one (the rollout worker sends before it commits; a crash in between
// re-sends the same desired config, which the fleet applies idempotently).
import { Transport } from '@opamp/proto';
import type { BusPublisher } from '@opamp/bus';
import type { Prisma, PrismaClient } from '@opamp/database';
import { uidFromString, uidToString, uuidv7 } from '@opamp/protocol';
import { DesiredConfigDeliveryError } from './configs.errors.js';

export type DesiredConfigSource = 'rollout' | 'rollback' | 'follow' | 'assignment';

/** The client to run statements on: the service's own, or a caller's transaction. */
export type DbClient = PrismaClient | Prisma.TransactionClient;

export const DEFAULT_DESIRED_BATCH_SIZE = 1000;

export interface DesiredConfigServiceOptions {
  prisma: PrismaClient;
  publisher: BusPublisher;
  /** Agents per SQL statement and Redis pipeline. Default 1000. */
  batchSize?: number;
}

export interface DesiredConfigSendOptions {
  /** Run the SQL on this client (a transaction) instead of the service's own. */
  db?: DbClient;
  /** W3C trace context carried by the envelopes. */
  traceparent?: string;
}

export interface AssignOptions extends DesiredConfigSendOptions {
  /**
   * Lift the agents' quarantine of this version's hash: marks their `config_quarantine` rows
   * cleared and sends the command with `clear_quarantine`. Without it, the flag is still sent to
   * agents whose quarantine of this hash a person cleared earlier, so a cleared hash is offered
   * again whenever it is assigned.
   */
  clearQuarantine?: boolean;
}

export interface AssignResult {
  /** Command id of the envelopes (the fleet echoes it in the agents' events). */
  commandId: string;
  /** Canonical hash (hex) of the version assigned. */
  hash: string;
  /** Distinct agents assigned. */
  agents: number;
  /** Agents whose command carried clear_quarantine. */
  quarantineCleared: number;
}

export interface ClearResult {
  commandId: string;
  /** Distinct agents sent an empty desired config. */
  agents: number;
  /** Agents that had a desired config row. */
  removed: number;
}

export interface ResendResult {
  commandId: string;
  /** Agents that have a desired config and were sent it again. */
  agents: number;
}

const ASSIGN_SQL = `
WITH cleared AS (
  UPDATE config_quarantine SET cleared_at = now()
  WHERE $6::boolean AND agent_uid = ANY($1::uuid[]) AND hash = $3 AND cleared_at IS NULL
  RETURNING agent_uid
), up AS (
  INSERT INTO agent_desired_configs AS d (agent_uid, config_version_id, hash, source, rollout_id, assigned_at)
  SELECT u, $2::bigint, $3, $4, $5::uuid, now() FROM unnest($1::uuid[]) AS u
  ON CONFLICT (agent_uid) DO UPDATE SET
    config_version_id = EXCLUDED.config_version_id,
    hash = EXCLUDED.hash,
    source = EXCLUDED.source,
    rollout_id = EXCLUDED.rollout_id,
    assigned_at = EXCLUDED.assigned_at
  RETURNING d.agent_uid
)
SELECT up.agent_uid::text AS uid,
       ($6::boolean OR EXISTS (
          SELECT 1 FROM config_quarantine q
          WHERE q.agent_uid = up.agent_uid AND q.hash = $3 AND q.cleared_at IS NOT NULL
       )) AS "clearQuarantine"
FROM up`;

const CLEAR_SQL = `
DELETE FROM agent_desired_configs WHERE agent_uid = ANY($1::uuid[]) RETURNING agent_uid::text AS uid`;

const RESEND_SQL = `
SELECT d.agent_uid::text AS uid, d.config_version_id AS "versionId", d.hash
FROM agent_desired_configs d WHERE d.agent_uid = ANY($1::uuid[])
ORDER BY d.config_version_id`;

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function uidBytes(uid: string): Uint8Array {
  const b = uidFromString(uid);
  if (!b || b.length !== 16) throw new Error(`not an agent uid: ${JSON.stringify(uid)}`);
  return b;
}

/** Canonical lower-case uids without duplicates (a duplicate would make the upsert fail). */
function distinctUids(uids: readonly string[]): string[] {
  return [...new Set(uids.map((u) => uidToString(uidBytes(u))))];
}

export class DesiredConfigService {
  private readonly prisma: PrismaClient;
  private readonly publisher: BusPublisher;
  private readonly batchSize: number;

  constructor(options: DesiredConfigServiceOptions) {
    this.prisma = options.prisma;
    this.publisher = options.publisher;
    this.batchSize = Math.max(1, options.batchSize ?? DEFAULT_DESIRED_BATCH_SIZE);
  }

  /**
   * Makes `versionId` the desired config of every agent in `agentUids` (upsert) and sends the
   * fleet a desired-config command for each. Agents need not be known yet (no foreign key): the
   * row waits for them.
   */
  async assign(
    agentUids: readonly string[],
    versionId: bigint,
    source: DesiredConfigSource,
    rolloutId: string | null = null,
    options: AssignOptions = {},
  ): Promise<AssignResult> {
    const db = options.db ?? this.prisma;
    const uids = distinctUids(agentUids);
    const version = await this.version(db, versionId);
    const commandId = uidToString(uuidv7());
    const clear = options.clearQuarantine === true;
    let quarantineCleared = 0;
    for (const batch of chunks(uids, this.batchSize)) {
      const rows = await db.$queryRawUnsafe<Array<{ uid: string; clearQuarantine: boolean }>>(
        ASSIGN_SQL,
        batch,
        versionId,
        version.hash,
        source,
        rolloutId,
        clear,
      );
      const plain: Uint8Array[] = [];
      const lifting: Uint8Array[] = [];
      for (const r of rows) (r.clearQuarantine ? lifting : plain).push(uidBytes(r.uid));
      quarantineCleared += lifting.length;
      await this.send(plain, commandId, version.hashBytes, version.configMap, false, options.traceparent);
      await this.send(lifting, commandId, version.hashBytes, version.configMap, true, options.traceparent);
    }
    return { commandId, hash: version.hash, agents: uids.length, quarantineCleared };
  }

  /**
   * Removes the agents' desired config and tells the fleet (empty hash): it stops managing their
   * config, and they keep running what they have.
   */
  async clear(agentUids: readonly string[], options: DesiredConfigSendOptions = {}): Promise<ClearResult> {
    const db = options.db ?? this.prisma;
    const uids = distinctUids(agentUids);
    const commandId = uidToString(uuidv7());
    let removed = 0;
    for (const batch of chunks(uids, this.batchSize)) {
      const rows = await db.$queryRawUnsafe<Array<{ uid: string }>>(CLEAR_SQL, batch);
      removed += rows.length;
      // Sent to every agent asked for, not only those with a row: the fleet's copy is a cache
      // and may hold a config the table no longer has.
      await this.send(batch.map(uidBytes), commandId, new Uint8Array(0), new Uint8Array(0), false, options.traceparent);
    }
    return { commandId, agents: uids.length, removed };
  }

  /**
   * Sends the agents' current desired config again, unchanged in Postgres (e.g. with
   * `clearQuarantine` after a person lifted a quarantine). Agents without one are skipped.
   */
  async resend(agentUids: readonly string[], options: AssignOptions = {}): Promise<ResendResult> {
    const db = options.db ?? this.prisma;
    const uids = distinctUids(agentUids);
    const commandId = uidToString(uuidv7());
    let agents = 0;
    for (const batch of chunks(uids, this.batchSize)) {
      const rows = await db.$queryRawUnsafe<Array<{ uid: string; versionId: bigint; hash: string }>>(RESEND_SQL, batch);
      const byVersion = new Map<bigint, Uint8Array[]>();
      for (const r of rows) {
        const list = byVersion.get(r.versionId) ?? [];
        list.push(uidBytes(r.uid));
        byVersion.set(r.versionId, list);
      }
      for (const [versionId, list] of byVersion) {
        const version = await this.version(db, versionId);
        await this.send(
          list,
          commandId,
          version.hashBytes,
          version.configMap,
          options.clearQuarantine === true,
          options.traceparent,
        );
        agents += list.length;
      }
    }
    return { commandId, agents };
  }

  private async version(
    db: DbClient,
    versionId: bigint,
  ): Promise<{ hash: string; hashBytes: Uint8Array; configMap: Uint8Array }> {
    const rows = await db.$queryRaw<Array<{ hash: string; configMap: Uint8Array }>>`
      SELECT hash, config_map AS "configMap" FROM config_versions WHERE id = ${versionId}::bigint`;
    const row = rows[0];
    if (!row) throw new Error(`config version id ${versionId} does not exist`);
    return {
      hash: row.hash,
      hashBytes: Uint8Array.from(Buffer.from(row.hash, 'hex')),
      configMap: new Uint8Array(row.configMap),
    };
  }

  private async send(
    uids: readonly Uint8Array[],
    commandId: string,
    configHash: Uint8Array,
    configMap: Uint8Array,
    clearQuarantine: boolean,
    traceparent = '',
  ): Promise<void> {
    if (uids.length === 0) return;
    await this.publisher
      .publishInboundToMany(uids, {
        transport: Transport.UNSPECIFIED,
        receivedAtMs: BigInt(Date.now()),
        traceparent,
        payload: {
          case: 'control',
          value: { commandId, command: { case: 'desiredConfig', value: { configHash, configMap, clearQuarantine } } },
        },
      })
      .catch((err: unknown) => {
        throw new DesiredConfigDeliveryError(err);
      });
  }
}
