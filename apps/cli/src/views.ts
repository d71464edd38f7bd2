// The API's JSON as this client reads it (docs/rollouts.md, docs/api.md). Only the fields the
// CLI shows or decides on; everything else passes through untouched to `-o json`.

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface TargetCounts {
  pending: number;
  applying: number;
  applied: number;
  failed: number;
  timed_out: number;
  skipped: number;
}

export interface WaveView {
  direction?: 'forward' | 'rollback';
  index: number;
  stage: number;
  size: number;
  state: string;
  counts: TargetCounts;
}

export interface StageView {
  index: number;
  name: string;
  selector: string;
  promotion: 'auto' | 'manual';
  agents: number;
  counts?: TargetCounts;
}

export interface StagePlanView {
  name: string;
  selector: string;
  promotion: 'auto' | 'manual';
  agents: number;
  waves: number[];
}

export interface PlanView {
  targets: number;
  stages: StagePlanView[];
  excluded: Record<string, number>;
  minimumDurationSeconds?: number;
}

export type PauseCause = 'person' | 'budget' | 'promotion';

export interface RolloutView {
  id: string | null;
  state: string;
  reason?: string | null;
  config: { id?: string; name: string; agentType?: string };
  version: { number: number; hash: string };
  selector: string;
  targets?: number;
  stageIndex?: number;
  plan?: PlanView;
  strategy?: Record<string, unknown>;
  stage?: StageView | null;
  stages?: StageView[];
  counts?: TargetCounts;
  waves?: WaveView[];
  currentWave?: number | null;
  rollback?: {
    waves: Array<Omit<WaveView, 'counts'>>;
    counts: { pending: number; applying: number; done: number };
  } | null;
  pauseCause?: PauseCause | null;
  createdAt?: string;
  createdBy?: string | null;
}

export interface ConfigView {
  name: string;
  agentType: string;
  description: string | null;
  versionCount: number;
  latestVersion: { version: number; hash: string; createdAt: string } | null;
}

export interface VersionSummaryView {
  config: string;
  version: number;
  hash: string;
  created?: boolean;
  files?: unknown;
}

export interface VersionView extends VersionSummaryView {
  files: Array<{ name: string; contentType: string; encoding: 'utf8' | 'base64'; content: string; size?: number }>;
}

export interface DiffView {
  config: string;
  from: { version: number | string; hash: string | null };
  to: { version: number | string; hash: string | null };
  identical: boolean;
  summary: { added: number; removed: number; changed: number; unchanged: number };
  files: Array<{
    name: string;
    status: 'added' | 'removed' | 'changed' | 'unchanged';
    binary?: boolean;
    linesAdded?: number;
    linesRemoved?: number;
    patch?: string;
    patchOmitted?: string;
  }>;
}

export interface AgentView {
  uid: string;
  agentType?: string;
  serviceName?: string | null;
  serviceVersion?: string | null;
  hostName?: string | null;
  osType?: string | null;
  labels?: Record<string, string>;
  mergedLabels?: Record<string, string>;
  capabilities?: { value: string; hex?: string; names?: string[] };
  healthy?: boolean | null;
  connectionState?: string;
  transport?: string | null;
  remoteConfigStatus?: { status: string; lastRemoteConfigHash: string; errorMessage: string } | null;
  effectiveConfigHash?: string | null;
  effectiveConfig?: { hash: string | null } | null;
  customCapabilities?: string[];
  firstSeenAt?: string | null;
  lastSeenAt?: string | null;
  disconnectedAt?: string | null;
}

export interface CommandView {
  id: string;
  commandId?: string;
  agentUid: string;
  kind: string;
  capability?: string | null;
  type?: string | null;
  state: string;
  reason?: string | null;
  result?: unknown;
  bulkId?: string | null;
  createdAt?: string;
  sentAt?: string | null;
  completedAt?: string | null;
}

export interface AuditEventView {
  id: string;
  at: string;
  actor: string;
  actorType?: string;
  actorRole?: string | null;
  action: string;
  resourceType?: string | null;
  resourceId?: string | null;
  interface?: string;
  sourceIp?: string | null;
  outcome: string;
  status?: number | null;
}
