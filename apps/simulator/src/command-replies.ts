// How a simulated agent answers custom commands (docs/commands.md, "The reply convention"): the
// server sends CustomMessage data `{"commandId", "parameters"}` as UTF-8 JSON; the agent answers
// with a CustomMessage of the same capability and type whose data is
// `{"commandId", "status": "succeeded", "result": {...}}` or `{"commandId", "status": "failed", "error": {...}}`.

export interface CommandReplyOptions {
  /** Types answered with status "failed". */
  failTypes?: readonly string[];
  /** Types never answered (the command times out on the server). */
  ignoreTypes?: readonly string[];
}

export type CommandReplyDecision =
  /** The data is not a command (no JSON object with a commandId): handle it like any message. */
  | { kind: 'notCommand' }
  | { kind: 'ignore'; commandId: string }
  | { kind: 'reply'; commandId: string; status: 'succeeded' | 'failed'; data: Uint8Array };

const decoder = new TextDecoder('utf-8', { fatal: true });

/** The reply a simulated agent `agentUid` gives to a custom message of `type` carrying `data`. */
export function decideCommandReply(
  type: string,
  data: Uint8Array,
  agentUid: string,
  opts: CommandReplyOptions = {},
): CommandReplyDecision {
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(data));
  } catch {
    return { kind: 'notCommand' };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { kind: 'notCommand' };
  const { commandId, parameters } = parsed as { commandId?: unknown; parameters?: unknown };
  if (typeof commandId !== 'string' || commandId === '') return { kind: 'notCommand' };
  if (opts.ignoreTypes?.includes(type)) return { kind: 'ignore', commandId };
  const failed = opts.failTypes?.includes(type) ?? false;
  const body = failed
    ? {
        commandId,
        status: 'failed',
        error: { code: 'simulated_failure', message: `simulated failure of command type ${type}` },
      }
    : { commandId, status: 'succeeded', result: { type, parameters: parameters ?? null, agent: agentUid } };
  return {
    kind: 'reply',
    commandId,
    status: failed ? 'failed' : 'succeeded',
    data: new TextEncoder().encode(JSON.stringify(body)),
  };
}
