// The controller without sockets: admission, the first world of MIN:MAX, rank order, the state
// sync check, and a clean run to the end with an exact sample ledger.
import { describe, expect, it } from 'vitest';
import { Phase } from '../src/controller/api';
import { controllerOptions, duplicatesIn, Sim, TRAIN_SIZE, BATCH } from './controller-sim';

describe('controller: first world', () => {
  it('forms N:N at once when N workers parked, ranks by host then local-rank hint then arrival', () => {
    const sim = new Sim(controllerOptions({ minWorkers: 3, maxWorkers: 3 }));
    const a = sim.joinOk('hostB', { hint: 1 });
    const b = sim.joinOk('hostA');
    expect(sim.c.phase).toBe(Phase.Rendezvous);
    const c = sim.joinOk('hostB', { hint: 0 });
    const worlds = sim.ofType('SendWorld');
    expect(worlds).toHaveLength(3);
    const byId = new Map(worlds.map((w) => [w.workerId, w.world]));
    expect([b, c, a].map((w) => byId.get(w.id)!.rank)).toEqual([0, 1, 2]);
    expect([b, c, a].map((w) => byId.get(w.id)!.localRank)).toEqual([0, 0, 1]);
    expect(byId.get(a.id)!.localWorldSize).toBe(2);
    expect(byId.get(a.id)!.ring).toEqual([b, c, a].map((w) => byId.get(w.id)!.ring[byId.get(w.id)!.rank]));
    for (const w of byId.values()) expect(w).toMatchObject({ generation: 1, worldSize: 3, sourceRank: 0, completedSteps: 0, checkpointDir: '' });
    // All Synced with equal digests: plans go out, one per rank, disjoint.
    expect(sim.c.phase).toBe(Phase.Training);
    const plans = sim.ofType('SendPlan');
    expect(plans).toHaveLength(3);
    const all = plans.flatMap((p) => p.plan.indices);
    expect(new Set(all).size).toBe(all.length);
    expect(plans.every((p) => p.plan.generation === 1 && p.plan.firstGlobalStep === 0)).toBe(true);
  });

  it('MIN:MAX: forms after the last-call window with MIN, at once with MAX; refuses beyond MAX', () => {
    const sim = new Sim(controllerOptions({ minWorkers: 2, maxWorkers: 3, lastCallMs: 500 }));
    sim.joinOk('h1');
    sim.joinOk('h1');
    expect(sim.ofType('SendWorld')).toHaveLength(0);
    expect(sim.timerSet('last-call')).toBe(true);
    sim.advance(499);
    expect(sim.ofType('SendWorld')).toHaveLength(0);
    sim.advance(1);
    expect(sim.ofType('SendWorld')).toHaveLength(2);
    const third = sim.joinOk('h1');
    const refused = sim.join('h1');
    expect(refused).toMatch(/already has 3 worker\(s\) \(--workers MAX\)/);
    // The third waits for the next step boundary: Reform goes to the members, not a world.
    expect(sim.ofType('SendReform').map((r) => r.generation)).toEqual([1, 1]);
    sim.step();
    const g2 = sim.ofType('SendWorld').filter((w) => w.world.generation === 2);
    expect(g2).toHaveLength(3);
    expect(g2.find((w) => w.workerId === third.id)!.world.rank).toBe(2);
    expect(g2.every((w) => w.world.completedSteps === 1 && w.world.sourceRank === 0)).toBe(true);
    expect(sim.published('worker-joined').filter((d) => d.workerId === third.id)).toHaveLength(1);
  });

  it('refuses a worker of another job and a session from an unknown worker', () => {
    const sim = new Sim();
    expect(sim.join('h1', { jobId: 'other-job' })).toMatch(/belongs to job 'other-job'/);
    const out = sim.send({ type: 'SessionOpened', atMs: 0, from: { workerId: 'nobody', generation: 0, rank: -1 }, jobId: 'job-1', backend: '', metricsAddress: '' });
    expect(out.find((c) => c.type === 'CloseSession')).toMatchObject({ workerId: 'nobody' });
  });

  it('fails with RendezvousTimeoutError when MIN never park', () => {
    const sim = new Sim(controllerOptions({ rendezvousTimeoutMs: 3_000 }));
    sim.joinOk('h1');
    sim.wait(3_000);
    expect(sim.result).toMatchObject({ status: 'failed', errorCode: 'RendezvousTimeoutError' });
    expect(sim.workers[0].aborted).toMatch(/1 of 2/);
  });

  it('a sync whose digests differ fails with WeightsDivergedError', () => {
    const sim = new Sim();
    const a = sim.joinOk('h1');
    a.digestOverride = 'bad';
    sim.joinOk('h1');
    expect(sim.result).toMatchObject({ status: 'failed', errorCode: 'WeightsDivergedError' });
  });

  it('a clean run trains every sample of each epoch once and finishes with the summary', () => {
    const sim = new Sim();
    sim.joinOk('h1');
    sim.joinOk('h1');
    const steps = sim.run();
    const perEpoch = Math.floor(TRAIN_SIZE / (2 * BATCH));
    expect(steps).toBe(2 * perEpoch);
    expect(sim.result).toMatchObject({ status: 'succeeded', steps: 2 * perEpoch, generations: 1, workersLost: 0, workersJoined: 0, stepsRedone: 0 });
    // 100 samples, global batch 8: 96 per epoch, the 4-sample tail carried into epoch 1 (trained there first).
    expect(sim.result!.sampleLedger).toEqual({ epochs: 2, expected: 192, trained: 192, duplicated: 0, missing: 0 });
    for (const list of sim.trainedByEpoch.values()) expect(duplicatesIn(list)).toBe(0);
    expect(sim.lastState).toMatchObject({ ended: 'succeeded', jobId: 'job-1' });
  });
});

describe('controller: joins at step boundaries', () => {
  it('a join mid-epoch: Reform, the members leave after the next step together, the newcomer syncs; nothing lost or redone', () => {
    const sim = new Sim(controllerOptions({ minWorkers: 2, maxWorkers: 3, lastCallMs: 100 }));
    sim.joinOk('h1');
    sim.joinOk('h1');
    sim.advance(100);
    // The whole first epoch, then a newcomer during the second.
    const perEpoch = Math.floor(TRAIN_SIZE / (2 * BATCH));
    for (let i = 0; i < perEpoch; i++) sim.step();
    const epoch1Plans = sim.ofType('SendPlan').filter((p) => p.plan.epoch === 1);
    expect(epoch1Plans).toHaveLength(2);
    // A newcomer arrives while epoch 1 runs: Reform; the members vote it into the next step and park.
    const fresh = sim.joinOk('h2');
    sim.step();
    const g2 = sim.ofType('SendWorld').filter((w) => w.world.generation === 2);
    expect(g2.map((w) => w.workerId)).toContain(fresh.id);
    expect(g2.every((w) => w.world.completedSteps === perEpoch + 1)).toBe(true);
    const plan2 = sim.ofType('SendPlan').filter((p) => p.plan.generation === 2);
    expect(plan2.map((p) => p.plan.firstStepInEpoch)).toEqual([1, 1, 1]);
    sim.run();
    expect(sim.result).toMatchObject({ status: 'succeeded', workersJoined: 1, workersLost: 0, recoverySeconds: [] });
    expect(sim.result!.sampleLedger).toMatchObject({ duplicated: 0, missing: 0 });
    expect(sim.result!.sampleLedger!.trained).toBe(sim.result!.sampleLedger!.expected);
    for (const list of sim.trainedByEpoch.values()) expect(duplicatesIn(list)).toBe(0);
  });

  it('MAX members: nobody waits, no Reform; a 4th join is refused with JoinRefused reason', () => {
    const sim = new Sim(controllerOptions({ minWorkers: 2, maxWorkers: 2 }));
    sim.joinOk('h1');
    sim.joinOk('h1');
    expect(sim.join('h1')).toMatch(/--workers MAX/);
    expect(sim.ofType('SendReform')).toHaveLength(0);
  });
});
