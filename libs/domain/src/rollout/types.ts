// Types shared by the rollout planning logic (this folder), the api and the rollout worker.
// The contract is docs/rollouts.md; keep the two in step.

/** A wave size: an agent count, or a percent of the stage population ("5%"). */
export type WaveSize = number | `${number}%`;

export type PromotionMode = 'auto' | 'manual';

export interface RolloutStageSpec {
  /** Unique within the rollout, shown in plans and pause reasons. */
  name: string;
  /** Kubernetes label selector text, ANDed with the rollout's selector. */
  selector: string;
  /** auto: the next stage starts when this one passes; manual: hold until promoted. Default auto. */
  promotion: PromotionMode;
}

/** The strategy as stored: every default filled in (see normaliseStrategy). */
export interface RolloutStrategy {
  firstWave: WaveSize;
  growthFactor: number;
  maxWave: WaveSize;
  soakSeconds: number;
  applyTimeoutSeconds: number;
  maxFailurePercent: number;
  onFailure: 'pause' | 'rollback';
  /** Empty: one implicit stage holding every matched agent. */
  stages: RolloutStageSpec[];
  maxRestartsPerSecond: number;
  followNewAgents: boolean;
}

/** What a client may send: any subset; stages may omit promotion. */
export type RolloutStrategyInput = Partial<Omit<RolloutStrategy, 'stages'>> & {
  stages?: Array<Omit<RolloutStageSpec, 'promotion'> & { promotion?: PromotionMode }>;
};

export interface StagePlan {
  /** Stage name ("all" for the implicit single stage). */
  name: string;
  selector: string;
  promotion: PromotionMode;
  /** Agents targeted in this stage. */
  agents: number;
  /** Wave sizes in order; they sum to `agents`. */
  waves: number[];
}

export interface RolloutPlan {
  /** Agents the rollout targets (sum over stages). */
  targets: number;
  stages: StagePlan[];
  /**
   * Matched by the selector but not targeted, by reason. Each agent counts once, under the first
   * reason in this order.
   */
  excluded: {
    /** Matches no stage. */
    noStage: number;
    /** The config is for fluentbit, fluentd or otelcol agents and the agent is of another type. */
    wrongAgentType: number;
    noAcceptsRemoteConfig: number;
    quarantined: number;
    alreadyAtTarget: number;
    inOtherRollout: number;
  };
  /** Sum of the soak times of all waves (the least time the rollout can take), seconds. */
  minimumDurationSeconds: number;
}

export type RolloutStateName =
  'planned' | 'running' | 'paused' | 'completed' | 'aborted' | 'rolling_back' | 'rolled_back';

export type TargetStateName = 'pending' | 'applying' | 'applied' | 'failed' | 'timed_out' | 'skipped';

/** Target counts of one wave (or a whole rollout). */
export interface TargetCounts {
  pending: number;
  applying: number;
  applied: number;
  failed: number;
  timed_out: number;
  skipped: number;
}
