import { Controller, Get, Header } from '@nestjs/common';
import { Public } from '../auth/roles.js';
import { OpenApiService } from './openapi.service.js';

@Controller('api/v1/openapi.json')
@Public()
export class OpenApiController {
  constructor(private readonly openapi: OpenApiService) {}

  @Get()
  @Header('Cache-Control', 'public, max-age=300')
  document(): Record<string, unknown> {
    return this.openapi.document();
  }
}
