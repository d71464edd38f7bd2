import { Controller, Get, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import { RequireRole } from '../auth/roles.js';
import { validationProblem } from '../common/problem.js';
import type { Page } from '../common/pagination.js';
import { singleParam } from '../common/pagination.js';
import { AuditService, AUDIT_EVENT_FIELDS, csvRow, parseAuditFilter, type AuditEventView } from './audit.service.js';

@Controller('api/v1/audit')
@RequireRole('viewer')
export class AuditController {
  constructor(private readonly audit: AuditService) {}

  /** GET /api/v1/audit?actor=&action=&resourceType=&resourceId=&outcome=&since=&until=&limit=&cursor= (newest first) */
  @Get()
  list(@Query() query: Record<string, unknown>): Promise<Page<AuditEventView>> {
    return this.audit.list(query);
  }

  /** GET /api/v1/audit/export?format=csv|json&<filters>: every matching entry, streamed, newest first. */
  @Get('export')
  async export(@Query() query: Record<string, unknown>, @Res() res: Response): Promise<void> {
    const filter = parseAuditFilter(query, ['format']);
    const format = singleParam('format', query.format) ?? 'json';
    if (format !== 'csv' && format !== 'json') {
      throw validationProblem([{ name: 'format', reason: 'must be csv or json' }]);
    }
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    res.status(200);
    res.setHeader('Content-Type', format === 'csv' ? 'text/csv; charset=utf-8' : 'application/json; charset=utf-8');
    res.setHeader('Content-Disposition', `attachment; filename="audit-${stamp}.${format}"`);
    res.setHeader('Cache-Control', 'no-store');
    let first = true;
    res.write(format === 'csv' ? AUDIT_EVENT_FIELDS.join(',') + '\r\n' : '[');
    try {
      for await (const e of this.audit.scan(filter)) {
        const chunk = format === 'csv' ? csvRow(e) : (first ? '\n' : ',\n') + JSON.stringify(e);
        first = false;
        if (!res.write(chunk)) await new Promise<void>((resolve) => res.once('drain', resolve));
        if (res.destroyed) return;
      }
      res.end(format === 'csv' ? '' : '\n]\n');
    } catch (err) {
      // Headers are gone: cut the body short so the client sees an incomplete document, not a valid one.
      res.destroy(err as Error);
    }
  }
}
