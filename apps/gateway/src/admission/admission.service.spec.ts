import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadGatewayConfig } from '../gateway.config.js';
import { AdmissionService } from './admission.service.js';

const config = (env: Record<string, string>) => loadGatewayConfig({ GATEWAY_ID: 'gw-test', ...env });

describe('AdmissionService', () => {
  afterEach(() => vi.useRealTimers());

  it('admits a burst, then refuses new contacts with 429 and a Retry-After no lower than the base', () => {
    vi.useFakeTimers({ now: 0 });
    const admission = new AdmissionService(
      config({ GATEWAY_ADMISSION_RATE: '10', GATEWAY_ADMISSION_BURST: '3', GATEWAY_RETRY_AFTER_SECONDS: '30' }),
    );
    expect([1, 2, 3].map(() => admission.admitNewContact().admitted)).toEqual([true, true, true]);
    const refused = admission.admitNewContact();
    expect(refused).toMatchObject({ admitted: false, status: 429, reason: 'connection_rate' });
    if (!refused.admitted) {
      expect(refused.retryAfterSeconds).toBeGreaterThanOrEqual(30);
      expect(refused.retryAfterSeconds).toBeLessThanOrEqual(45);
    }
    // 10 tokens per second: after 100 ms exactly one more contact fits.
    vi.advanceTimersByTime(100);
    expect(admission.admitNewContact().admitted).toBe(true);
    expect(admission.admitNewContact().admitted).toBe(false);
  });

  it('sheds everything with 503 while overloaded, draining or without the bus, but not for the rate limit', () => {
    const admission = new AdmissionService(config({ GATEWAY_MAX_PENDING_MESSAGES: '2' }));
    let pending = 0;
    let busUp = true;
    admission.setPendingCounter(() => pending);
    admission.setBusReadiness(() => busUp);
    expect(admission.admitMessage().admitted).toBe(true);
    pending = 2;
    expect(admission.admitMessage()).toMatchObject({ admitted: false, status: 503, reason: 'pending_messages' });
    expect(admission.admitNewContact()).toMatchObject({ admitted: false, status: 503 });
    pending = 0;
    busUp = false;
    expect(admission.admitMessage()).toMatchObject({ admitted: false, status: 503, reason: 'bus_unavailable' });
    busUp = true;
    admission.startDraining();
    expect(admission.admitMessage()).toMatchObject({ admitted: false, status: 503, reason: 'draining' });
  });
});
