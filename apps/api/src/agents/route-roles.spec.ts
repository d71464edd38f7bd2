// The roles of the agents, fleet, configs and rollouts routes (docs/api.md "Authentication and
// roles"): reading is for viewers, every change for operators, and every change is audited.
import { describe, expect, it } from 'vitest';
import { ConfigsController } from '../configs/configs.controller.js';
import { routesOf } from '../openapi/routes.js';
import { RolloutsController } from '../rollouts/rollouts.controller.js';
import { AgentConfigController } from './agent-config.controller.js';
import { AgentsController } from './agents.controller.js';
import { FleetSummaryController } from './fleet-summary.controller.js';

describe('agents, fleet, configs and rollouts routes', () => {
  const routes = routesOf([
    AgentsController,
    AgentConfigController,
    FleetSummaryController,
    ConfigsController,
    RolloutsController,
  ]);

  it('declare viewer for GET and operator, with an audit action, for everything else', () => {
    expect(routes.length).toBeGreaterThan(20);
    for (const r of routes) {
      const where = `${r.method} ${r.path} (${r.controller}.${r.handler})`;
      expect(r.roleDeclared, where).toBe(true);
      if (r.method === 'GET') {
        expect(r.role, where).toBe('viewer');
        expect(r.audit, where).toBeUndefined();
      } else {
        expect(r.role, where).toBe('operator');
        expect(r.audit?.action, where).toMatch(/^(agents|configs|rollouts)\.[a-z.]+$/);
      }
    }
  });

  it('include the new agent routes', () => {
    const keys = routes.map((r) => `${r.method} ${r.path}`);
    expect(keys).toEqual(
      expect.arrayContaining([
        'GET /api/v1/agents',
        'DELETE /api/v1/agents/{uid}',
        'PATCH /api/v1/agents/{uid}/labels',
        'GET /api/v1/fleet/summary',
      ]),
    );
    expect(routes.find((r) => r.method === 'DELETE' && r.path === '/api/v1/agents/{uid}')?.audit).toEqual({
      action: 'agents.forget',
      resourceType: 'agent',
      resourceParam: 'uid',
    });
  });
});
