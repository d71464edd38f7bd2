import { Global, Module } from '@nestjs/common';
import { BusService } from './bus.service.js';

/** One Redis connection per api process (BusService), shared by every module that publishes. */
@Global()
@Module({ providers: [BusService], exports: [BusService] })
export class BusModule {}
