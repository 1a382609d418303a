// The coordinator's live page: routes for its metrics server. The page and its chart library (uPlot, from
// npm) are files of this package, served as they are: no CDN, no build step, works offline.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HttpRoute } from '@dtrain/shared/metrics/metrics-server';
import { LIVE_FEED_PATH, LIVE_STATE_PATH, type LivePage, type LivePageOptions } from './api';
import { LiveFeed } from './live-feed';

interface Asset {
  file: () => string;
  type: string;
}

/**
 * Where assets/ is: next to this file when run from the sources (tests), or found from the bundle in
 * packages/cli/dist (the `dtrain` executable), whose chunks sit two folders below packages/.
 */
function assetsDir(): string {
  const candidates = [new URL('./assets/', import.meta.url), new URL('../../coordinator/src/live/assets/', import.meta.url)];
  const found = candidates.map((u) => fileURLToPath(u)).find((dir) => existsSync(`${dir}index.html`));
  if (!found) throw new Error(`live page assets not found (looked in ${candidates.map((u) => fileURLToPath(u)).join(', ')})`);
  return found;
}

const require = createRequire(import.meta.url);
const ASSETS: Record<string, Asset> = {
  '/': { file: () => `${assetsDir()}index.html`, type: 'text/html; charset=utf-8' },
  '/live/live.js': { file: () => `${assetsDir()}live.js`, type: 'text/javascript; charset=utf-8' },
  '/live/live.css': { file: () => `${assetsDir()}live.css`, type: 'text/css; charset=utf-8' },
  '/live/uPlot.iife.min.js': { file: () => require.resolve('uplot/dist/uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' },
  '/live/uPlot.min.css': { file: () => require.resolve('uplot/dist/uPlot.min.css'), type: 'text/css; charset=utf-8' },
};

const cache = new Map<string, Buffer>();

function serveAsset(asset: Asset, res: ServerResponse, head: boolean): void {
  const path = asset.file();
  let body = cache.get(path);
  if (!body) {
    body = readFileSync(path);
    cache.set(path, body);
  }
  res.writeHead(200, { 'content-type': asset.type, 'content-length': body.byteLength, 'cache-control': 'no-cache' });
  res.end(head ? undefined : body);
}

export function createLivePage(options: LivePageOptions): LivePage {
  const feed = new LiveFeed(options.source, options.job);
  const routes: Record<string, HttpRoute> = {
    [LIVE_FEED_PATH]: (req, res) => feed.serve(req, res),
    [LIVE_STATE_PATH]: (req: IncomingMessage, res: ServerResponse) => {
      const body = JSON.stringify(feed.snapshot());
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    },
  };
  for (const [path, asset] of Object.entries(ASSETS)) routes[path] = (req, res) => serveAsset(asset, res, req.method === 'HEAD');
  return { routes, close: () => feed.close() };
}
