// Public surface of the media context.
import type { ContextDeps, ContextModule } from '../../platform/context';
import type { App } from '../../platform/http';
import './media.errors';
import { mediaMigrations } from './media.migrations';
import { mediaFileRoutes, mediaRoutes } from './media.routes';
import { MediaService, type MediaUses } from './media.service';

export type { MediaService, MediaObject, MediaUses } from './media.service';
export type { MediaStore } from './media.store';

export interface MediaContext extends ContextModule<MediaService> {
  /** GET /media/:id, served outside /v1 (pages load files by path); registered with the context's routes. */
  readonly files: (app: App) => Promise<void>;
}

export interface MediaDeps extends ContextDeps {
  /** Who shows a file (the social and catalog contexts): a delete is refused while its owner's posts or products do. */
  uses: MediaUses;
}

/** The media context: uploaded photos and videos, stored by content (SHA-256) and served immutable. */
export function createMediaContext(deps: MediaDeps): MediaContext {
  const service = new MediaService({ db: deps.db, clock: deps.clock, config: deps.config, uses: deps.uses });
  return {
    name: 'media',
    migrations: mediaMigrations,
    service,
    routes: (app: App) => mediaRoutes(app, service, deps.config),
    files: (app: App) => mediaFileRoutes(app, service),
  };
}
