import { Inject, Injectable } from '@nestjs/common';
import type { CreatedRollout, PlannedRollout, RolloutDetail, RolloutStore, RolloutSummary } from '@opamp/rollouts';
import type { RolloutAction } from '@opamp/rollouts';
import { decodeCursor, encodeCursor, queryFingerprint, type Page } from '../common/pagination.js';
import { rolloutNotFound, withRolloutProblems } from './rollout-problems.js';
import {
  isRolloutId,
  parseRolloutCursorKey,
  rolloutCursorKey,
  type CreateRolloutBody,
  type ListRolloutsQuery,
} from './rollouts.query.js';

/** Nest injection token of the api's RolloutStore. */
export const ROLLOUT_STORE = Symbol('ROLLOUT_STORE');

/** What POST /api/v1/rollouts answers with dryRun: the plan, nothing stored. */
export interface DryRunResult extends PlannedRollout {
  id: null;
  dryRun: true;
  state: 'planned';
}

@Injectable()
export class RolloutsService {
  constructor(@Inject(ROLLOUT_STORE) private readonly store: RolloutStore) {}

  /** `createdBy`: the caller's principal id ("key:<uuid>" / "user:<sub>"), kept on the rollout. */
  create(body: CreateRolloutBody, createdBy?: string): Promise<CreatedRollout | DryRunResult> {
    const input = {
      config: body.config,
      version: body.version,
      selector: body.selector,
      strategy: body.strategy,
      ...(createdBy ? { createdBy } : {}),
    };
    return withRolloutProblems(async () => {
      if (!body.dryRun) return this.store.create(input);
      const planned = await this.store.plan(input);
      return { id: null, dryRun: true, state: 'planned', ...planned };
    });
  }

  async list(q: ListRolloutsQuery): Promise<Page<RolloutSummary>> {
    const fingerprint = queryFingerprint({ rollouts: 1, st: q.states, c: q.config ?? null });
    const after =
      q.cursor === undefined
        ? undefined
        : parseRolloutCursorKey(decodeCursor(q.cursor, fingerprint, (k) => parseRolloutCursorKey(k) !== undefined));
    const rows = await this.store.list({ states: q.states, config: q.config, limit: q.limit, after });
    const items = rows.slice(0, q.limit);
    const last = items[items.length - 1];
    const nextCursor =
      rows.length > q.limit && last ? encodeCursor(rolloutCursorKey(last.createdAt, last.id), fingerprint) : null;
    return { items, nextCursor };
  }

  get(id: string): Promise<RolloutDetail> {
    if (!isRolloutId(id)) throw rolloutNotFound(id);
    return withRolloutProblems(() => this.store.get(id.toLowerCase()));
  }

  control(id: string, action: RolloutAction, opts: { reason?: string }): Promise<RolloutDetail> {
    if (!isRolloutId(id)) throw rolloutNotFound(id);
    return withRolloutProblems(() => this.store.control(id.toLowerCase(), action, opts));
  }
}
