// The api's route table, read from the Nest metadata of every controller reachable from the app
// module: method, path, required role, audit action. The OpenAPI document, the route-role tests
// and the docs are all derived from it, so none of them can drift from the code.
import type { DynamicModule, Type } from '@nestjs/common';
import { MODULE_METADATA, METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants.js';
import { RequestMethod } from '@nestjs/common';
import { AUDIT_METADATA, routeRole, type AuditSpec, type Role } from '../auth/roles.js';

export interface RouteInfo {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** OpenAPI style: /api/v1/agents/{uid} */
  path: string;
  /** 'public', or the least role (admin when the handler declares none: fail closed). */
  role: Role | 'public';
  /** True when the handler itself or its controller declares the role (false: defaulted to admin). */
  roleDeclared: boolean;
  audit: AuditSpec | undefined;
  controller: string;
  handler: string;
}

type ModuleRef = Type<unknown> | DynamicModule | Promise<DynamicModule> | undefined;

const METHODS: Partial<Record<RequestMethod, RouteInfo['method']>> = {
  [RequestMethod.GET]: 'GET',
  [RequestMethod.POST]: 'POST',
  [RequestMethod.PUT]: 'PUT',
  [RequestMethod.PATCH]: 'PATCH',
  [RequestMethod.DELETE]: 'DELETE',
};

/** Every controller class reachable from `root` through module imports (static and dynamic). */
export function controllersOf(root: ModuleRef): Type<unknown>[] {
  const seen = new Set<unknown>();
  const out: Type<unknown>[] = [];
  const visit = (m: ModuleRef): void => {
    if (!m || m instanceof Promise) return;
    const cls = 'module' in m ? m.module : m;
    const key = 'module' in m ? m : cls;
    if (seen.has(key)) return;
    seen.add(key);
    const dynamic = 'module' in m ? m : undefined;
    const controllers = [
      ...((Reflect.getMetadata(MODULE_METADATA.CONTROLLERS, cls) as Type<unknown>[] | undefined) ?? []),
      ...(dynamic?.controllers ?? []),
    ];
    for (const c of controllers) if (!out.includes(c)) out.push(c);
    const imports = [
      ...((Reflect.getMetadata(MODULE_METADATA.IMPORTS, cls) as ModuleRef[] | undefined) ?? []),
      ...((dynamic?.imports as ModuleRef[] | undefined) ?? []),
    ];
    for (const i of imports) visit(i);
  };
  visit(root);
  return out;
}

const joinPath = (...parts: string[]): string =>
  '/' +
  parts
    .flatMap((p) => p.split('/'))
    .filter(Boolean)
    .join('/');

/** `:uid` → `{uid}` */
export const openApiPath = (expressPath: string): string => expressPath.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

export function routesOf(controllers: Type<unknown>[]): RouteInfo[] {
  const routes: RouteInfo[] = [];
  for (const c of controllers) {
    const prefixes = ([] as string[]).concat(
      (Reflect.getMetadata(PATH_METADATA, c) as string | string[] | undefined) ?? '',
    );
    const proto = c.prototype as Record<string, unknown>;
    for (const name of Object.getOwnPropertyNames(proto)) {
      if (name === 'constructor') continue;
      const fn = proto[name];
      if (typeof fn !== 'function') continue;
      const methodCode = Reflect.getMetadata(METHOD_METADATA, fn) as RequestMethod | undefined;
      if (methodCode === undefined) continue;
      const method = METHODS[methodCode];
      if (!method) throw new Error(`${c.name}.${name}: unsupported HTTP method ${RequestMethod[methodCode]}`);
      const subPaths = ([] as string[]).concat(
        (Reflect.getMetadata(PATH_METADATA, fn) as string | string[] | undefined) ?? '',
      );
      const { role, declared } = routeRole(fn, c);
      for (const prefix of prefixes) {
        for (const sub of subPaths) {
          routes.push({
            method,
            path: openApiPath(joinPath(prefix, sub)),
            role,
            roleDeclared: declared,
            audit: Reflect.getMetadata(AUDIT_METADATA, fn) as AuditSpec | undefined,
            controller: c.name,
            handler: name,
          });
        }
      }
    }
  }
  return routes.sort((a, b) => a.path.localeCompare(b.path) || a.method.localeCompare(b.method));
}
