import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '../config';
import type { Clock } from './clock';
import type { AnyDb } from './db';
import type { Outbox } from './events';
import type { App } from './http';
import type { Metrics } from './metrics';
import type { ContextMigrations } from './migrations';

/** What the composition root hands every context. Contexts get other contexts' services explicitly, never tables. */
export interface ContextDeps {
  db: AnyDb;
  clock: Clock;
  config: Config;
  outbox: Outbox;
  metrics: Metrics;
  log: FastifyBaseLogger;
}

/** The shape of every context's public surface (its index.ts). */
export interface ContextModule<S = unknown> {
  readonly name: string;
  readonly migrations: ContextMigrations;
  readonly service: S;
  /** HTTP routes, registered under /v1 by the composition root when this process serves the context. */
  readonly routes?: (app: App) => Promise<void>;
  /** Outbox subscriptions this context handles (run by `worker` and `start`). */
  readonly subscribe?: () => void;
  /** Periodic work (expired reservations, stuck checkouts), run by `worker` and `start` every sweepIntervalSeconds. */
  readonly sweep?: () => Promise<void>;
  /** Graceful shutdown of what the context holds beyond the database (buffers to flush, embedded engines). */
  readonly close?: () => Promise<void>;
}
