import { Inject, Injectable } from '@nestjs/common';
import { jitteredRetryAfterSeconds } from '@opamp/protocol';
import { counter } from '@opamp/telemetry';
import { GATEWAY_CONFIG, type GatewayConfig } from '../gateway.config.js';

export type AdmissionDecision =
  { admitted: true } | { admitted: false; status: 429 | 503; retryAfterSeconds: number; reason: string };

const rejections = counter(
  'opamp_gateway_admission_rejected_total',
  'Connections/requests refused by admission control',
  ['reason'],
);

/**
 * Admission control, the second line of defence against reconnect storms (rollout pacing is
 * the first). New WS connections and HTTP first contacts draw from a token bucket; when it is
 * empty they get 429 with a jittered Retry-After so the retries spread out instead of arriving
 * together again. Independently, the pod is "overloaded" when too many messages wait for the
 * fleet or Redis is down; then everything new gets 503.
 */
@Injectable()
export class AdmissionService {
  private tokens: number;
  private lastRefill = Date.now();
  private draining = false;
  private pendingCount: () => number = () => 0;
  private busReady: () => boolean = () => true;

  constructor(@Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig) {
    this.tokens = config.GATEWAY_ADMISSION_BURST;
  }

  setBusReadiness(check: () => boolean): void {
    this.busReady = check;
  }

  setPendingCounter(count: () => number): void {
    this.pendingCount = count;
  }

  startDraining(): void {
    this.draining = true;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  /** Called for a new WS upgrade or an HTTP request from an agent this pod has not seen lately. */
  admitNewContact(): AdmissionDecision {
    const overload = this.overloadReason();
    if (overload) return this.reject(503, overload);
    this.refill();
    if (this.tokens < 1) return this.reject(429, 'connection_rate');
    this.tokens -= 1;
    return { admitted: true };
  }

  /** For messages on admitted connections / known HTTP agents: only overload refuses them. */
  admitMessage(): AdmissionDecision {
    const overload = this.overloadReason();
    return overload ? this.reject(503, overload) : { admitted: true };
  }

  overloadReason(): string | undefined {
    if (this.draining) return 'draining';
    if (!this.busReady()) return 'bus_unavailable';
    if (this.pendingCount() >= this.config.GATEWAY_MAX_PENDING_MESSAGES) return 'pending_messages';
    return undefined;
  }

  retryAfterSeconds(): number {
    return jitteredRetryAfterSeconds(this.config.GATEWAY_RETRY_AFTER_SECONDS);
  }

  private reject(status: 429 | 503, reason: string): AdmissionDecision {
    rejections.inc({ reason });
    return { admitted: false, status, retryAfterSeconds: this.retryAfterSeconds(), reason };
  }

  private refill(): void {
    const now = Date.now();
    const elapsed = (now - this.lastRefill) / 1000;
    this.lastRefill = now;
    this.tokens = Math.min(
      this.config.GATEWAY_ADMISSION_BURST,
      this.tokens + elapsed * this.config.GATEWAY_ADMISSION_RATE,
    );
  }
}
