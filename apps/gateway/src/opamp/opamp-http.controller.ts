import { All, Controller, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { OpampHttpService } from './opamp-http.service.js';

/** `/v1/opamp` for plain HTTP. WebSocket upgrades never reach here (see OpampWsServer). */
@Controller('v1/opamp')
export class OpampHttpController {
  constructor(private readonly http: OpampHttpService) {}

  @All()
  async handle(@Req() req: Request, @Res() res: Response): Promise<void> {
    await this.http.handle(req, res);
  }
}
