// The OpenAPI document of the api as built from its module tree without starting it: used by
// `npm run openapi` (writes docs/api/openapi.json) and the drift test.
import 'reflect-metadata';
import { ApiAppModule } from '../app.module.js';
import { loadApiConfig } from '../api.config.js';
import { buildOpenApiDocument } from './document.js';
import { API_VERSION } from './openapi.service.js';
import { controllersOf, routesOf, type RouteInfo } from './routes.js';

export const OPENAPI_FILE = 'docs/api/openapi.json';

/** Every route of the api app (nothing connects: forRoot only describes the modules). */
export function apiRoutes(): RouteInfo[] {
  const config = loadApiConfig({
    DATABASE_URL: 'postgresql://unused@127.0.0.1:1/unused',
    REDIS_URL: 'redis://127.0.0.1:1',
  });
  return routesOf(controllersOf(ApiAppModule.forRoot(config)));
}

export function openApiText(): string {
  return JSON.stringify(buildOpenApiDocument(apiRoutes(), API_VERSION), null, 2) + '\n';
}
