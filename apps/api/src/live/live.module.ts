import { Module } from '@nestjs/common';
import { EventsController } from './events.controller.js';
import { LiveHub } from './live-hub.service.js';
import { LiveLabelsRepository } from './live-labels.repository.js';

/** Live updates: the hub following the event streams, and GET /api/v1/events (SSE). */
@Module({
  controllers: [EventsController],
  providers: [LiveHub, LiveLabelsRepository],
  exports: [LiveHub],
})
export class LiveModule {}
