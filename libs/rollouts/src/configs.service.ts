// Configs and their immutable, numbered versions over Postgres (docs/rollouts.md, "Configs and
// versions"). Nest-free: the api wraps it; the rollout worker and store read the same tables.
//
// Adding a version is idempotent and safe under concurrency without locks: the version row is
// inserted with `max + 1` in one statement and `ON CONFLICT DO NOTHING` on both unique indexes
// ((config, version) and (config, hash)). When nothing was inserted, either the same content was
// stored concurrently (re-read by hash: that version is the answer) or another content took the
// number (retry with a fresh snapshot).
import { Prisma, type PrismaClient } from '@opamp/database';
import { uidToString, uuidv7 } from '@opamp/protocol';
import {
  CONFIG_LIMITS,
  ConfigValidatorRegistry,
  buildConfigVersion,
  decodeConfigFiles,
  decodeConfigMap,
  diffConfigFiles,
  isAgentType,
  isConfigName,
  type AgentType,
  type ConfigFile,
  type ConfigFileDiff,
  type ConfigFileInput,
  type ConfigFileSummary,
  type DiffOptions,
} from '@opamp/domain';
import {
  ConfigBusyError,
  ConfigExistsError,
  ConfigInputError,
  ConfigNotFoundError,
  ConfigValidationError,
  ConfigVersionNotFoundError,
} from './configs.errors.js';

/** Attempts at allocating a version number before giving up (each loses only to a concurrent insert). */
const MAX_INSERT_ATTEMPTS = 20;

export interface ConfigVersionRef {
  /** config_versions.id */
  id: bigint;
  version: number;
  hash: string;
  createdAt: Date;
}

export interface ConfigInfo {
  id: string;
  name: string;
  agentType: AgentType;
  description: string | null;
  createdAt: Date;
  updatedAt: Date;
  /** Newest version; null before the first one. */
  latestVersion: ConfigVersionRef | null;
  versionCount: number;
}

export interface ConfigVersionInfo extends ConfigVersionRef {
  configId: string;
  config: string;
  agentType: AgentType;
  /** Size of the serialized AgentConfigMap sent to agents, in bytes. */
  sizeBytes: number;
  files: ConfigFileSummary[];
}

export interface ConfigVersionContent extends ConfigVersionInfo {
  /** The files with their bytes, in name order. */
  content: ConfigFile[];
  /** The stored, serialized AgentConfigMap. */
  configMap: Uint8Array;
}

export interface ConfigVersionDiff {
  config: string;
  from: ConfigVersionInfo;
  to: ConfigVersionInfo;
  identical: boolean;
  files: ConfigFileDiff[];
}

export interface CreateConfigInput {
  name: string;
  agentType: string;
  description?: string | null;
}

export interface ListConfigsQuery {
  limit: number;
  /** Keyset cursor: names strictly after this one. */
  afterName?: string;
  agentType?: AgentType;
}

export interface ListVersionsQuery {
  limit: number;
  /** Keyset cursor: versions strictly below this number (newest first). */
  beforeVersion?: number;
}

export interface ConfigsServiceOptions {
  prisma: PrismaClient;
  /** Validators a new version must pass; default: limits and syntax per agent type. */
  validators?: ConfigValidatorRegistry;
}

interface ConfigRow {
  id: string;
  name: string;
  agentType: string;
  description: string | null;
  createdAt: Date;
  updatedAt: Date;
  latestId: bigint | null;
  latestVersion: number | null;
  latestHash: string | null;
  latestCreatedAt: Date | null;
  versionCount: bigint | number;
}

interface VersionRow {
  id: bigint;
  configId: string;
  config: string;
  agentType: string;
  version: number;
  hash: string;
  sizeBytes: number;
  files: unknown;
  createdAt: Date;
}

const CONFIG_SELECT = Prisma.sql`
  SELECT c.id::text AS id, c.name, c.agent_type AS "agentType", c.description, c.created_at AS "createdAt",
         c.updated_at AS "updatedAt", l.id AS "latestId", l.version AS "latestVersion", l.hash AS "latestHash",
         l.created_at AS "latestCreatedAt",
         (SELECT count(*) FROM config_versions n WHERE n.config_id = c.id) AS "versionCount"
  FROM configs c
  LEFT JOIN LATERAL (
    SELECT v.id, v.version, v.hash, v.created_at FROM config_versions v
    WHERE v.config_id = c.id ORDER BY v.version DESC LIMIT 1
  ) l ON true`;

const VERSION_SELECT = Prisma.sql`
  SELECT v.id, v.config_id::text AS "configId", c.name AS config, c.agent_type AS "agentType", v.version, v.hash,
         v.size_bytes AS "sizeBytes", v.files, v.created_at AS "createdAt"
  FROM config_versions v JOIN configs c ON c.id = v.config_id`;

function toAgentType(v: string): AgentType {
  // The column has a CHECK constraint; anything else is a schema drift worth failing loudly on.
  if (!isAgentType(v)) throw new Error(`configs.agent_type holds an unknown agent type: ${v}`);
  return v;
}

function configInfo(r: ConfigRow): ConfigInfo {
  return {
    id: r.id,
    name: r.name,
    agentType: toAgentType(r.agentType),
    description: r.description,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    latestVersion:
      r.latestId === null
        ? null
        : { id: r.latestId, version: r.latestVersion!, hash: r.latestHash!, createdAt: r.latestCreatedAt! },
    versionCount: Number(r.versionCount),
  };
}

function fileSummaries(raw: unknown): ConfigFileSummary[] {
  if (!Array.isArray(raw)) return [];
  return raw.map((f: { name?: unknown; contentType?: unknown; size?: unknown }) => ({
    name: String(f.name ?? ''),
    contentType: String(f.contentType ?? ''),
    size: Number(f.size ?? 0),
  }));
}

function versionInfo(r: VersionRow): ConfigVersionInfo {
  return {
    id: r.id,
    configId: r.configId,
    config: r.config,
    agentType: toAgentType(r.agentType),
    version: r.version,
    hash: r.hash,
    sizeBytes: r.sizeBytes,
    files: fileSummaries(r.files),
    createdAt: r.createdAt,
  };
}

/** Validates the fields of a new config; returns them normalised. */
export function parseCreateConfigInput(input: CreateConfigInput): {
  name: string;
  agentType: AgentType;
  description: string | null;
} {
  if (!isConfigName(input.name)) {
    throw new ConfigInputError(
      'name',
      'must be 1 to 63 characters of a-z, 0-9, ".", "_" and "-", starting and ending with a letter or digit',
    );
  }
  if (!isAgentType(input.agentType)) {
    throw new ConfigInputError('agentType', 'must be one of fluentbit, fluentd, otelcol, generic');
  }
  const description = input.description ?? null;
  if (description !== null && description.length > CONFIG_LIMITS.maxDescriptionLength) {
    throw new ConfigInputError('description', `must be at most ${CONFIG_LIMITS.maxDescriptionLength} characters`);
  }
  return { name: input.name, agentType: input.agentType, description };
}

export class ConfigsService {
  private readonly prisma: PrismaClient;
  private readonly validators: ConfigValidatorRegistry;

  constructor(options: ConfigsServiceOptions) {
    this.prisma = options.prisma;
    this.validators = options.validators ?? new ConfigValidatorRegistry();
  }

  /**
   * Creates a config. Posting the same name, agent type and description again returns the
   * existing config (`created: false`); the same name with other fields is a ConfigExistsError.
   */
  async create(input: CreateConfigInput): Promise<{ config: ConfigInfo; created: boolean }> {
    const { name, agentType, description } = parseCreateConfigInput(input);
    const inserted = await this.prisma.$queryRaw<Array<{ id: string }>>`
      INSERT INTO configs (id, name, agent_type, description)
      VALUES (${uidToString(uuidv7())}::uuid, ${name}, ${agentType}, ${description})
      ON CONFLICT (name) DO NOTHING
      RETURNING id::text AS id`;
    const config = await this.get(name);
    if (inserted.length === 0 && (config.agentType !== agentType || config.description !== description)) {
      throw new ConfigExistsError(name, { agentType: config.agentType, description: config.description });
    }
    return { config, created: inserted.length > 0 };
  }

  /** One page of configs in name order (`next` is the last name when more follow). */
  async list(q: ListConfigsQuery): Promise<{ items: ConfigInfo[]; next: string | null }> {
    const where: Prisma.Sql[] = [];
    if (q.afterName !== undefined) where.push(Prisma.sql`c.name > ${q.afterName}`);
    if (q.agentType !== undefined) where.push(Prisma.sql`c.agent_type = ${q.agentType}`);
    const rows = await this.prisma.$queryRaw<ConfigRow[]>`
      ${CONFIG_SELECT}
      ${where.length > 0 ? Prisma.sql`WHERE ${Prisma.join(where, ' AND ')}` : Prisma.empty}
      ORDER BY c.name
      LIMIT ${q.limit + 1}::int`;
    const items = rows.slice(0, q.limit).map(configInfo);
    return { items, next: rows.length > q.limit ? items[items.length - 1]!.name : null };
  }

  async get(name: string): Promise<ConfigInfo> {
    const rows = await this.prisma.$queryRaw<ConfigRow[]>`${CONFIG_SELECT} WHERE c.name = ${name}`;
    if (rows.length === 0) throw new ConfigNotFoundError(name);
    return configInfo(rows[0]!);
  }

  /**
   * Validates the files and stores them as the next version, or returns the version that already
   * has exactly this content (`created: false`). Invalid content is a ConfigValidationError
   * listing every problem; nothing is stored.
   */
  async addVersion(
    name: string,
    inputs: readonly ConfigFileInput[],
  ): Promise<{ version: ConfigVersionInfo; created: boolean }> {
    const config = await this.get(name);
    const decoded = decodeConfigFiles(inputs);
    if (decoded.problems.length > 0) throw new ConfigValidationError(name, decoded.problems);
    const problems = await this.validators.validate({ agentType: config.agentType, files: decoded.files });
    if (problems.length > 0) throw new ConfigValidationError(name, problems);
    const built = buildConfigVersion(decoded.files);

    for (let attempt = 0; attempt < MAX_INSERT_ATTEMPTS; attempt++) {
      const existing = await this.findByHash(config.id, built.hashHex);
      if (existing) return { version: existing, created: false };
      const inserted = await this.prisma.$queryRaw<Array<{ id: bigint }>>`
        WITH ins AS (
          INSERT INTO config_versions (config_id, version, hash, config_map, files, size_bytes)
          SELECT ${config.id}::uuid, COALESCE(MAX(v.version), 0) + 1, ${built.hashHex}, ${Buffer.from(built.bytes)},
                 ${JSON.stringify(built.summary)}::jsonb, ${built.bytes.byteLength}::int
          FROM config_versions v WHERE v.config_id = ${config.id}::uuid
          ON CONFLICT DO NOTHING
          RETURNING id
        ), touched AS (
          UPDATE configs SET updated_at = now() WHERE id = ${config.id}::uuid AND EXISTS (SELECT 1 FROM ins)
        )
        SELECT id FROM ins`;
      if (inserted.length > 0) {
        const rows = await this.prisma.$queryRaw<VersionRow[]>`${VERSION_SELECT} WHERE v.id = ${inserted[0]!.id}`;
        return { version: versionInfo(rows[0]!), created: true };
      }
      // Lost a race: the same content (found by hash on the next pass) or the same number (retry).
    }
    throw new ConfigBusyError(name);
  }

  /** Versions newest first; `next` is the last version number when more follow. */
  async listVersions(name: string, q: ListVersionsQuery): Promise<{ items: ConfigVersionInfo[]; next: number | null }> {
    const config = await this.get(name);
    const before = q.beforeVersion === undefined ? Prisma.empty : Prisma.sql`AND v.version < ${q.beforeVersion}::int`;
    const rows = await this.prisma.$queryRaw<VersionRow[]>`
      ${VERSION_SELECT}
      WHERE v.config_id = ${config.id}::uuid ${before}
      ORDER BY v.version DESC
      LIMIT ${q.limit + 1}::int`;
    const items = rows.slice(0, q.limit).map(versionInfo);
    return { items, next: rows.length > q.limit ? items[items.length - 1]!.version : null };
  }

  /** A version with its files. */
  async getVersion(name: string, version: number): Promise<ConfigVersionContent> {
    const rows = await this.prisma.$queryRaw<Array<VersionRow & { configMap: Uint8Array }>>`
      SELECT v.id, v.config_id::text AS "configId", c.name AS config, c.agent_type AS "agentType", v.version, v.hash,
             v.size_bytes AS "sizeBytes", v.files, v.created_at AS "createdAt", v.config_map AS "configMap"
      FROM configs c LEFT JOIN config_versions v ON v.config_id = c.id AND v.version = ${version}::int
      WHERE c.name = ${name}`;
    const row = rows[0];
    if (!row) throw new ConfigNotFoundError(name);
    if (row.id === null) throw new ConfigVersionNotFoundError(name, version);
    const configMap = new Uint8Array(row.configMap);
    return { ...versionInfo(row), configMap, content: decodeConfigMap(configMap) };
  }

  /** What changed from version `a` to version `b` (either order). */
  async diff(name: string, a: number, b: number, options?: DiffOptions): Promise<ConfigVersionDiff> {
    const from = await this.getVersion(name, a);
    const to = a === b ? from : await this.getVersion(name, b);
    const files = diffConfigFiles(from.content, to.content, options);
    const strip = ({ content: _c, configMap: _m, ...info }: ConfigVersionContent): ConfigVersionInfo => info;
    return {
      config: name,
      from: strip(from),
      to: strip(to),
      identical: from.hash === to.hash,
      files,
    };
  }

  private async findByHash(configId: string, hash: string): Promise<ConfigVersionInfo | undefined> {
    const rows = await this.prisma.$queryRaw<VersionRow[]>`
      ${VERSION_SELECT} WHERE v.config_id = ${configId}::uuid AND v.hash = ${hash}`;
    return rows[0] ? versionInfo(rows[0]) : undefined;
  }
}
