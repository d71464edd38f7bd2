// `--wait` for rollouts: poll GET /rollouts/{id}, print one progress line per change (CI logs),
// end with the exit code that says how the rollout ended (docs/cli.md "Exit codes").
import { ApiError, ExitCode, NetworkError, type ExitCodeValue } from './errors.js';
import type { RolloutView } from './views.js';

/**
 * `forward`: waiting for the rollout to finish (start, status, resume, promote): a rollback that
 * starts is an end (5). `rollback`: waiting for a rollback someone asked for to finish.
 */
export type WaitMode = 'forward' | 'rollback';

export interface Outcome {
  code: ExitCodeValue;
  /** What a person reads at the end, e.g. "paused by the failure budget". */
  summary: string;
}

const BUDGET_REASON = /^failure budget exceeded/;
const PROMOTION_REASON = /waiting for promotion/;

/** How the rollout ended as far as --wait is concerned; undefined while it is still going. */
export function rolloutOutcome(
  r: Pick<RolloutView, 'state' | 'reason' | 'pauseCause'>,
  mode: WaitMode = 'forward',
): Outcome | undefined {
  switch (r.state) {
    case 'completed':
      return { code: ExitCode.ok, summary: 'completed' };
    case 'paused': {
      // Servers before pauseCause existed: the reasons the worker writes tell the same.
      const cause =
        r.pauseCause ??
        (BUDGET_REASON.test(r.reason ?? '')
          ? 'budget'
          : PROMOTION_REASON.test(r.reason ?? '')
            ? 'promotion'
            : 'person');
      if (cause === 'budget') return { code: ExitCode.failed, summary: 'failed: paused by the failure budget' };
      if (cause === 'promotion') return { code: ExitCode.paused, summary: 'paused: waiting for promotion' };
      return { code: ExitCode.paused, summary: 'paused' };
    }
    case 'aborted':
      return { code: ExitCode.failed, summary: 'aborted' };
    case 'rolling_back':
      return mode === 'rollback' ? undefined : { code: ExitCode.rolledBack, summary: 'rolling back' };
    case 'rolled_back':
      return { code: ExitCode.rolledBack, summary: 'rolled back' };
    default:
      // planned, running (and states this client does not know yet): keep waiting.
      return undefined;
  }
}

/** The progress line without the time: what changes between polls. */
export function progressText(r: RolloutView): string {
  const parts: string[] = [r.state];
  const stages = r.stages ?? [];
  if (r.stage && stages.length > 1) parts.push(`stage ${r.stage.index + 1}/${stages.length} ${r.stage.name}`);
  if (r.state === 'rolling_back' || r.state === 'rolled_back') {
    const rb = r.rollback;
    if (rb) {
      const total = rb.counts.pending + rb.counts.applying + rb.counts.done;
      const current = rb.waves.findIndex((w) => w.state !== 'passed');
      if (current >= 0) parts.push(`rollback wave ${current + 1}/${rb.waves.length}`);
      parts.push(`restored ${rb.counts.done}/${total}`, `restoring ${rb.counts.applying}`);
    } else {
      parts.push('planning the rollback');
    }
  } else {
    const waves = (r.waves ?? []).filter((w) => (w.direction ?? 'forward') === 'forward');
    if (r.currentWave !== null && r.currentWave !== undefined && waves.length > 0) {
      const pos = waves.findIndex((w) => w.index === r.currentWave);
      const w = waves[pos];
      if (w) parts.push(`wave ${pos + 1}/${waves.length} ${w.state}`);
    } else if (waves.length > 0) {
      parts.push(`waves ${waves.length}/${waves.length}`);
    }
    const c = r.counts;
    if (c) {
      parts.push(
        `applied ${c.applied}`,
        `failed ${c.failed + c.timed_out}`,
        `pending ${c.pending + c.applying}`,
        ...(c.skipped > 0 ? [`skipped ${c.skipped}`] : []),
      );
    }
  }
  if (r.reason) parts.push(`(${r.reason})`);
  return parts.join('  ');
}

export interface WaitDeps {
  fetchRollout: (id: string) => Promise<RolloutView>;
  /** One progress line (no newline). */
  progress: (line: string) => void;
  /** A warning (transient errors while polling). */
  warn: (line: string) => void;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
}

export interface WaitOptions {
  intervalMs: number;
  /** Give up after this long (exit 6); undefined: wait as long as it takes. */
  timeoutMs?: number;
  mode?: WaitMode;
  /** The rollout as a previous call returned it (printed first, saves one poll). */
  initial?: RolloutView;
}

export interface WaitResult extends Outcome {
  rollout: RolloutView | undefined;
}

/** Consecutive failed polls tolerated (a restarting api, a proxy hiccup) before giving up. */
const MAX_POLL_FAILURES = 5;

const transient = (err: unknown): boolean =>
  err instanceof NetworkError || (err instanceof ApiError && (err.status >= 500 || err.status === 429));

export async function waitForRollout(id: string, opts: WaitOptions, deps: WaitDeps): Promise<WaitResult> {
  const start = deps.now();
  const deadline = opts.timeoutMs === undefined ? Infinity : start + opts.timeoutMs;
  const stamp = (): string => `[${String(Math.round((deps.now() - start) / 1000)).padStart(4)}s]`;
  let last: RolloutView | undefined;
  let lastLine = '';
  let failures = 0;
  let next: RolloutView | undefined = opts.initial;
  for (;;) {
    let r = next;
    next = undefined;
    if (!r) {
      try {
        r = await deps.fetchRollout(id);
        failures = 0;
      } catch (err) {
        if (!transient(err) || ++failures > MAX_POLL_FAILURES) throw err;
        deps.warn(`${stamp()} could not read rollout ${id} (${(err as Error).message}); trying again`);
      }
    }
    if (r) {
      last = r;
      const line = progressText(r);
      if (line !== lastLine) {
        deps.progress(`${stamp()} ${line}`);
        lastLine = line;
      }
      const outcome = rolloutOutcome(r, opts.mode);
      if (outcome) return { ...outcome, rollout: r };
    }
    const left = deadline - deps.now();
    if (left <= 0) {
      const secs = Math.round((opts.timeoutMs ?? 0) / 1000);
      return {
        code: ExitCode.timedOut,
        summary: `timed out after ${secs}s (still ${last?.state ?? 'unknown'})`,
        rollout: last,
      };
    }
    await deps.sleep(Math.min(opts.intervalMs, left));
  }
}
