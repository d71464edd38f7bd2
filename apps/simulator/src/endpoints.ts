// Client-side failover between several OpAMP endpoints of one control plane (e.g. gateway pods
// addressed directly, without a load balancer in front).

/**
 * The endpoints an agent may use, in order of preference. The agent stays on the current one
 * while it works; when it cannot be reached (connection refused or lost, timeout, 429/503) the
 * agent moves to the next one, wrapping around. Retry pacing stays with the agent's backoff, so a
 * control plane whose endpoints are all down is not hammered in a loop.
 */
export class EndpointList {
  readonly urls: readonly string[];
  private index = 0;

  constructor(urls: readonly string[]) {
    if (urls.length === 0) throw new Error('EndpointList: at least one endpoint is required');
    this.urls = [...urls];
  }

  get current(): string {
    return this.urls[this.index]!;
  }

  /** The current endpoint failed: use the next one. Returns the new current URL, or undefined when there is no other. */
  failover(): string | undefined {
    if (this.urls.length < 2) return undefined;
    this.index = (this.index + 1) % this.urls.length;
    return this.current;
  }
}
