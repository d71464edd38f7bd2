// Shared types of remote configs (docs/rollouts.md, "Configs and versions"). Pure: no I/O.
import type { AgentType } from '../description.js';

export type { AgentType };

/** Agent types a config is written for; `generic` configs are checked for limits only. */
export const AGENT_TYPES: readonly AgentType[] = ['fluentbit', 'fluentd', 'otelcol', 'generic'];

export function isAgentType(v: unknown): v is AgentType {
  return typeof v === 'string' && (AGENT_TYPES as readonly string[]).includes(v);
}

/** Config names are unique and appear in URLs: lower-case DNS-label-like, 1 to 63 characters. */
export const CONFIG_NAME_PATTERN = /^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/;

export function isConfigName(v: unknown): v is string {
  return typeof v === 'string' && CONFIG_NAME_PATTERN.test(v);
}

/** How a file's `content` is written in the REST API. */
export type ConfigFileEncoding = 'utf8' | 'base64';

/** One file as a client sends it (and as the API returns it). */
export interface ConfigFileInput {
  name: string;
  contentType: string;
  content: string;
  /** Default `utf8`. */
  encoding?: ConfigFileEncoding;
}

/** One file of a config version: its exact bytes, as agents receive them. */
export interface ConfigFile {
  name: string;
  contentType: string;
  body: Uint8Array;
}

/** Why a version is refused. `file` and `line` (1-based) point at the cause where known. */
export interface ConfigProblem {
  file?: string;
  line?: number;
  column?: number;
  message: string;
}

/** `file:line:column: message`, leaving out what is unknown. */
export function formatConfigProblem(p: ConfigProblem): string {
  let where = p.file === undefined ? '' : p.file;
  if (p.line !== undefined) where += `${where === '' ? 'line ' : ':'}${p.line}`;
  if (p.line !== undefined && p.column !== undefined) where += `:${p.column}`;
  return where === '' ? p.message : `${where}: ${p.message}`;
}
