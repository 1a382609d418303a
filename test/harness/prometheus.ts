// Runs the real Prometheus server (apt package, /usr/bin/prometheus) as a child process for tests:
// temp config and TSDB, a free port, readiness polling, instant queries. Never skips silently: a
// missing binary is an error that says how to install it. Where a container engine exists it can run
// prom/prometheus through testcontainers instead (service-runtime.ts decides; untested here).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port';
import { chooseServiceRuntime, type ServiceRuntimeChoice } from './service-runtime';

export const PROMETHEUS_BIN = process.env.PROMETHEUS_BIN ?? '/usr/bin/prometheus';
const READY_TIMEOUT_MS = 15_000;
const POLL_INTERVAL_MS = 250;
const STOP_GRACE_MS = 5_000;
export const PROMETHEUS_IMAGE = 'prom/prometheus:v2.42.0';
const PROMETHEUS_CONTAINER_PORT = 9090;
/** Name the container uses for the host; mapped to Docker's host gateway. */
export const CONTAINER_HOST_ALIAS = 'host.docker.internal';

export interface ScrapeJob {
  /** Prometheus scrape job name (dtrain's own `job` label wins: honor_labels is on). */
  job: string;
  /** host:port of each /metrics endpoint. */
  targets: string[];
}

export interface StartPrometheusOptions {
  /** Scrape jobs, or bare host:port targets (one job 'dtrain'). */
  targets: ScrapeJob[] | string[];
  scrapeIntervalSeconds?: number;
  /**
   * Default PROMETHEUS_BIN (env) or /usr/bin/prometheus. Given explicitly, it pins the local-process
   * path whatever DTRAIN_TEST_SERVICES says.
   */
  binary?: string;
}

export interface PromSeries {
  metric: Record<string, string>;
  /** NaN and +-Inf come back as such. */
  value: number;
  /** Unix seconds. */
  timestamp: number;
}

export interface PrometheusHandle {
  url: string;
  /**
   * Instant query, now or at `atSeconds` (Unix seconds: a past instant gives repeatable answers to
   * several queries); throws with Prometheus' message for bad PromQL. A scalar comes back as one series.
   */
  query(promql: string, atSeconds?: number): Promise<PromSeries[]>;
  /** Polls until the query returns a series accepted by `accept` (default: any finite value). */
  waitForData(promql: string, deadlineMs: number, accept?: (series: PromSeries[]) => boolean): Promise<PromSeries[]>;
  /** Target health as Prometheus sees it (for diagnostics). */
  targets(): Promise<{ scrapeUrl: string; health: string; lastError: string }[]>;
  stop(): Promise<void>;
}

/** Anything with a finite value. */
export const hasFiniteValue = (series: PromSeries[]): boolean => series.some((s) => Number.isFinite(s.value));

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

export async function startPrometheus(options: StartPrometheusOptions): Promise<PrometheusHandle> {
  const choice: ServiceRuntimeChoice = options.binary !== undefined
    ? { kind: 'process', reason: 'an explicit prometheus binary was given' }
    : await chooseServiceRuntime();
  const binary = options.binary ?? PROMETHEUS_BIN;
  if (choice.kind === 'process' && !existsSync(binary)) {
    throw new Error(
      `Prometheus binary not found at ${binary}: install it with \`apt-get install -y prometheus\` ` +
        '(or set PROMETHEUS_BIN). Metrics tests need a real Prometheus and are not skipped.',
    );
  }
  const interval = options.scrapeIntervalSeconds ?? 1;
  const jobs: ScrapeJob[] = options.targets.length > 0 && typeof options.targets[0] === 'string'
    ? [{ job: 'dtrain', targets: options.targets as string[] }]
    : (options.targets as ScrapeJob[]);
  for (const j of jobs) {
    for (const t of j.targets) {
      if (!/^[^\s/:]+:\d+$/.test(t) && !/^\[[0-9a-f:]+\]:\d+$/i.test(t)) {
        throw new Error(`scrape target '${t}' of job '${j.job}' must be host:port (no scheme or path)`);
      }
    }
  }

  if (choice.kind === 'container') return startPrometheusContainer(jobs, interval);

  const dir = await mkdtemp(join(tmpdir(), 'dtrain-prom-'));
  const configPath = join(dir, 'prometheus.yml');
  await writeFile(configPath, prometheusConfig(jobs, interval));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;

  const child = spawn(binary, [
    `--config.file=${configPath}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--log.level=warn',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  running.add(child);
  installExitHook();
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  let exited: { code: number | null; signal: string | null } | null = null;
  const exitPromise = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      running.delete(child);
      resolve();
    });
  });
  let spawnError: Error | null = null;
  child.once('error', (err) => {
    spawnError = err;
  });

  const stop = async (): Promise<void> => {
    if (exited === null && spawnError === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await exitPromise;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };

  // Ready: /-/ready answers 200 (takes ~0.1 s here).
  const readyDeadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (exited !== null) {
      await stop();
      const e = exited as { code: number | null; signal: string | null };
      throw new Error(`prometheus exited during startup (code ${e.code}, signal ${e.signal}):\n${stderr}`);
    }
    if (spawnError !== null) {
      await stop();
      throw new Error(`cannot start ${binary}: ${(spawnError as Error).message}`);
    }
    try {
      const res = await fetch(`${url}/-/ready`);
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > readyDeadline) {
      await stop();
      throw new Error(`prometheus on ${url} not ready after ${READY_TIMEOUT_MS} ms:\n${stderr}`);
    }
    await sleep(50);
  }
  return prometheusApi(url, stop, '');
}

/** Queries against a ready Prometheus at `url`; `failureNote` is appended to waitForData's timeout error. */
function prometheusApi(url: string, stop: () => Promise<void>, failureNote: string): PrometheusHandle {
  const query = async (promql: string, atSeconds?: number): Promise<PromSeries[]> => {
    const at = atSeconds === undefined ? '' : `&time=${atSeconds}`;
    const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(promql)}${at}`);
    const body = (await res.json()) as PromQueryResponse;
    if (body.status !== 'success') throw new Error(`prometheus query failed (${body.errorType ?? res.status}): ${body.error ?? ''}\n  query: ${promql}`);
    const data = body.data!;
    if (data.resultType === 'vector') {
      return (data.result as VectorSample[]).map((r) => ({ metric: r.metric, value: Number(r.value[1]), timestamp: r.value[0] }));
    }
    if (data.resultType === 'scalar') {
      const [timestamp, value] = data.result as [number, string];
      return [{ metric: {}, value: Number(value), timestamp }];
    }
    throw new Error(`prometheus query returned a ${data.resultType}, expected an instant vector: ${promql}`);
  };

  const targets = async () => {
    const res = await fetch(`${url}/api/v1/targets`);
    const body = (await res.json()) as { data: { activeTargets: { scrapeUrl: string; health: string; lastError: string }[] } };
    return body.data.activeTargets.map(({ scrapeUrl, health, lastError }) => ({ scrapeUrl, health, lastError }));
  };

  const waitForData = async (promql: string, deadlineMs: number, accept = hasFiniteValue): Promise<PromSeries[]> => {
    const deadline = Date.now() + deadlineMs;
    let last: PromSeries[] = [];
    for (;;) {
      last = await query(promql);
      if (accept(last)) return last;
      if (Date.now() > deadline) {
        const health = await targets().catch(() => []);
        throw new Error(
          `no accepted data for ${promql} within ${deadlineMs} ms; last result: ${JSON.stringify(last)}; ` +
            `targets: ${JSON.stringify(health)}${failureNote}`,
        );
      }
      await sleep(POLL_INTERVAL_MS);
    }
  };

  return { url, query, waitForData, targets, stop };
}

// ---- Container path. UNTESTED HERE: no Docker engine runs on the team's machines. ----
// The container reaches the host through Docker's host gateway (host.docker.internal via
// withExtraHosts 'host-gateway', Docker 20.10+), so loopback targets are rewritten to that name.
// LIMITATION: a metrics server bound on 127.0.0.1 only listens on the host's loopback, which the
// gateway address is not; in container mode the scraped processes must bind 0.0.0.0 (or a Linux
// engine can run Prometheus with host networking instead). The harness says so up front and again
// in waitForData's timeout error rather than letting the test fail with a bare "no data".

/** Loopback hosts a container cannot reach as such. */
const LOOPBACK_HOST = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/i;

/** Rewrites loopback targets to CONTAINER_HOST_ALIAS; `loopback` lists the targets it rewrote. */
export function rewriteLoopbackTargets(jobs: ScrapeJob[]): { jobs: ScrapeJob[]; loopback: string[] } {
  const loopback: string[] = [];
  const rewritten = jobs.map((j) => ({
    job: j.job,
    targets: j.targets.map((t) => {
      const colon = t.lastIndexOf(':');
      const host = t.slice(0, colon);
      if (!LOOPBACK_HOST.test(host)) return t;
      loopback.push(t);
      return `${CONTAINER_HOST_ALIAS}${t.slice(colon)}`;
    }),
  }));
  return { jobs: rewritten, loopback };
}

async function startPrometheusContainer(jobs: ScrapeJob[], intervalSeconds: number): Promise<PrometheusHandle> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const { jobs: containerJobs, loopback } = rewriteLoopbackTargets(jobs);
  let failureNote = '';
  if (loopback.length > 0) {
    failureNote = `; NOTE: Prometheus runs in a container and scrapes ${loopback.join(', ')} as ${CONTAINER_HOST_ALIAS}:PORT, `
      + 'which only works if those servers bind 0.0.0.0, not 127.0.0.1';
    console.warn(`prometheus harness (container)${failureNote}`);
  }
  const configPath = '/etc/prometheus/prometheus.yml';
  const started = await new GenericContainer(PROMETHEUS_IMAGE)
    .withCopyContentToContainer([{ content: prometheusConfig(containerJobs, intervalSeconds), target: configPath }])
    .withCommand([
      `--config.file=${configPath}`,
      '--storage.tsdb.path=/prometheus',
      `--web.listen-address=0.0.0.0:${PROMETHEUS_CONTAINER_PORT}`,
      '--log.level=warn',
    ])
    .withExtraHosts([{ host: CONTAINER_HOST_ALIAS, ipAddress: 'host-gateway' }])
    .withExposedPorts(PROMETHEUS_CONTAINER_PORT)
    .withWaitStrategy(Wait.forHttp('/-/ready', PROMETHEUS_CONTAINER_PORT).forStatusCode(200))
    .withStartupTimeout(READY_TIMEOUT_MS)
    .start();
  const url = `http://${started.getHost()}:${started.getMappedPort(PROMETHEUS_CONTAINER_PORT)}`;
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await started.stop({ remove: true, timeout: STOP_GRACE_MS });
  };
  return prometheusApi(url, stop, failureNote);
}

/**
 * honor_labels keeps dtrain's own `job` label (the dtrain job name) instead of renaming it to
 * exported_job; the scrape job name is then only a grouping in the config.
 */
export function prometheusConfig(jobs: ScrapeJob[], intervalSeconds: number): string {
  const lines = [
    'global:',
    `  scrape_interval: ${intervalSeconds}s`,
    `  scrape_timeout: ${intervalSeconds}s`,
    `  evaluation_interval: ${intervalSeconds}s`,
    'scrape_configs:',
  ];
  for (const j of jobs) {
    lines.push(`  - job_name: ${JSON.stringify(j.job)}`, '    honor_labels: true', '    static_configs:', `      - targets: ${JSON.stringify(j.targets)}`);
  }
  return `${lines.join('\n')}\n`;
}

interface VectorSample {
  metric: Record<string, string>;
  value: [number, string];
}
interface PromQueryResponse {
  status: 'success' | 'error';
  errorType?: string;
  error?: string;
  data?: { resultType: 'vector' | 'scalar' | 'matrix' | 'string'; result: unknown };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// A crashed test must not leave Prometheus running on a shared machine.
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
}
