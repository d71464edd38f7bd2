// Configs, versions and diffs.
import type { ConfigFileDiff, ConfigFileSummary } from '@opamp/domain';
import type { Page } from '../../common/pagination.js';
import type { ConfigView, DiffView, VersionSummaryView, VersionView } from '../../configs/config.view.js';
import {
  parseConfigName,
  parseCreateConfigBody,
  parseListConfigsQuery,
  parseVersionBody,
  parseVersionParam,
} from '../../configs/configs.query.js';
import { objectType, restBody, restQuery, type FieldResolver, type ObjectResolvers } from '../resolver-types.js';
import type { ResolverDeps } from './deps.js';

const version = (name: string, v: unknown): number => parseVersionParam(name, String(v));

export function configQueries(d: ResolverDeps): Record<string, FieldResolver> {
  return {
    configs: (_s, a) => d.configs.list(parseListConfigsQuery(restQuery(a))),
    config: (_s, a) => d.configs.get(parseConfigName(String(a.name))),
    versions: (_s, a) => {
      const { config, ...page } = a;
      return d.configs.listVersions(parseConfigName(String(config)), restQuery(page));
    },
    version: (_s, a) => d.configs.getVersion(parseConfigName(String(a.config)), version('version', a.version)),
    diff: (_s, a) => d.configs.diff(parseConfigName(String(a.config)), version('from', a.from), version('to', a.to)),
  };
}

export function configMutations(d: ResolverDeps): Record<string, FieldResolver> {
  return {
    createConfig: (_s, a) => d.configs.create(parseCreateConfigBody(restBody(a.input))),
    addConfigVersion: (_s, a) => {
      const name = parseConfigName(String(a.config));
      const files = Array.isArray(a.files) ? a.files.map(restBody) : a.files;
      return d.configs.addVersion(name, parseVersionBody({ files }));
    },
  };
}

export const configTypes: Record<string, ObjectResolvers> = {
  ConfigVersionRef: objectType<NonNullable<ConfigView['latestVersion']>>(['version', 'hash', 'createdAt']),
  Config: objectType<ConfigView>([
    'id',
    'name',
    'agentType',
    'description',
    'versionCount',
    'latestVersion',
    'createdAt',
    'updatedAt',
  ]),
  ConfigConnection: objectType<Page<ConfigView>>(['items', 'nextCursor']),
  ConfigFileSummary: objectType<ConfigFileSummary>(['name', 'contentType', 'size']),
  ConfigVersionSummary: objectType<VersionSummaryView>([
    'config',
    'version',
    'hash',
    'agentType',
    'sizeBytes',
    'files',
    'createdAt',
  ]),
  ConfigVersionConnection: objectType<Page<VersionSummaryView>>(['items', 'nextCursor']),
  ConfigFile: objectType<VersionView['files'][number]>(['name', 'contentType', 'encoding', 'content', 'size']),
  ConfigVersion: objectType<VersionView>(['config', 'version', 'hash', 'agentType', 'sizeBytes', 'files', 'createdAt']),
  ConfigDiffSide: objectType<DiffView['from']>(['version', 'hash']),
  ConfigDiffSummary: objectType<DiffView['summary']>(['added', 'removed', 'changed', 'unchanged']),
  ConfigFileSide: objectType<NonNullable<ConfigFileDiff['from']>>(['contentType', 'size']),
  ConfigFileDiff: objectType<ConfigFileDiff>([
    'name',
    'status',
    'from',
    'to',
    'binary',
    'linesAdded',
    'linesRemoved',
    'patch',
    'patchOmitted',
  ]),
  ConfigDiff: objectType<DiffView>(['config', 'from', 'to', 'identical', 'summary', 'files']),
  CreateConfigResult: objectType<{ config: ConfigView; created: boolean }>(['config', 'created']),
  AddConfigVersionResult: objectType<{ version: VersionSummaryView; created: boolean }>(['version', 'created']),
};
