// How fast training resumes after a worker is killed, measured on real processes (docs/elastic.md).
//
//   node --import tsx bench/elastic-recovery.ts [KILLS=10] [--workers 2:4] [--old-repo /work/main]
//
// New path: `dtrain launch --workers 2:4 --max-restarts KILLS` (MIN 2: the survivors never wait for a
// replacement process to start, so this measures the re-formation itself), kill -9 of a random member of the
// current world every 30 steps, KILLS times. Per kill: the coordinator's recoverySeconds (loss
// detected -> next completed step) and, seen from outside, kill -> the coordinator's "recovered:
// step S completed" line. Also stepsRedone and the sample ledger from the --json summary.
// Anchor, in the same run: today's `--max-restarts` relaunch (relaunch every worker from the newest
// checkpoint) run from the code of --old-repo (main, which still has it), 3 workers, one kill after
// the checkpoint at step 20: kill -> the first step line of the relaunched world, and the steps
// trained again (last step before the kill - resumed step).
// Prints one JSON object; ratios are old/new. The machine is shared: read the ratios, not the seconds.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { median, round3 } from './bench-ranks';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const KILL_EVERY_STEPS = 30;

interface Run {
  child: ChildProcess;
  err: () => string;
  out: () => string;
  /** Arrival time (ms, performance.now) of each stderr line. */
  lines: { t: number; text: string }[];
  exited: Promise<number | null>;
}

function launch(repo: string, args: string[]): Run {
  const child = spawn(process.execPath, [join(repo, 'packages/cli/bin/dtrain.js'), ...args], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let partial = '';
  const lines: { t: number; text: string }[] = [];
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => {
    const t = performance.now();
    err += d.toString();
    partial += d.toString();
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    for (const text of parts) lines.push({ t, text });
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, err: () => err, out: () => out, lines, exited };
}

async function waitLine(run: Run, pattern: RegExp, after: number, timeoutMs = 300_000): Promise<{ t: number; m: RegExpMatchArray }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const l of run.lines) {
      if (l.t < after) continue;
      const m = l.text.match(pattern);
      if (m) return { t: l.t, m };
    }
    if (run.child.exitCode !== null) throw new Error(`exited before ${pattern}:\n${run.err().slice(-3000)}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}:\n${run.err().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function job(dir: string, name: string, epochs: number, everySteps: number): string {
  const path = join(dir, `${name}.yaml`);
  writeFileSync(path, stringify({
    name, seed: 11, backend: 'wasm',
    model: { kind: 'mlp', task: 'classification', hidden: [{ units: 32, activation: 'relu' }] },
    dataset: { kind: 'mnist', shape: 'flat', limit: 2000 },
    loss: 'categoricalCrossentropy',
    optimizer: { kind: 'sgd', learningRate: 0.1 },
    training: { batchSize: 16, epochs },
    checkpoint: { dir: join(dir, 'ckpt'), everySteps, keep: 2 },
    // Generous: on a busy machine a short deadline makes losses of its own.
    collective: { timeoutMs: 15_000 },
  }));
  return path;
}

function stats(xs: number[]): { median: number; max: number; n: number } {
  return { median: round3(median(xs)), max: round3(xs.length ? Math.max(...xs) : Number.NaN), n: xs.length };
}

async function newPath(kills: number, workers: string): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), 'dtrain-bench-elastic-'));
  // 1600 digits / (4 x 16) = 25 steps per epoch at 4 workers: enough epochs for every kill.
  const epochs = Math.ceil(((kills + 1) * KILL_EVERY_STEPS) / 25) + 2;
  const run = launch(REPO_ROOT, ['launch', '--workers', workers, job(dir, 'bench-elastic', epochs, KILL_EVERY_STEPS),
    '--json', '--no-metrics', '--max-restarts', String(kills)]);
  const killToStep: number[] = [];
  const killed: number[] = [];
  let since = 0;
  for (let k = 1; k <= kills; k++) {
    const { t } = await waitLine(run, new RegExp(`checkpoint written at step ${k * KILL_EVERY_STEPS}:`), since);
    const worlds = [...run.err().matchAll(/world generation \d+ formed \(\d+ worker\(s\)[^\n]*/g)];
    const members = [...worlds[worlds.length - 1][0].matchAll(/pid (\d+)/g)].map((m) => Number(m[1])).filter((p) => !killed.includes(p));
    const victim = members[Math.floor(Math.random() * members.length)];
    const tKill = performance.now();
    process.kill(victim, 'SIGKILL');
    killed.push(victim);
    const recovered = await waitLine(run, /recovered: step \d+ completed/, tKill);
    killToStep.push((recovered.t - tKill) / 1000);
    since = Math.max(t, recovered.t);
  }
  const code = await run.exited;
  const summary = JSON.parse(run.out().trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
  return {
    exitCode: code,
    status: summary.status,
    workers,
    kills,
    steps: summary.steps,
    generations: summary.generations,
    workersLost: summary.workersLost,
    workersJoined: summary.workersJoined,
    recoverySeconds: summary.recoverySeconds,
    recovery: stats((summary.recoverySeconds as number[] | undefined) ?? []),
    killToNextStepSeconds: killToStep.map(round3),
    killToNextStep: stats(killToStep),
    stepsRedone: summary.stepsRedone,
    sampleLedger: summary.sampleLedger,
    wallSeconds: summary.wallSeconds,
  };
}

async function oldPath(repo: string): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), 'dtrain-bench-relaunch-'));
  const run = launch(repo, ['launch', '--workers', '3', job(dir, 'bench-relaunch', 4, 10), '--json', '--no-metrics', '--max-restarts', '1']);
  await waitLine(run, /checkpoint \(periodic\) at step 20:/, 0);
  // Let a few more steps run past the checkpoint, as a kill at a random moment would.
  await new Promise((r) => setTimeout(r, 1_500));
  const pids = run.err().match(/pids ([\d, ]+)/)![1].split(',').map((p) => Number(p.trim()));
  const stepLines = run.lines.filter((l) => /worker \d\] .*checkpoint|epoch \d+\/\d+ step/.test(l.text));
  const tKill = performance.now();
  process.kill(pids[1], 'SIGKILL');
  const relaunched = await waitLine(run, /world generation 2 formed/, tKill);
  const firstStep = await waitLine(run, /epoch \d+\/\d+ step \d+\/\d+ \(global (\d+)/, relaunched.t);
  const resumed = run.err().match(/resuming from \S+ at global step (\d+)/);
  const code = await run.exited;
  const summary = JSON.parse(run.out().trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
  // Steps completed before the kill: the world's step reports are not logged one by one on main, so
  // count from its rank-0 step log if any, else from the newest "global N" progress line.
  const before = stepLines.map((l) => Number(/global (\d+)/.exec(l.text)?.[1] ?? /at step (\d+)/.exec(l.text)?.[1] ?? 0));
  const lastBefore = Math.max(0, ...before);
  return {
    exitCode: code,
    status: summary.status,
    restarts: summary.restarts,
    killToNextStepSeconds: round3((firstStep.t - tKill) / 1000),
    resumedAtStep: resumed ? Number(resumed[1]) : null,
    lastStepSeenBeforeKill: lastBefore,
    stepsRedoneAtLeast: resumed ? Math.max(0, lastBefore - Number(resumed[1])) : null,
  };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const kills = Number(args.find((a, i) => /^\d+$/.test(a) && args[i - 1] !== '--workers') ?? 10);
  const oldRepoAt = args.indexOf('--old-repo');
  const oldRepo = oldRepoAt >= 0 ? args[oldRepoAt + 1] : '/work/main';
  const workersAt = args.indexOf('--workers');
  const workers = workersAt >= 0 ? args[workersAt + 1] : '2:4';
  const started = performance.now();
  const relaunch = await oldPath(oldRepo);
  const elastic = await newPath(kills, workers);
  const oldSeconds = relaunch.killToNextStepSeconds as number;
  const newMedian = (elastic.killToNextStep as { median: number }).median;
  process.stdout.write(`${JSON.stringify({
    bench: 'elastic-recovery',
    machine: 'shared 2-core VM (other jobs running): compare ratios, not seconds',
    anchor: `dtrain launch --max-restarts relaunch (code of ${oldRepo}), 3 workers, one kill`,
    relaunch,
    elastic,
    ratios: {
      killToNextStepOldOverNewMedian: round3(oldSeconds / newMedian),
      killToNextStepOldOverNewMax: round3(oldSeconds / (elastic.killToNextStep as { max: number }).max),
    },
    benchSeconds: round3((performance.now() - started) / 1000),
  })}\n`);
}

void main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
