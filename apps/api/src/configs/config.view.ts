// JSON representations of configs, versions and diffs. bigint ids never reach JSON.stringify and
// times are ISO 8601 strings.
import { encodeConfigFile, type ConfigFileDiff } from '@opamp/domain';
import type { ConfigInfo, ConfigVersionContent, ConfigVersionDiff, ConfigVersionInfo } from '@opamp/rollouts';

export function configView(c: ConfigInfo) {
  return {
    name: c.name,
    id: c.id,
    agentType: c.agentType,
    description: c.description,
    versionCount: c.versionCount,
    latestVersion: c.latestVersion
      ? {
          version: c.latestVersion.version,
          hash: c.latestVersion.hash,
          createdAt: c.latestVersion.createdAt.toISOString(),
        }
      : null,
    createdAt: c.createdAt.toISOString(),
    updatedAt: c.updatedAt.toISOString(),
  };
}

export type ConfigView = ReturnType<typeof configView>;

export function versionSummaryView(v: ConfigVersionInfo) {
  return {
    config: v.config,
    version: v.version,
    hash: v.hash,
    agentType: v.agentType,
    sizeBytes: v.sizeBytes,
    files: v.files,
    createdAt: v.createdAt.toISOString(),
  };
}

export type VersionSummaryView = ReturnType<typeof versionSummaryView>;

export function versionView(v: ConfigVersionContent) {
  return { ...versionSummaryView(v), files: v.content.map(encodeConfigFile) };
}

export type VersionView = ReturnType<typeof versionView>;

export function diffView(d: ConfigVersionDiff) {
  const summary = { added: 0, removed: 0, changed: 0, unchanged: 0 };
  for (const f of d.files) summary[f.status]++;
  return {
    config: d.config,
    from: { version: d.from.version, hash: d.from.hash },
    to: { version: d.to.version, hash: d.to.hash },
    identical: d.identical,
    summary,
    files: d.files satisfies ConfigFileDiff[],
  };
}

export type DiffView = ReturnType<typeof diffView>;
