import { afterEach, describe, expect, it } from 'vitest';
import { Counter, Registry } from 'prom-client';
import { startMetricsServer, type MetricsServer } from '../src/metrics/metrics-server';

const servers: MetricsServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

describe('startMetricsServer', () => {
  it('serves /metrics, /healthz and /readyz on a free port', async () => {
    const registry = new Registry();
    const counter = new Counter({ name: 'dtrain_test_things_total', help: 'things', registers: [registry] });
    counter.inc(41);
    let ready = false;
    const server = await startMetricsServer({ host: '127.0.0.1', port: 0, registry, isReady: () => ready });
    servers.push(server);
    expect(server.port).toBeGreaterThan(0);
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);

    counter.inc();
    const metrics = await fetch(`${server.url}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('content-type')).toBe(registry.contentType);
    expect(await metrics.text()).toContain('dtrain_test_things_total 42');

    const health = await fetch(`${server.url}/healthz`);
    expect([health.status, await health.text()]).toEqual([200, 'ok\n']);

    expect((await fetch(`${server.url}/readyz`)).status).toBe(503);
    ready = true;
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);

    expect((await fetch(`${server.url}/nope`)).status).toBe(404);
    expect((await fetch(`${server.url}/metrics`, { method: 'POST' })).status).toBe(405);
  });

  it('answers 500 with the cause when collecting fails, and 503 when isReady throws', async () => {
    const server = await startMetricsServer({
      host: '127.0.0.1',
      port: 0,
      registry: { contentType: 'text/plain', metrics: () => Promise.reject(new Error('collector exploded')) },
      isReady: () => {
        throw new Error('x');
      },
    });
    servers.push(server);
    const res = await fetch(`${server.url}/metrics`);
    expect(res.status).toBe(500);
    expect(await res.text()).toContain('collector exploded');
    expect((await fetch(`${server.url}/readyz`)).status).toBe(503);
  });

  it('names the address when the port is taken, and closes idempotently', async () => {
    const first = await startMetricsServer({ host: '127.0.0.1', port: 0, registry: new Registry() });
    await expect(startMetricsServer({ host: '127.0.0.1', port: first.port, registry: new Registry() })).rejects.toThrow(
      new RegExp(`127\\.0\\.0\\.1:${first.port}.*EADDRINUSE`),
    );
    await first.close();
    await first.close();
    await expect(fetch(`${first.url}/healthz`)).rejects.toThrow();
    await expect(startMetricsServer({ host: '127.0.0.1', port: 70000, registry: new Registry() })).rejects.toThrow(/0\.\.65535/);
  });
});
