import { Inject, Injectable } from '@nestjs/common';
import type { ConfigFileInput } from '@opamp/domain';
import type { ConfigsService } from '@opamp/rollouts';
import {
  decodeCursor,
  encodeCursor,
  parseLimit,
  queryFingerprint,
  singleParam,
  type Page,
} from '../common/pagination.js';
import { withConfigProblems } from './config-problems.js';
import {
  configView,
  diffView,
  versionSummaryView,
  versionView,
  type ConfigView,
  type DiffView,
  type VersionSummaryView,
  type VersionView,
} from './config.view.js';
import type { CreateConfigBody, ListConfigsParams } from './configs.query.js';

/** Nest injection tokens of the @opamp/rollouts services the api uses. */
export const CONFIGS = Symbol('CONFIGS');
export const DESIRED_CONFIGS = Symbol('DESIRED_CONFIGS');
export const AGENT_DESIRED_CONFIGS = Symbol('AGENT_DESIRED_CONFIGS');

const isConfigNameKey = (k: string): boolean => /^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/.test(k);

/** The REST face of ConfigsService: views, status codes, cursors, problems. */
@Injectable()
export class ConfigsApiService {
  constructor(@Inject(CONFIGS) private readonly configs: ConfigsService) {}

  create(body: CreateConfigBody): Promise<{ config: ConfigView; created: boolean }> {
    return withConfigProblems(async () => {
      const r = await this.configs.create(body);
      return { config: configView(r.config), created: r.created };
    });
  }

  list(q: ListConfigsParams): Promise<Page<ConfigView>> {
    const fingerprint = queryFingerprint({ configs: 1, t: q.agentType ?? null });
    const afterName = q.cursor === undefined ? undefined : decodeCursor(q.cursor, fingerprint, isConfigNameKey);
    return withConfigProblems(async () => {
      const page = await this.configs.list({ limit: q.limit, afterName, agentType: q.agentType });
      return {
        items: page.items.map(configView),
        nextCursor: page.next === null ? null : encodeCursor(page.next, fingerprint),
      };
    });
  }

  get(name: string): Promise<ConfigView> {
    return withConfigProblems(async () => configView(await this.configs.get(name)));
  }

  addVersion(name: string, files: ConfigFileInput[]): Promise<{ version: VersionSummaryView; created: boolean }> {
    return withConfigProblems(async () => {
      const r = await this.configs.addVersion(name, files);
      return { version: versionSummaryView(r.version), created: r.created };
    });
  }

  listVersions(name: string, query: Record<string, unknown>): Promise<Page<VersionSummaryView>> {
    const limit = parseLimit(query.limit);
    const cursor = singleParam('cursor', query.cursor);
    const fingerprint = queryFingerprint({ versions: name });
    const before =
      cursor === undefined ? undefined : Number(decodeCursor(cursor, fingerprint, (k) => /^\d{1,10}$/.test(k)));
    return withConfigProblems(async () => {
      const page = await this.configs.listVersions(name, { limit, beforeVersion: before });
      return {
        items: page.items.map(versionSummaryView),
        nextCursor: page.next === null ? null : encodeCursor(String(page.next), fingerprint),
      };
    });
  }

  getVersion(name: string, version: number): Promise<VersionView> {
    return withConfigProblems(async () => versionView(await this.configs.getVersion(name, version)));
  }

  diff(name: string, a: number, b: number): Promise<DiffView> {
    return withConfigProblems(async () => diffView(await this.configs.diff(name, a, b)));
  }
}
