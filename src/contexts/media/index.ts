// Public surface of the media context.
import type { ContextDeps, ContextModule } from '../../platform/context';
import type { App } from '../../platform/http';
import './media.errors';
import { mediaMigrations } from './media.migrations';
import { mediaFileRoutes, mediaRoutes } from './media.routes';
import { MediaService } from './media.service';

export type { MediaService, MediaObject } from './media.service';
export type { MediaStore } from './media.store';

export interface MediaContext extends ContextModule<MediaService> {
  /** GET /media/:id, served outside /v1 (pages load files by path); registered with the context's routes. */
  readonly files: (app: App) => Promise<void>;
}

/** The media context: uploaded photos and videos, stored by content (SHA-256) and served immutable. */
export function createMediaContext(deps: ContextDeps): MediaContext {
  const service = new MediaService({ db: deps.db, clock: deps.clock, config: deps.config });
  return {
    name: 'media',
    migrations: mediaMigrations,
    service,
    routes: (app: App) => mediaRoutes(app, service, deps.config),
    files: (app: App) => mediaFileRoutes(app, service),
  };
}
