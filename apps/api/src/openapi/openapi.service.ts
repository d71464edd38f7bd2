import { Injectable } from '@nestjs/common';
import { ModulesContainer } from '@nestjs/core';
import type { Type } from '@nestjs/common';
import { buildOpenApiDocument } from './document.js';
import { routesOf } from './routes.js';

export const API_VERSION = '1.0.0';

/** Builds the document once from the controllers this app actually registered. */
@Injectable()
export class OpenApiService {
  private cached: Record<string, unknown> | undefined;

  constructor(private readonly modules: ModulesContainer) {}

  document(): Record<string, unknown> {
    if (!this.cached) {
      const controllers = new Set<Type<unknown>>();
      for (const m of this.modules.values()) for (const c of m.controllers.keys()) controllers.add(c as Type<unknown>);
      this.cached = buildOpenApiDocument(routesOf([...controllers]), API_VERSION);
    }
    return this.cached;
  }
}
