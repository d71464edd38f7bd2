import { describe, expect, it } from 'vitest';
import { EndpointList } from './endpoints.js';

describe('EndpointList', () => {
  it('starts on the first endpoint and moves round robin on failover', () => {
    const list = new EndpointList(['ws://a/v1/opamp', 'ws://b/v1/opamp', 'ws://c/v1/opamp']);
    expect(list.current).toBe('ws://a/v1/opamp');
    expect(list.failover()).toBe('ws://b/v1/opamp');
    expect(list.failover()).toBe('ws://c/v1/opamp');
    expect(list.failover()).toBe('ws://a/v1/opamp');
    expect(list.current).toBe('ws://a/v1/opamp');
  });

  it('has nowhere to go with a single endpoint', () => {
    const list = new EndpointList(['http://a/v1/opamp']);
    expect(list.failover()).toBeUndefined();
    expect(list.current).toBe('http://a/v1/opamp');
  });

  it('needs at least one endpoint and keeps its own copy of the list', () => {
    expect(() => new EndpointList([])).toThrow(/at least one/);
    const urls = ['ws://a', 'ws://b'];
    const list = new EndpointList(urls);
    urls.length = 0;
    expect(list.urls).toEqual(['ws://a', 'ws://b']);
  });
});
