// Worker loss without restart, decided by the controller alone: which signal proves a loss (failure
// attribution), Abandon and parking, the next generation from the survivors with the max-completed
// rule and its sync source, re-planning of the rest of the epoch, and an exact ledger across it.
import { describe, expect, it } from 'vitest';
import { epochOrder, type ShardPlanState } from '@dtrain/shared/shard-plan';
import { Phase } from '../src/controller/api';
import { BATCH, controllerOptions, duplicatesIn, Sim, TRAIN_SIZE } from './controller-sim';

function world3(o = {}) {
  const sim = new Sim(controllerOptions({ minWorkers: 2, maxWorkers: 3, lastCallMs: 100, ...o }));
  const ws = [0, 1, 2].map(() => sim.joinOk('h1'));
  return { sim, ws };
}

describe('controller: worker loss', () => {
  it('the lost rank is named by its broken session; the survivor holding the max is the source', () => {
    const { sim, ws } = world3();
    const [r0, r1, r2] = ws;
    expect(ws.map((w) => w.rank)).toEqual([0, 1, 2]);
    for (let i = 0; i < 5; i++) sim.step();
    // Step 5: rank 1 dies mid all-gather; rank 2 finished it, rank 0 did not; nobody reported it.
    sim.now += 100;
    sim.step([r2], []);
    sim.kill(r1, 'stream ended');
    expect(sim.published('worker-lost')).toEqual([expect.objectContaining({ rank: 1, workerId: r1.id })]);
    const abandons = sim.ofType('SendAbandon');
    expect(abandons.map((x) => x.workerId).sort()).toEqual([r0.id, r2.id].sort());
    expect(abandons[0]).toMatchObject({ generation: 1, lostRanks: [1] });
    const g2 = sim.ofType('SendWorld').filter((w) => w.world.generation === 2);
    expect(g2).toHaveLength(2);
    // Committed = max(5, 6) = 6, from r2 which is rank 1 of the new world.
    expect(g2.map((w) => w.world)).toEqual([
      expect.objectContaining({ rank: 0, worldSize: 2, completedSteps: 6, sourceRank: 1 }),
      expect.objectContaining({ rank: 1, worldSize: 2, completedSteps: 6, sourceRank: 1 }),
    ]);
    expect(g2.map((w) => w.workerId)).toEqual([r0.id, r2.id]);
    // Re-plan: the rest of epoch 0 for 2 ranks from sample 6 x 12 = 72 of the epoch's order.
    const plans = sim.ofType('SendPlan').filter((p) => p.plan.generation === 2);
    expect(plans.map((p) => Number(p.plan.firstGlobalStep))).toEqual([6, 6]);
    expect(plans[0].plan.firstStepInEpoch).toBe(6);
    const start: ShardPlanState = { seed: 3, datasetSize: TRAIN_SIZE, epoch: 0, carryIn: [], consumed: 0 };
    const order = epochOrder(start);
    expect([...plans[0].plan.indices.slice(0, BATCH), ...plans[1].plan.indices.slice(0, BATCH)]).toEqual(Array.from(order.subarray(72, 80)));
    expect(plans[0].plan.steps).toBe(Math.floor((TRAIN_SIZE - 72) / 8));
    sim.now += 400;
    sim.step();
    expect(sim.result).toBeNull();
    sim.run();
    expect(sim.result).toMatchObject({ status: 'succeeded', workers: 2, generations: 2, workersLost: 1, stepsRedone: 0, recoverySeconds: [0.4] });
    const l = sim.result!.sampleLedger!;
    expect(l).toMatchObject({ epochs: 2, duplicated: 0, missing: 0 });
    expect(l.trained).toBe(l.expected);
    for (const list of sim.trainedByEpoch.values()) expect(duplicatesIn(list)).toBe(0);
  });

  it('when no survivor completed the step in flight, its samples are planned again (not lost, not doubled)', () => {
    const { sim, ws } = world3();
    for (let i = 0; i < 3; i++) sim.step();
    const before = sim.ofType('SendPlan').filter((p) => p.plan.generation === 1);
    const inFlight = before.flatMap((p) => p.plan.indices.slice(3 * BATCH, 4 * BATCH)).sort((x, y) => x - y);
    sim.step([ws[2]], []);
    sim.kill(ws[2]);
    const after = sim.ofType('SendPlan').filter((p) => p.plan.generation === 2);
    expect(after.map((p) => Number(p.plan.firstGlobalStep))).toEqual([3, 3]);
    const next = after.flatMap((p) => p.plan.indices).sort((x, y) => x - y);
    for (const s of inFlight) expect(next).toContain(s);
    sim.run();
    expect(sim.result!.sampleLedger).toMatchObject({ duplicated: 0, missing: 0 });
    expect(sim.result!.sampleLedger!.trained).toBe(sim.result!.sampleLedger!.expected);
  });

  it('a blamed rank that keeps heartbeating is not lost: the generation re-forms with everybody', () => {
    const { sim, ws } = world3();
    sim.step();
    sim.now += 500;
    sim.send({ type: 'WorkerError', atMs: sim.now, from: ws[0].env, code: 'CollectiveTimeoutError', message: 'rank 1 slow', peerRank: 1 });
    sim.park(ws[0], 'own collective error');
    expect(sim.c.phase).toBe(Phase.Training);
    expect(sim.published('worker-lost')).toEqual([]);
    expect(sim.ofType('SendWorld').filter((w) => w.world.generation === 2)).toHaveLength(3);
    expect(sim.result).toBeNull();
    sim.wait(5_000);
    expect(sim.published('worker-lost')).toEqual([]);
  });

  it('a blamed rank silent for 2 heartbeat intervals is lost (SIGSTOP), without waiting for the heartbeat timeout', () => {
    const { sim, ws } = world3();
    sim.step();
    ws[1].frozen = true;
    sim.wait(1_000);
    sim.send({ type: 'WorkerError', atMs: sim.now, from: ws[0].env, code: 'CollectiveTimeoutError', message: 'timeout', peerRank: 1 });
    sim.park(ws[0], 'own collective error');
    sim.send({ type: 'WorkerError', atMs: sim.now, from: ws[2].env, code: 'PeerLostError', message: 'lost', peerRank: 1 });
    sim.park(ws[2], 'own collective error');
    expect(sim.published('worker-lost')).toEqual([]);
    expect(sim.timerSet(`blame:${ws[1].id}`)).toBe(true);
    sim.wait(1_000);
    expect(sim.published('worker-lost')).toEqual([expect.objectContaining({ rank: 1, reason: expect.stringMatching(/silent for 2000 ms/) })]);
    expect(sim.ofType('SendWorld').filter((w) => w.world.generation === 2).map((w) => w.workerId)).toEqual([ws[0].id, ws[2].id]);
  });

  it('heartbeat silence alone proves a loss', () => {
    const { sim, ws } = world3({ heartbeatTimeoutMs: 4_000 });
    sim.step();
    ws[2].frozen = true;
    sim.wait(4_000);
    expect(sim.published('worker-lost')).toEqual([]);
    sim.wait(1_000);
    expect(sim.published('worker-lost')).toEqual([expect.objectContaining({ rank: 2, reason: expect.stringMatching(/no heartbeat/) })]);
    expect(sim.ofType('SendWorld').filter((w) => w.world.generation === 2)).toHaveLength(2);
  });

  it('a member that does not park within the collective deadline after Abandon is lost', () => {
    const { sim, ws } = world3({ parkDeadlineMs: 3_000 });
    sim.step();
    ws[1].deaf = true;
    sim.kill(ws[2]);
    sim.wait(2_000);
    expect(sim.published('worker-lost')).toHaveLength(1);
    sim.wait(1_000);
    expect(sim.published('worker-lost').map((d) => d.rank)).toEqual([2, 1]);
    // Below MIN (2) now: waiting for newcomers, not failed yet.
    expect(sim.result).toBeNull();
    expect(sim.timerSet('below-min')).toBe(true);
  });

  it('below MIN past the rendezvous timeout: a final checkpoint from the survivor, then BelowMinWorkersError', () => {
    const { sim, ws } = world3({ rendezvousTimeoutMs: 10_000, minWorkers: 3 });
    for (let i = 0; i < 4; i++) sim.step();
    sim.kill(ws[0]);
    expect(sim.c.phase).toBe(Phase.Reforming);
    sim.wait(9_000);
    expect(sim.result).toBeNull();
    sim.wait(1_000);
    const cp = sim.ofType('SendCheckpointNow');
    expect(cp).toHaveLength(1);
    expect(cp[0]).toMatchObject({ afterGlobalStep: 4 });
    expect(sim.result).toMatchObject({ status: 'failed', errorCode: 'BelowMinWorkersError', lastCheckpoint: '/ckpt/step-4' });
    expect(sim.result!.error).toMatch(/only 2 worker\(s\) left, below the minimum of 3/);
  });

  it('a replacement arriving while below MIN is admitted and the job goes on', () => {
    const { sim, ws } = world3({ minWorkers: 3 });
    for (let i = 0; i < 2; i++) sim.step();
    sim.kill(ws[1]);
    sim.wait(3_000);
    const fresh = sim.joinOk('h2');
    const g2 = sim.ofType('SendWorld').filter((w) => w.world.generation === 2);
    expect(g2.map((w) => w.workerId)).toEqual([ws[0].id, ws[2].id, fresh.id]);
    expect(g2[0].world).toMatchObject({ completedSteps: 2, sourceRank: 0 });
    sim.run();
    expect(sim.result).toMatchObject({ status: 'succeeded', workersLost: 1, workersJoined: 1, generations: 2 });
    expect(sim.result!.sampleLedger).toMatchObject({ duplicated: 0, missing: 0 });
  });

  it('a non-collective worker error fails the job with its code; a non-finite loss too', () => {
    const { sim, ws } = world3();
    sim.send({ type: 'WorkerError', atMs: 0, from: ws[1].env, code: 'DataFileError', message: 'bad row', peerRank: -1 });
    expect(sim.result).toMatchObject({ status: 'failed', errorCode: 'DataFileError' });
    expect(ws.every((w) => w.aborted !== null)).toBe(true);
  });

  it('reports from an abandoned generation are ignored', () => {
    const { sim, ws } = world3();
    sim.step();
    const oldEnv = { ...ws[0].env };
    sim.kill(ws[1]);
    const before = sim.ofType('StepCompleted').length;
    for (const w of [ws[0], ws[2]]) {
      sim.send({ type: 'StepReported', atMs: sim.now, from: { ...oldEnv, workerId: w.id }, report: {
        globalStep: 1, epoch: 0, stepInEpoch: 1, loss: 1, samples: 4, computeSeconds: 0, allreduceSeconds: 0, stepSeconds: 0,
        allreduceBytes: 0, gradientNorms: [], weightsDigest: '' } });
    }
    expect(sim.ofType('StepCompleted').length).toBe(before);
  });

  it('a worker removed by a partition that comes back joins again as a newcomer (its state is stale)', () => {
    const { sim, ws } = world3();
    sim.step();
    sim.kill(ws[1], 'connection reset');
    expect(sim.ofType('SendWorld').filter((w) => w.world.generation === 2)).toHaveLength(2);
    const back = sim.joinOk('h1', { workerId: ws[1].id, jobId: 'job-1', completed: 1, generation: 1 });
    expect(back.id).toBe(ws[1].id);
    expect(sim.ofType('SendReform').filter((r) => r.generation === 2)).toHaveLength(2);
    sim.step();
    const g3 = sim.ofType('SendWorld').filter((w) => w.world.generation === 3);
    expect(g3.map((w) => w.world.completedSteps)).toEqual([2, 2, 2]);
    sim.run();
    expect(sim.result).toMatchObject({ status: 'succeeded', workersLost: 1, workersJoined: 1, generations: 3 });
    expect(sim.result!.sampleLedger).toMatchObject({ duplicated: 0, missing: 0 });
  });

  it('a stop during a world change waits for the next generation to sync, then stops it', () => {
    const { sim, ws } = world3();
    sim.step();
    sim.kill(ws[0]);
    sim.send({ type: 'ControlRequest', atMs: sim.now, request: { op: 'stop', reason: 'user' } });
    expect(sim.result).toMatchObject({ status: 'stopped', steps: 1 });
    expect(sim.ofType('SendStop').map((s) => s.workerId).sort()).toEqual([ws[1].id, ws[2].id].sort());
  });
});
