import { describe, expect, it } from 'vitest';
import { normaliseServerUrl } from './client.js';
import { configPath } from './credentials.js';

describe('where the login is kept', () => {
  it('$OPAMPCTL_CONFIG, else $XDG_CONFIG_HOME/opampctl, else ~/.config/opampctl', () => {
    expect(configPath({ OPAMPCTL_CONFIG: '/tmp/x.json', XDG_CONFIG_HOME: '/xdg' }, '/home/u')).toBe('/tmp/x.json');
    expect(configPath({ XDG_CONFIG_HOME: '/xdg' }, '/home/u')).toBe('/xdg/opampctl/config.json');
    expect(configPath({ XDG_CONFIG_HOME: 'relative' }, '/home/u')).toBe('/home/u/.config/opampctl/config.json');
    expect(configPath({}, '/home/u')).toBe('/home/u/.config/opampctl/config.json');
  });
});

describe('server URL', () => {
  it('accepts the root or /api/v1, with or without a trailing slash; refuses anything but http(s)', () => {
    expect(normaliseServerUrl('http://cp:8080')).toBe('http://cp:8080');
    expect(normaliseServerUrl('https://cp.example/opamp/api/v1/')).toBe('https://cp.example/opamp');
    expect(() => normaliseServerUrl('cp:8080')).toThrow(/not an http\(s\) URL/);
    expect(() => normaliseServerUrl('not a url')).toThrow(/not a URL/);
    expect(() => normaliseServerUrl('http://cp/?x=1')).toThrow(/query or fragment/);
  });
});
