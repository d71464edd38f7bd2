import { Global, Module, type DynamicModule, type FactoryProvider, type ModuleMetadata } from '@nestjs/common';
import { DATABASE_OPTIONS, PrismaService, type DatabaseOptions } from './prisma.service.js';

/**
 * Provides {@link PrismaService} to the whole application.
 * Import `DatabaseModule` (URL from DATABASE_URL), `DatabaseModule.forRoot({ url })`, or
 * `DatabaseModule.forRootAsync({ inject: [AppConfig], useFactory: (c) => ({ url: c.databaseUrl }) })`.
 */
@Global()
@Module({
  providers: [PrismaService],
  exports: [PrismaService],
})
export class DatabaseModule {
  static forRoot(options: DatabaseOptions = {}): DynamicModule {
    return {
      module: DatabaseModule,
      global: true,
      providers: [{ provide: DATABASE_OPTIONS, useValue: options }, PrismaService],
      exports: [PrismaService],
    };
  }

  static forRootAsync(options: {
    imports?: ModuleMetadata['imports'];
    inject?: FactoryProvider['inject'];
    useFactory: (...args: never[]) => DatabaseOptions | Promise<DatabaseOptions>;
  }): DynamicModule {
    return {
      module: DatabaseModule,
      global: true,
      imports: options.imports ?? [],
      providers: [
        {
          provide: DATABASE_OPTIONS,
          inject: options.inject ?? [],
          useFactory: options.useFactory as (...args: unknown[]) => DatabaseOptions,
        },
        PrismaService,
      ],
      exports: [PrismaService],
    };
  }
}
