// The service-runtime choice on this machine (no Docker engine): auto falls back to local processes
// and says why, a forced container path fails loudly instead of skipping, bad values are named.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { describeServiceRuntime, startNatsServer } from './harness/nats-server';
import { CONTAINER_HOST_ALIAS, rewriteLoopbackTargets } from './harness/prometheus';
import {
  CONTAINER_PROBE_TIMEOUT_MS,
  SERVICE_RUNTIME_ENV,
  chooseServiceRuntime,
  parseServiceRuntimeMode,
  probeContainerRuntime,
} from './harness/service-runtime';

const saved = process.env[SERVICE_RUNTIME_ENV];
afterEach(() => {
  if (saved === undefined) delete process.env[SERVICE_RUNTIME_ENV];
  else process.env[SERVICE_RUNTIME_ENV] = saved;
  vi.restoreAllMocks();
});

describe('service runtime choice (no container engine on this machine)', () => {
  it('the testcontainers probe answers with its own error, well inside the bound', async () => {
    const t0 = performance.now();
    const probe = await probeContainerRuntime();
    const ms = performance.now() - t0;
    console.info(`testcontainers probe: ${ms.toFixed(0)} ms (incl. first import), bound ${CONTAINER_PROBE_TIMEOUT_MS} ms`);
    expect(probe.ok).toBe(false);
    // testcontainers' own verdict, not our timeout firing.
    expect(probe.ok ? '' : probe.error).toBe('Could not find a working container runtime strategy');
  });

  it('auto (the default) picks local processes and gives the container-runtime reason, printed once', async () => {
    delete process.env[SERVICE_RUNTIME_ENV];
    const info = vi.spyOn(console, 'info');
    const first = await chooseServiceRuntime();
    const second = await chooseServiceRuntime();
    expect(first).toEqual({
      kind: 'process',
      reason: 'auto: no container runtime (testcontainers: Could not find a working container runtime strategy)',
    });
    expect(second).toBe(first);
    const lines = info.mock.calls.map((c) => String(c[0])).filter((l) => l.startsWith('services: '));
    expect(lines).toEqual([`services: local processes (${first.reason})`]);
  });

  it('DTRAIN_TEST_SERVICES=process decides without probing', async () => {
    process.env[SERVICE_RUNTIME_ENV] = 'process';
    expect(await chooseServiceRuntime()).toEqual({ kind: 'process', reason: 'DTRAIN_TEST_SERVICES=process' });
  });

  it('DTRAIN_TEST_SERVICES=container without an engine rejects, naming the missing engine (never a skip)', async () => {
    process.env[SERVICE_RUNTIME_ENV] = 'container';
    await expect(chooseServiceRuntime()).rejects.toThrow(
      'DTRAIN_TEST_SERVICES=container but no container engine is reachable '
        + '(testcontainers: Could not find a working container runtime strategy)',
    );
    // The harnesses go through the same choice, so a forced container run cannot fall back to a process.
    await expect(startNatsServer()).rejects.toThrow(/no container engine is reachable/);
  });

  it('an unknown value is rejected, naming the variable and the allowed values', async () => {
    process.env[SERVICE_RUNTIME_ENV] = 'docker';
    await expect(chooseServiceRuntime()).rejects.toThrow(
      "DTRAIN_TEST_SERVICES='docker' is not one of auto | process | container",
    );
    expect(parseServiceRuntimeMode(' Container ')).toBe('container');
    expect(parseServiceRuntimeMode('')).toBe('auto');
    expect(parseServiceRuntimeMode(undefined)).toBe('auto');
  });

  it('the nats harness runs a local process under auto and says which path ran', async () => {
    delete process.env[SERVICE_RUNTIME_ENV];
    const nats = await startNatsServer();
    try {
      expect(nats.url).toBe(`nats://127.0.0.1:${nats.port}`);
      expect(describeServiceRuntime()).toBe(
        'nats-server ran as a local child process (nats-server -js, JetStream file store in a temp dir); '
          + 'the testcontainers path was not taken (auto: no container runtime '
          + '(testcontainers: Could not find a working container runtime strategy))',
      );
    } finally {
      await nats.destroy();
    }
  });
});

describe('prometheus container path: target rewriting (pure; the container itself cannot run here)', () => {
  it('rewrites loopback targets to the host alias and lists them', () => {
    const { jobs, loopback } = rewriteLoopbackTargets([
      { job: 'coord', targets: ['127.0.0.1:9400', 'localhost:9401'] },
      { job: 'workers', targets: ['[::1]:9402', '10.1.2.3:9403', 'node-7:9404'] },
    ]);
    expect(CONTAINER_HOST_ALIAS).toBe('host.docker.internal');
    expect(jobs).toEqual([
      { job: 'coord', targets: ['host.docker.internal:9400', 'host.docker.internal:9401'] },
      { job: 'workers', targets: ['host.docker.internal:9402', '10.1.2.3:9403', 'node-7:9404'] },
    ]);
    expect(loopback).toEqual(['127.0.0.1:9400', 'localhost:9401', '[::1]:9402']);
  });
});
