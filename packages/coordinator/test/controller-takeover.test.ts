// Takeover decisions of a restarted coordinator (docs/elastic.md "Takeover"), from the state file the
// previous one wrote: same job id, the generation count continues, the workers' in-memory state is
// used when their digests agree at the max step, else the newest checkpoint (steps redone counted,
// ledger rolled back so it stays exact), else a named failure.
import { describe, expect, it } from 'vitest';
import { initialPlanState, planEpoch, planPosition, positionAfter } from '@dtrain/shared/shard-plan';
import type { CoordinatorStateFile } from '../src/controller/api';
import { BATCH, checkpointAt, controllerOptions, Sim, TRAIN_SIZE, type SimWorker } from './controller-sim';

/** A 2-worker job run for `steps` steps, then its coordinator "killed": its last state file. */
function runThenKill(steps: number): { state: CoordinatorStateFile; workers: SimWorker[] } {
  const sim = new Sim();
  sim.joinOk('h1');
  sim.joinOk('h1');
  for (let i = 0; i < steps; i++) sim.step();
  return { state: sim.lastState!, workers: sim.workers };
}

function restart(state: CoordinatorStateFile, newestCheckpoint = null as ReturnType<typeof checkpointAt> | null) {
  return new Sim(controllerOptions({ jobId: 'ignored-new-id', takeover: { state, newestCheckpoint } }));
}

describe('controller: coordinator takeover', () => {
  it('workers re-join with their state: same job id, next generation syncs from them, ledger exact to the end', () => {
    const { state, workers } = runThenKill(5);
    expect(state).toMatchObject({ jobId: 'job-1', generation: 1, committedSteps: 0, ended: null });
    const sim = restart(state);
    expect(sim.c.jobId).toBe('job-1');
    expect(sim.published('coordinator-takeover')).toEqual([expect.objectContaining({ generation: 1 })]);
    // The workers stopped at different steps when their coordinator vanished: 5 and 5 here.
    const re = workers.map((w) => sim.joinOk('h1', { workerId: w.id, jobId: 'job-1', completed: w.completed, generation: 1 }));
    const g2 = sim.ofType('SendWorld');
    expect(g2.map((w) => w.world)).toEqual([
      expect.objectContaining({ generation: 2, rank: 0, completedSteps: 5, sourceRank: 0, checkpointDir: '' }),
      expect.objectContaining({ generation: 2, rank: 1, completedSteps: 5, sourceRank: 0, checkpointDir: '' }),
    ]);
    expect(g2.map((w) => w.workerId)).toEqual(re.map((w) => w.id));
    expect(sim.ofType('SendPlan').map((p) => Number(p.plan.firstGlobalStep))).toEqual([5, 5]);
    sim.run();
    const perEpoch = Math.floor(TRAIN_SIZE / (2 * BATCH));
    expect(sim.result).toMatchObject({ status: 'succeeded', jobId: 'job-1', steps: 2 * perEpoch, stepsRedone: 0, workersJoined: 0, generations: 2 });
    expect(sim.result!.sampleLedger).toEqual({ epochs: 2, expected: 192, trained: 192, duplicated: 0, missing: 0 });
  });

  it('a worker that stopped one step behind the other adopts the other (max rule), nothing redone', () => {
    const { state, workers } = runThenKill(4);
    const sim = restart(state);
    sim.joinOk('h1', { workerId: workers[0].id, jobId: 'job-1', completed: 4, generation: 1 });
    sim.joinOk('h1', { workerId: workers[1].id, jobId: 'job-1', completed: 5, generation: 1 });
    const g2 = sim.ofType('SendWorld').map((w) => w.world);
    expect(g2.every((w) => w.completedSteps === 5 && w.sourceRank === 1)).toBe(true);
    sim.run();
    expect(sim.result).toMatchObject({ status: 'succeeded', stepsRedone: 0 });
    expect(sim.result!.sampleLedger).toMatchObject({ duplicated: 0, missing: 0 });
    expect(sim.result!.sampleLedger!.trained).toBe(sim.result!.sampleLedger!.expected);
  });

  it('digests that disagree at the same step: every member loads the newest checkpoint; redone steps counted, ledger still exact', () => {
    const { state, workers } = runThenKill(6);
    const plan = planEpoch(initialPlanState(3, TRAIN_SIZE), 2, BATCH);
    const cp = checkpointAt(3, positionAfter(planPosition(plan), 3));
    const sim = restart(state, cp);
    const a = sim.joinOk('h1', { workerId: workers[0].id, jobId: 'job-1', completed: 6, generation: 1, park: false });
    const b = sim.joinOk('h1', { workerId: workers[1].id, jobId: 'job-1', completed: 6, generation: 1, park: false });
    a.completed = 6;
    b.completed = 6;
    b.parkDigestOverride = 'different';
    sim.park(a, 'coordinator lost', 1);
    sim.park(b, 'coordinator lost', 1);
    const g2 = sim.ofType('SendWorld').map((w) => w.world);
    expect(g2.every((w) => w.checkpointDir === '/ckpt/step-3' && w.completedSteps === 3)).toBe(true);
    sim.run();
    expect(sim.result).toMatchObject({ status: 'succeeded', stepsRedone: 3 });
    expect(sim.result!.sampleLedger).toEqual({ epochs: 2, expected: 192, trained: 192, duplicated: 0, missing: 0 });
  });

  it('digests that disagree and no checkpoint: WeightsDivergedError, not a guess', () => {
    const { state, workers } = runThenKill(2);
    const sim = restart(state);
    const a = sim.joinOk('h1', { workerId: workers[0].id, jobId: 'job-1', park: false, generation: 1 });
    const b = sim.joinOk('h1', { workerId: workers[1].id, jobId: 'job-1', park: false, generation: 1 });
    a.completed = 2;
    b.completed = 2;
    b.digestOverride = 'other';
    sim.park(a, 'coordinator lost', 1);
    sim.park(b, 'coordinator lost', 1);
    expect(sim.result).toMatchObject({ status: 'failed', errorCode: 'WeightsDivergedError' });
  });

  it('only fresh workers come back (the old ones died with the coordinator): newest checkpoint, or WorkerLostError', () => {
    const { state } = runThenKill(6);
    const plan = planEpoch(initialPlanState(3, TRAIN_SIZE), 2, BATCH);
    const withCp = restart(state, checkpointAt(4, positionAfter(planPosition(plan), 4)));
    withCp.joinOk('h1');
    withCp.joinOk('h1');
    // The state file was written at the plan start (step 0); the job had committed 6 when the coordinator died, unknown to it.
    expect(withCp.ofType('SendWorld').every((w) => w.world.checkpointDir === '/ckpt/step-4' && w.world.completedSteps === 4)).toBe(true);
    const without = restart({ ...state, committedSteps: 6 });
    without.joinOk('h1');
    without.joinOk('h1');
    expect(without.result).toMatchObject({ status: 'failed', errorCode: 'WorkerLostError' });
  });

  it('a worker of another job is refused by the new coordinator', () => {
    const { state } = runThenKill(1);
    const sim = restart(state);
    expect(sim.join('h1', { jobId: 'job-2', workerId: 'x' })).toMatch(/belongs to job 'job-2'/);
  });
});
