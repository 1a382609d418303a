// A real `dtrain launch` run with free metric ports, for the observability tests: parses the
// printed /metrics URLs (coordinator and each rank), scrapes them, and stops the run with SIGINT.
import { sampleValue } from '@dtrain/shared/metrics/metric-set';
import { startDtrain, tempDir, waitForExit, writeJob, type CliRun } from './dtrain-cli';

export interface ObservedRun {
  run: CliRun;
  /** http://host:port of the coordinator's metrics server (no path). */
  coordinatorUrl: string;
  /** http://host:port of each rank's metrics server, by global rank. */
  workerUrls: Map<number, string>;
  /** Global rank of each local rank (launch --test-delay-ms addresses local ranks). */
  globalRankOfLocal: Map<number, number>;
  workerPids: number[];
  /** SIGINT to the launcher; resolves with its exit code once it and every worker are gone. */
  stop(): Promise<number | null>;
}

export interface LaunchOptions {
  workers: number;
  /** Extra launch arguments, e.g. ['--test-delay-ms', '1=100']. */
  args?: string[];
  startTimeoutMs?: number;
}

const START_TIMEOUT_MS = 180_000;

export async function launchObserved(job: Record<string, unknown>, options: LaunchOptions): Promise<ObservedRun> {
  const dir = tempDir('dtrain-obs-');
  const jobPath = writeJob(dir, job);
  const run = startDtrain([
    'launch', '--workers', String(options.workers), jobPath, '--json',
    '--metrics-port', '0', '--worker-metrics-port', '0', ...(options.args ?? []),
  ]);
  const stop = async (): Promise<number | null> => {
    if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGINT');
    const { code } = await run.exited;
    const pids = workerPidsOf(run.stderr());
    const alive = await waitForExit([...pids, run.child.pid!]);
    if (alive.length > 0) {
      for (const pid of alive) process.kill(pid, 'SIGKILL');
      throw new Error(`processes still alive after the launcher exited: ${alive.join(', ')}`);
    }
    return code;
  };
  try {
    const timeout = options.startTimeoutMs ?? START_TIMEOUT_MS;
    const coordinator = await run.waitFor(/\[coordinator\] metrics on (http:\/\/[^\s/]+)\/metrics/, timeout);
    // Ranks come with the first world: "world generation 1 formed (...): rank 0=host pid 123 peer ...".
    await run.waitFor(/world generation 1 formed \(/, timeout);
    const workerLine = /\[worker (\d+)\] metrics on (http:\/\/[^\s/]+)\/metrics/g;
    const allUp = new RegExp(Array(options.workers).fill('\\[worker \\d+\\] metrics on').join('[\\s\\S]*'));
    await run.waitFor(allUp, timeout);
    const pids = workerPidsOf(run.stderr());
    const rankOfPid = new Map<number, number>();
    const formed = /world generation 1 formed \([^\n]*/.exec(run.stderr())![0];
    for (const m of formed.matchAll(/rank (\d+)=\S+ pid (\d+)/g)) rankOfPid.set(Number(m[2]), Number(m[1]));
    const globalRankOfLocal = new Map<number, number>();
    pids.forEach((pid, local) => { if (rankOfPid.has(pid)) globalRankOfLocal.set(local, rankOfPid.get(pid)!); });
    const workerUrls = new Map<number, string>();
    for (const m of run.stderr().matchAll(workerLine)) {
      const rank = globalRankOfLocal.get(Number(m[1]));
      if (rank !== undefined) workerUrls.set(rank, m[2]);
    }
    if (workerUrls.size !== options.workers) {
      throw new Error(`expected ${options.workers} worker metrics URLs, found ${workerUrls.size}:\n${run.stderr()}`);
    }
    return { run, coordinatorUrl: coordinator[1], workerUrls, globalRankOfLocal, workerPids: workerPidsOf(run.stderr()), stop };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}

function workerPidsOf(stderr: string): number[] {
  const m = stderr.match(/started \d+ worker process\(es\): pids ([\d, ]+)/);
  return m ? m[1].split(',').map((p) => Number(p.trim())).filter((p) => p > 0) : [];
}

export async function scrape(baseUrl: string): Promise<string> {
  const res = await fetch(`${baseUrl}/metrics`);
  if (res.status !== 200) throw new Error(`GET ${baseUrl}/metrics: HTTP ${res.status}`);
  return res.text();
}

export async function httpStatus(url: string): Promise<number> {
  return (await fetch(url)).status;
}

/** Every sample of one metric in exposition text, with its labels. */
export function samplesOf(text: string, name: string): { labels: Record<string, string>; value: number }[] {
  const out: { labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const labels: Record<string, string> = {};
    const body = /\{(.*)\}/.exec(line)?.[1] ?? '';
    for (const m of body.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[m[1]] = m[2];
    out.push({ labels, value: Number(line.slice(line.lastIndexOf(' ') + 1)) });
  }
  return out;
}

/** Polls a /metrics endpoint until `accept` holds for its text, or throws at the deadline with the last text. */
export async function pollMetrics(baseUrl: string, accept: (text: string) => boolean, deadlineMs: number, what: string): Promise<string> {
  const deadline = Date.now() + deadlineMs;
  let text = '';
  for (;;) {
    text = await scrape(baseUrl);
    if (accept(text)) return text;
    if (Date.now() > deadline) throw new Error(`${what}: not seen on ${baseUrl}/metrics within ${deadlineMs} ms; last scrape:\n${dtrainLines(text)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The dtrain_* lines of exposition text (no Node default metrics), comments included. */
export function dtrainLines(text: string): string {
  return text.split('\n').filter((l) => /^(# (HELP|TYPE) )?dtrain_/.test(l)).join('\n');
}

export { sampleValue };
