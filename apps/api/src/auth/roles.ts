// Roles and the route metadata every REST handler and GraphQL field carries (docs/api.md
// "Authentication and roles"). A route without @RequireRole or @Public is refused for everyone
// but admins (fail closed), and the route-table test fails on it.
import { SetMetadata } from '@nestjs/common';
import { HealthController } from '@opamp/telemetry';

export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** viewer < operator < admin: a role may do everything the roles below it may. */
export const ROLE_RANK: Readonly<Record<Role, number>> = { viewer: 0, operator: 1, admin: 2 };

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

/** True when `have` is `need` or a higher role. */
export function roleAllows(have: Role, need: Role): boolean {
  return ROLE_RANK[have] >= ROLE_RANK[need];
}

export const ROLE_METADATA = 'opamp:required-role';
export const PUBLIC_METADATA = 'opamp:public';
export const AUDIT_METADATA = 'opamp:audit';

/** Controllers outside this app (libs) whose routes are public: /healthz, /readyz, /metrics. */
const PUBLIC_CONTROLLERS = new Set<unknown>([HealthController]);

/**
 * The role a route handler needs: public, its own role, its controller's, else admin (fail
 * closed; `declared` false). The guard enforces it and the OpenAPI document shows it.
 */
export function routeRole(handler: object, controller: object): { role: Role | 'public'; declared: boolean } {
  const meta = <T>(key: string): T | undefined =>
    (Reflect.getMetadata(key, handler) ?? Reflect.getMetadata(key, controller)) as T | undefined;
  if (PUBLIC_CONTROLLERS.has(controller) || meta<boolean>(PUBLIC_METADATA)) return { role: 'public', declared: true };
  const role = meta<Role>(ROLE_METADATA);
  return { role: role ?? 'admin', declared: role !== undefined };
}

/** The least role a caller needs for this handler (or every handler of a controller). */
export const RequireRole = (role: Role): MethodDecorator & ClassDecorator => SetMetadata(ROLE_METADATA, role);

/** No authentication at all (health, metrics, the OpenAPI document). */
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(PUBLIC_METADATA, true);

/**
 * How a mutation is written to the audit log: its action name (e.g. "rollouts.create") and the
 * type of resource it acts on. Every non-GET handler needs one; `resourceParam` names the route
 * parameter holding the resource id (default: the first route parameter).
 */
export interface AuditSpec {
  action: string;
  resourceType: string;
  /** One route parameter, or several joined with "/" (e.g. capability/type). */
  resourceParam?: string | readonly string[];
}
export const Audit = (spec: AuditSpec): MethodDecorator => SetMetadata(AUDIT_METADATA, spec);

/** Who is calling: an API key or a person signed in with OIDC. */
export interface Principal {
  /** "key:<uuid>" or "user:<subject>"; what audit entries and createdBy columns record. */
  id: string;
  type: 'api_key' | 'user';
  /** Key name, or the person's name/email claim. */
  name: string;
  role: Role;
  /** Requests per minute allowed for this principal. */
  rateLimitPerMinute: number;
}
