// The coordinator's /metrics endpoint. A documented default port that is taken (another job on the
// same machine) should not fail a training run: fall back to a free port and say which.
import { startMetricsServer, type HttpRoute, type MetricsServer, type MetricsSource } from './metrics-server';

export async function startMetricsServerWithFallback(
  listen: string,
  registry: MetricsSource,
  isReady: () => boolean,
  log: (line: string) => void,
  routes?: Readonly<Record<string, HttpRoute>>,
): Promise<MetricsServer> {
  const cut = listen.lastIndexOf(':');
  const host = listen.slice(0, cut) || '127.0.0.1';
  const port = Number(listen.slice(cut + 1));
  try {
    return await startMetricsServer({ host, port, registry, isReady, routes });
  } catch (err) {
    if (port === 0) throw err;
    log(`metrics port ${port} is unavailable (${(err as Error).message}); using a free port instead`);
    return startMetricsServer({ host, port: 0, registry, isReady, routes });
  }
}
