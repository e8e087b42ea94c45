import { createHash } from 'node:crypto';
import type { App } from '../platform/http';

/**
 * Demo media: the demo world's images are generated SVGs served locally (`/media/demo/<name>.svg?label=…`), so the
 * quickstart looks complete with no network and no binary assets in git.
 */
export function registerDemoMedia(app: App): void {
  app.get(
    '/media/demo/:name',
    {
      config: { auth: 'public' },
      schema: {
        hide: true,
        params: { type: 'object', properties: { name: { type: 'string', pattern: '^[a-z0-9_-]{1,80}\\.svg$' } }, required: ['name'] },
        querystring: { type: 'object', properties: { label: { type: 'string', maxLength: 60 } } },
      },
    },
    async (request, reply) => {
      const { name } = request.params as { name: string };
      const { label } = request.query as { label?: string };
      reply.header('content-type', 'image/svg+xml').header('cache-control', 'public, max-age=86400');
      return renderSvg(name.replace(/\.svg$/, ''), label ?? name.replace(/\.svg$/, '').replace(/-/g, ' '));
    },
  );
}

export function demoImageUrl(slug: string, label: string): string {
  return `/media/demo/${slug}.svg?label=${encodeURIComponent(label.slice(0, 60))}`;
}

function renderSvg(seed: string, label: string): string {
  const h = createHash('sha256').update(seed).digest();
  const hue1 = h[0]! * 360 / 256;
  const hue2 = (hue1 + 40 + (h[1]! % 80)) % 360;
  const esc = label.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="800" height="1000" viewBox="0 0 800 1000">
<defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="hsl(${hue1.toFixed(0)},65%,62%)"/><stop offset="1" stop-color="hsl(${hue2.toFixed(0)},60%,38%)"/></linearGradient></defs>
<rect width="800" height="1000" fill="url(#g)"/>
<circle cx="${200 + (h[2]! % 400)}" cy="${250 + (h[3]! % 400)}" r="${120 + (h[4]! % 120)}" fill="rgba(255,255,255,0.18)"/>
<text x="400" y="900" font-family="system-ui,sans-serif" font-size="44" fill="#fff" text-anchor="middle">${esc}</text>
</svg>`;
}
