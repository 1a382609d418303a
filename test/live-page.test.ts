// The coordinator's live page in a real browser (Debian's chromium driven by playwright-core) during a real
// `dtrain launch`: it renders, its curves gain points as steps complete, and a killed worker shows up as
// lost in its generation and in the events, then the next world generation (with the replacement process
// the launcher starts) as the current one. Saves test-results/live-page.png.
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { REPO_ROOT, smallMnistJob, startDtrain, tempDir, waitForExit, writeJob, type CliRun } from './harness/dtrain-cli';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = join(REPO_ROOT, 'test-results/live-page.png');

interface PageState {
  job: string;
  state: string;
  steps: { step: number; loss: number; epoch: number }[];
  rankSteps: { ranks: { rank: number; computeSeconds: number; allreduceSeconds: number; stepSeconds: number }[] }[];
  events: { kind: string; data: Record<string, unknown> }[];
  worlds: { kind: 'formed' | 'lost' | 'joined'; generation: number; worldSize: number; rank?: number }[];
}

let browser: Browser | null = null;
let run: CliRun | null = null;

afterAll(async () => {
  await browser?.close();
  if (run && run.child.exitCode === null) run.child.kill('SIGKILL');
});

describe('live page', () => {
  it('renders, gains points as steps complete, shows a killed worker lost and the next generation', async () => {
    expect(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium`).toBe(true);
    const dir = tempDir();
    const job = writeJob(dir, smallMnistJob({
      name: 'live-page',
      training: { batchSize: 16, epochs: 50, maxSteps: 150 },
      checkpoint: { dir: join(dir, 'checkpoints'), everySteps: 20, keep: 2 },
    }));
    // Rank 1 sleeps 30 ms a step: steps stay slow enough to watch, and rank 1 is flagged a straggler.
    // One replacement: the killed worker's slot gets a new process, which joins generation 2.
    run = startDtrain(['launch', '--workers', '2', '--max-restarts', '1', job, '--metrics-port', '0',
      '--worker-metrics-port', '0', '--test-delay-ms', '1=30']);
    const [, url] = await run.waitFor(/live page: (http:\/\/\S+\/)/, 60_000);
    const [, pid0, pid1] = await run.waitFor(/started 2 worker process\(es\): pids (\d+), (\d+)/);

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    const page = await browser.newPage({ viewport: { width: 1280, height: 1100 } });
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(url);
    // Page-side code is given as strings: this package compiles without the DOM library.
    await page.waitForFunction("document.querySelectorAll('#loss-chart canvas').length === 1", null, { timeout: 60_000 });
    expect(await page.textContent('#job')).toMatch(/^live-page-/);

    // The loss curve gains points while the job runs.
    const points = async () => Number(await page.getAttribute('#loss-chart', 'data-points'));
    const lossPoints = "Number(document.querySelector('#loss-chart').dataset.points)";
    await page.waitForFunction(`${lossPoints} >= 5`, null, { timeout: 90_000 });
    const before = await points();
    await page.waitForFunction(`${lossPoints} >= ${before + 10}`, null, { timeout: 90_000 });
    expect(await points()).toBeGreaterThanOrEqual(before + 10);
    // Validation points arrive once an epoch ends (2000 samples x 0.8 train / 32 per step = 50 steps).
    await page.waitForFunction("Number(document.querySelector('#loss-chart').dataset.validationPoints) >= 1", null, { timeout: 90_000 });

    // What the page holds is what the coordinator serves: same steps, same losses, both ranks split.
    const state = await page.evaluate('window.dtrainLive') as PageState;
    const served = await (await fetch(new URL('/live/state', url))).json() as PageState;
    expect(state.state).toBe('running');
    const servedLoss = new Map(served.steps.map((s) => [s.step, s.loss]));
    for (const s of state.steps) expect(servedLoss.get(s.step)).toBe(s.loss);
    expect(state.steps.map((s) => s.step)).toEqual(state.steps.map((_, i) => i + 1));
    expect(state.steps.every((s) => Number.isFinite(s.loss) && s.loss > 0 && s.epoch >= 1)).toBe(true);
    const lastRanks = state.rankSteps[state.rankSteps.length - 1].ranks;
    expect(lastRanks.map((r) => r.rank)).toEqual([0, 1]);
    for (const r of lastRanks) {
      expect(r.computeSeconds).toBeGreaterThan(0);
      expect(r.stepSeconds).toBeGreaterThanOrEqual(r.computeSeconds);
    }
    expect(await page.getAttribute('#rank-chart', 'data-ranks')).toBe('2');
    expect(await page.locator('#split .row').count()).toBe(2);
    expect(await page.locator('#ring .rank').count()).toBe(2);

    // Kill a worker: the page shows it lost in generation 1 (ring, generations list, events), then
    // generation 2 (the survivor and the replacement) as the current world; the job goes on.
    const formed = state.events.find((e) => e.kind === 'world-formed')!;
    const members = formed.data.members as { rank: number; pid: number }[];
    const victimRank = members.find((m) => m.pid === Number(pid1))!.rank;
    process.kill(Number(pid1), 'SIGKILL');
    await page.waitForSelector('#generations li[data-generation="1"] .lost', { timeout: 60_000 });
    expect(await page.textContent('#generations li[data-generation="1"]')).toContain(`lost rank ${victimRank}`);
    await page.waitForSelector('#events tr[data-kind="worker-lost"]', { timeout: 10_000 });
    await page.waitForFunction("document.querySelector('#generation').textContent === '2'", null, { timeout: 120_000 });
    expect(await page.textContent('#generations li[data-generation="2"]')).toMatch(/^generation 2: 2 ranks, formed/);
    expect(await page.locator('#ring .rank').count()).toBe(2);
    expect(await page.locator('#ring .rank[data-state="lost"]').count()).toBe(0);
    const after = await page.evaluate('window.dtrainLive') as PageState;
    expect(after.worlds.map((w) => [w.kind, w.generation, w.worldSize])).toEqual(expect.arrayContaining([
      ['formed', 1, 2], ['lost', 1, expect.any(Number)], ['formed', 2, 2],
    ]));
    expect(after.worlds.find((w) => w.kind === 'lost')!.rank).toBe(victimRank);
    // Steps go on in generation 2.
    const stepsAtGen2 = after.steps.length;
    await page.waitForFunction(`${lossPoints} >= ${stepsAtGen2 + 5}`, null, { timeout: 90_000 });
    mkdirSync(join(REPO_ROOT, 'test-results'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(existsSync(SCREENSHOT)).toBe(true);
    await page.waitForFunction("document.body.dataset.state === 'finished'", null, { timeout: 120_000 });
    expect(pageErrors).toEqual([]);

    const { code } = await run.exited;
    expect(code).toBe(0);
    expect(run.stderr()).toContain('world generation 2 formed: 2 worker(s)');
    expect(await waitForExit([Number(pid0), Number(pid1)])).toEqual([]);
  });
});
