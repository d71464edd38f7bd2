import { Body, Controller, Get, Param, Post, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import { Audit, RequireRole } from '../auth/roles.js';
import type { Page } from '../common/pagination.js';
import type { ConfigView, DiffView, VersionSummaryView, VersionView } from './config.view.js';
import {
  parseConfigName,
  parseCreateConfigBody,
  parseListConfigsQuery,
  parseVersionBody,
  parseVersionParam,
} from './configs.query.js';
import { ConfigsApiService } from './configs.service.js';

@Controller('api/v1/configs')
export class ConfigsController {
  constructor(private readonly configs: ConfigsApiService) {}

  /** Body: { name, agentType, description? }. 201 created; 200 when exactly this config exists. */
  @Post()
  @RequireRole('operator')
  @Audit({ action: 'configs.create', resourceType: 'config' })
  async create(@Body() body: unknown, @Res({ passthrough: true }) res: Response): Promise<ConfigView> {
    const { config, created } = await this.configs.create(parseCreateConfigBody(body));
    res.status(created ? 201 : 200);
    if (created) res.location(`/api/v1/configs/${config.name}`);
    return config;
  }

  /** GET /api/v1/configs?agentType=&limit=&cursor= (by name) */
  @Get()
  @RequireRole('viewer')
  list(@Query() query: Record<string, unknown>): Promise<Page<ConfigView>> {
    return this.configs.list(parseListConfigsQuery(query));
  }

  @Get(':name')
  @RequireRole('viewer')
  get(@Param('name') name: string): Promise<ConfigView> {
    return this.configs.get(parseConfigName(name));
  }

  /**
   * Body: { files: [{ name, contentType, content, encoding? }] }. 201 with the new version; 200
   * with the existing one when this content is already a version; 422 listing every problem.
   */
  @Post(':name/versions')
  @RequireRole('operator')
  @Audit({ action: 'configs.versions.create', resourceType: 'config', resourceParam: 'name' })
  async addVersion(
    @Param('name') name: string,
    @Body() body: unknown,
    @Res({ passthrough: true }) res: Response,
  ): Promise<VersionSummaryView & { created: boolean }> {
    const configName = parseConfigName(name);
    const { version, created } = await this.configs.addVersion(configName, parseVersionBody(body));
    res.status(created ? 201 : 200);
    res.location(`/api/v1/configs/${configName}/versions/${version.version}`);
    return { ...version, created };
  }

  /** GET /api/v1/configs/{name}/versions?limit=&cursor= (newest first, without file contents) */
  @Get(':name/versions')
  @RequireRole('viewer')
  versions(@Param('name') name: string, @Query() query: Record<string, unknown>): Promise<Page<VersionSummaryView>> {
    return this.configs.listVersions(parseConfigName(name), query);
  }

  @Get(':name/versions/:version')
  @RequireRole('viewer')
  version(@Param('name') name: string, @Param('version') version: string): Promise<VersionView> {
    return this.configs.getVersion(parseConfigName(name), parseVersionParam('version', version));
  }

  @Get(':name/versions/:a/diff/:b')
  @RequireRole('viewer')
  diff(@Param('name') name: string, @Param('a') a: string, @Param('b') b: string): Promise<DiffView> {
    return this.configs.diff(parseConfigName(name), parseVersionParam('a', a), parseVersionParam('b', b));
  }
}
