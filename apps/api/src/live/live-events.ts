// What the live-update streams carry (docs/live-updates.md): the entries of three Redis streams,
// parsed into one event type, their resumable ids (`<type>:<stream entry id>`), and the filters
// a subscriber chooses.
import { EVENT_FIELD, StreamKeys } from '@opamp/bus';
import { matchesLabelSelector, type LabelSelector, type Labels, type RolloutStateName } from '@opamp/domain';
import { parseRolloutEvent } from '@opamp/rollouts';

export const LIVE_TYPES = ['agent', 'rollout', 'command'] as const;
export type LiveType = (typeof LIVE_TYPES)[number];

export function isLiveType(v: string): v is LiveType {
  return (LIVE_TYPES as readonly string[]).includes(v);
}

/** The Redis stream each type of event is read from. */
export const LIVE_STREAMS: Readonly<Record<LiveType, string>> = {
  agent: StreamKeys.agentEvents,
  rollout: StreamKeys.rolloutEvents,
  command: StreamKeys.commandEvents,
};

/** Something happened to an agent (libs/domain AgentEvent, as the fleet records it). */
export interface AgentChange {
  agentUid: string;
  /** first_seen, connected, disconnected, health_changed, … */
  type: string;
  /** ISO 8601. */
  at: string;
  data: Record<string, unknown>;
  /** Identity of the event (the key of its agent_events row); null from an older fleet. */
  key: string | null;
}

/** A rollout transition (docs/rollouts.md, Events). */
export interface RolloutProgress {
  rolloutId: string;
  step: number;
  at: string;
  type: string;
  state: RolloutStateName;
  stage: number;
  wave: number | null;
  counts: Record<string, number> | null;
  reason: string | null;
}

/** A command moved to another state. */
export interface CommandUpdate {
  commandId: string;
  agentUid: string;
  /** restart | custom */
  kind: string;
  /** queued | sent | succeeded | failed | timed_out */
  state: string;
  reason: string | null;
  /** Set for commands of a bulk request. */
  bulkId: string | null;
  at: string;
}

interface EventOf<T extends LiveType, P> {
  type: T;
  /** `<type>:<entry id>`: what SSE sends as `id:` and takes back as Last-Event-ID. */
  id: string;
  /** The Redis stream entry id (`<ms>-<seq>`). */
  entryId: string;
  payload: P;
}

export type LiveEvent =
  EventOf<'agent', AgentChange> | EventOf<'rollout', RolloutProgress> | EventOf<'command', CommandUpdate>;

const ENTRY_ID = /^(\d{1,20})-(\d{1,20})$/;

export function isEntryId(v: string): boolean {
  return ENTRY_ID.test(v);
}

/** Orders two stream entry ids (`<ms>-<seq>`): negative, 0 or positive. */
export function compareEntryIds(a: string, b: string): number {
  const [am = '0', as = '0'] = a.split('-');
  const [bm = '0', bs = '0'] = b.split('-');
  const ms = BigInt(am) - BigInt(bm);
  if (ms !== 0n) return ms < 0n ? -1 : 1;
  const seq = BigInt(as) - BigInt(bs);
  return seq === 0n ? 0 : seq < 0n ? -1 : 1;
}

export interface LiveEventId {
  type: LiveType;
  entryId: string;
}

/** Parses `<type>:<entry id>` (an SSE Last-Event-ID); undefined when it is not one. */
export function parseLiveEventId(text: string): LiveEventId | undefined {
  const i = text.indexOf(':');
  if (i < 0) return undefined;
  const type = text.slice(0, i);
  const entryId = text.slice(i + 1);
  if (!isLiveType(type) || !ENTRY_ID.test(entryId)) return undefined;
  return { type, entryId };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const text = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** The value of `name` in a flat [field, value, field, value, …] stream entry. */
function field(fields: readonly string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

function parseJson(raw: string | undefined): unknown {
  if (raw === undefined) return undefined;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return undefined;
  }
}

function agentChange(raw: unknown): AgentChange | undefined {
  if (!isObject(raw)) return undefined;
  const agentUid = text(raw.agentUid);
  const type = text(raw.type);
  const atMs = raw.atMs;
  if (!agentUid || !type || typeof atMs !== 'number' || !Number.isFinite(atMs)) return undefined;
  return {
    agentUid,
    type,
    at: new Date(atMs).toISOString(),
    data: isObject(raw.data) ? raw.data : {},
    key: text(raw.key) ?? null,
  };
}

function commandUpdate(raw: unknown): CommandUpdate | undefined {
  if (!isObject(raw)) return undefined;
  const commandId = text(raw.commandId);
  const agentUid = text(raw.agentUid);
  const kind = text(raw.kind);
  const state = text(raw.state);
  const at = text(raw.at);
  if (!commandId || !agentUid || !kind || !state || !at) return undefined;
  return { commandId, agentUid, kind, state, reason: text(raw.reason) ?? null, bulkId: text(raw.bulkId) ?? null, at };
}

function rolloutProgress(raw: string | undefined): RolloutProgress | undefined {
  const e = raw === undefined ? undefined : parseRolloutEvent(raw);
  if (!e) return undefined;
  return {
    rolloutId: e.rolloutId,
    step: e.step,
    at: e.at,
    type: e.type,
    state: e.state,
    stage: e.stage,
    wave: e.wave ?? null,
    counts: e.counts ? { ...e.counts } : null,
    reason: e.reason ?? null,
  };
}

/** One stream entry as a LiveEvent; undefined for an entry that is not a well-formed event. */
export function parseStreamEntry(type: LiveType, entryId: string, fields: readonly string[]): LiveEvent | undefined {
  const raw = field(fields, EVENT_FIELD);
  const id = `${type}:${entryId}`;
  switch (type) {
    case 'agent': {
      const payload = agentChange(parseJson(raw));
      return payload && { type, id, entryId, payload };
    }
    case 'rollout': {
      const payload = rolloutProgress(raw);
      return payload && { type, id, entryId, payload };
    }
    case 'command': {
      const payload = commandUpdate(parseJson(raw));
      return payload && { type, id, entryId, payload };
    }
  }
}

/** The agent an event is about (agent and command events), for the agent and selector filters. */
export function agentOf(e: LiveEvent): string | undefined {
  return e.type === 'rollout' ? undefined : e.payload.agentUid;
}

/** What a subscriber wants; every condition given must hold. */
export interface LiveFilter {
  types: ReadonlySet<LiveType>;
  /** Rollout events of this rollout only. */
  rolloutId?: string;
  /** Agent and command events of this agent only (lower-case uid). */
  agentUid?: string;
  /** Agent and command events of agents whose labels match (non-empty). */
  selector?: LabelSelector;
}

/**
 * Whether `e` passes `f`. `labelsOf` gives the merged labels of an agent (undefined when the agent
 * is not stored yet: a selector then does not match).
 */
export function matchesFilter(e: LiveEvent, f: LiveFilter, labelsOf: (uid: string) => Labels | undefined): boolean {
  if (!f.types.has(e.type)) return false;
  if (e.type === 'rollout') return f.rolloutId === undefined || e.payload.rolloutId === f.rolloutId;
  const uid = e.payload.agentUid.toLowerCase();
  if (f.agentUid !== undefined && uid !== f.agentUid) return false;
  if (f.selector !== undefined && f.selector.length > 0) {
    const labels = labelsOf(uid);
    if (!labels || !matchesLabelSelector(f.selector, labels)) return false;
  }
  return true;
}

/** True when some subscriber needs agent labels to decide about `e`. */
export function needsLabels(e: LiveEvent, filters: Iterable<LiveFilter>): boolean {
  if (e.type === 'rollout') return false;
  for (const f of filters) if (f.types.has(e.type) && f.selector !== undefined && f.selector.length > 0) return true;
  return false;
}
