// A small node:http server for Prometheus scrapes and orchestrator probes:
//   /metrics  exposition text of the registry
//   /healthz  200 "ok" while the process lives (liveness)
//   /readyz   200 when isReady() else 503 (readiness: e.g. joined a world / world formed)
// plus any extra GET routes the caller mounts (the coordinator's live page at /).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Documented default ports (deploy/prometheus/prometheus.yml scrapes these). */
export const DEFAULT_COORDINATOR_METRICS_PORT = 9400;
/** Worker with local rank r listens on DEFAULT_WORKER_METRICS_BASE_PORT + r. */
export const DEFAULT_WORKER_METRICS_BASE_PORT = 9401;

/** What the server needs of a prom-client Registry (structural, so callers own the dependency). */
export interface MetricsSource {
  metrics(): Promise<string>;
  readonly contentType: string;
}

export interface MetricsServerOptions {
  /** Interface to bind, e.g. '0.0.0.0' or '127.0.0.1'. */
  host: string;
  /** 0 picks a free port. */
  port: number;
  registry: MetricsSource;
  /** Readiness; default: always ready. */
  isReady?: () => boolean;
  /** Extra GET routes by exact path (e.g. '/' and '/live/feed' for the live page). */
  routes?: Readonly<Record<string, HttpRoute>>;
}

/** Answers one GET (or HEAD) request; may keep the response open (Server-Sent Events). */
export type HttpRoute = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

export interface MetricsServer {
  readonly port: number;
  /** Base URL, e.g. http://127.0.0.1:9400 (0.0.0.0 is reported as 127.0.0.1). */
  readonly url: string;
  /** host:port to announce (JoinRequest.metrics_address) or to put in a scrape config. */
  readonly address: string;
  close(): Promise<void>;
}

export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const { host, port, registry } = options;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`metrics port must be an integer in 0..65535, got ${port}`);
  }
  const isReady = options.isReady ?? (() => true);

  const server = createServer((req, res) => {
    void handle(req, res, registry, isReady, options.routes ?? {});
  });
  // Prometheus keeps scrape connections alive; a short keep-alive lets close() finish promptly.
  server.keepAliveTimeout = 5_000;

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => reject(new Error(`metrics server cannot listen on ${host}:${port}: ${err.message}`));
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });

  const bound = (server.address() as AddressInfo).port;
  const publicHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  const address = `${publicHost.includes(':') ? `[${publicHost}]` : publicHost}:${bound}`;
  let closed: Promise<void> | null = null;
  return {
    port: bound,
    url: `http://${address}`,
    address,
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}

async function handle(
  req: IncomingMessage, res: ServerResponse, registry: MetricsSource, isReady: () => boolean, routes: Readonly<Record<string, HttpRoute>>,
): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    send(res, 405, 'text/plain; charset=utf-8', `method ${req.method ?? '?'} not allowed\n`, { allow: 'GET, HEAD' });
    return;
  }
  const route = Object.hasOwn(routes, path) ? routes[path] : undefined;
  if (route) {
    try {
      await route(req, res);
    } catch (err) {
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', `${path} failed: ${(err as Error).message}\n`);
      else res.destroy();
    }
    return;
  }
  switch (path) {
    case '/metrics':
      try {
        send(res, 200, registry.contentType, await registry.metrics());
      } catch (err) {
        send(res, 500, 'text/plain; charset=utf-8', `collecting metrics failed: ${(err as Error).message}\n`);
      }
      return;
    case '/healthz':
      send(res, 200, 'text/plain; charset=utf-8', 'ok\n');
      return;
    case '/readyz': {
      let ready = false;
      try {
        ready = isReady();
      } catch {
        ready = false;
      }
      send(res, ready ? 200 : 503, 'text/plain; charset=utf-8', ready ? 'ready\n' : 'not ready\n');
      return;
    }
    default:
      send(res, 404, 'text/plain; charset=utf-8', 'not found: try /metrics, /healthz or /readyz\n');
  }
}

function send(res: ServerResponse, status: number, contentType: string, body: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), ...extra });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
