// The plan look-ahead (ControllerOptions.planLookAhead): each next epoch's plan goes out with the plan
// in force, so workers begin it without waiting for the coordinator between epochs. It must give the
// same plans as without it, never be sent twice, and never run after a world change (its generation is
// gone): the re-plan is sent as usual and the ledger stays exact.
import { describe, expect, it } from 'vitest';
import type { ControllerCommand } from '../src/controller/api';
import { BATCH, controllerOptions, duplicatesIn, Sim, TRAIN_SIZE } from './controller-sim';

type SendPlan = Extract<ControllerCommand, { type: 'SendPlan' }>;
const key = (p: SendPlan): string => `${p.workerId} g${p.plan.generation} e${p.plan.epoch} @${p.plan.firstGlobalStep}`;

function world(n: number, lookAhead: boolean, o = {}): Sim {
  const sim = new Sim(controllerOptions({ minWorkers: n, maxWorkers: n, planLookAhead: lookAhead, epochs: 3, ...o }));
  for (let i = 0; i < n; i++) sim.joinOk('h1');
  return sim;
}

describe('controller: plan look-ahead', () => {
  it('sends the next epoch with the first, each plan once, the same plans as without it; ledger exact', () => {
    const ahead = world(2, true);
    // Formation: epoch 0 and, sent ahead, epoch 1, to both ranks; nothing else yet.
    const first = ahead.ofType('SendPlan').map((p) => [p.plan.epoch, Number(p.plan.firstGlobalStep)]);
    expect(first).toEqual([[0, 0], [0, 0], [1, 12], [1, 12]]);
    const perEpoch = Math.floor(TRAIN_SIZE / (2 * BATCH));
    for (let i = 0; i < perEpoch; i++) ahead.step();
    // Epoch 0 ended: the workers began the held epoch 1 at once; only epoch 2 goes out (ahead again).
    expect(ahead.members().map((w) => [w.plan?.epoch, w.stepInPlan])).toEqual([[1, 0], [1, 0]]);
    expect(ahead.ofType('SendPlan').slice(4).map((p) => p.plan.epoch)).toEqual([2, 2]);
    ahead.run();
    const plain = world(2, false);
    plain.run();
    const sent = ahead.ofType('SendPlan');
    expect(new Set(sent.map(key)).size).toBe(sent.length);
    expect(sent.map(key).sort()).toEqual(plain.ofType('SendPlan').map(key).sort());
    for (const p of sent) {
      const twin = plain.ofType('SendPlan').find((q) => key(q) === key(p))!;
      expect(p.plan.indices).toEqual(twin.plan.indices);
    }
    expect(ahead.result).toMatchObject({ status: 'succeeded', steps: 3 * perEpoch, generations: 1 });
    expect(ahead.result!.sampleLedger).toEqual(plain.result!.sampleLedger);
    const trained = 3 * perEpoch * 2 * BATCH;
    expect(ahead.result!.sampleLedger).toMatchObject({ epochs: 3, duplicated: 0, missing: 0, trained });
    expect(ahead.logs.filter((l) => l.includes('WARNING'))).toEqual([]);
  });

  it('a rank that ends the plan sent ahead before another rank\'s report of the one before: kept, both complete', () => {
    const sim = world(2, true);
    const [r0, r1] = sim.members();
    const perEpoch = Math.floor(TRAIN_SIZE / (2 * BATCH));
    // Rank 0 trains on, but its reports (steps, then epoch 0, ...) reach the coordinator late.
    r0.reportsLate = true;
    for (let i = 0; i < 2 * perEpoch; i++) sim.step();
    // Rank 1 reported epochs 0 and 1 while rank 0's report of epoch 0 is still on its way.
    expect(r0.lateReports.filter((e) => e.type === 'EpochReported')).toHaveLength(2);
    expect(sim.ofType('EpochCompleted')).toHaveLength(0);
    expect(sim.members().map((w) => w.plan)).toEqual([null, null]);
    sim.releaseReports(r0);
    expect(sim.ofType('EpochCompleted').map((e) => e.validation.epoch)).toEqual([1, 2]);
    expect(sim.members().map((w) => w.plan?.epoch)).toEqual([2, 2]);
    expect(r1.plan?.firstGlobalStep).toBe(2 * perEpoch);
    sim.run();
    expect(sim.result).toMatchObject({ status: 'succeeded', steps: 3 * perEpoch });
    const trained = 3 * perEpoch * 2 * BATCH;
    expect(sim.result!.sampleLedger).toMatchObject({ epochs: 3, duplicated: 0, missing: 0, trained });
  });

  it('a worker lost mid-epoch: the old generation\'s held plan is dropped, the re-plan goes out, ledger exact', () => {
    const sim = world(3, true, { minWorkers: 2, maxWorkers: 3, lastCallMs: 100 });
    const ws = sim.members();
    expect(ws.every((w) => w.heldPlan?.epoch === 1 && w.heldPlan.generation === 1)).toBe(true);
    for (let i = 0; i < 3; i++) sim.step();
    sim.step([ws[2]], []);
    sim.kill(ws[2]);
    const g2 = sim.ofType('SendPlan').filter((p) => p.plan.generation === 2);
    // The rest of epoch 0 for two ranks, and epoch 1 for two ranks sent ahead.
    const next = 3 + g2[0].plan.steps;
    const starts = g2.map((p) => [p.plan.epoch, Number(p.plan.firstGlobalStep)]);
    expect(starts).toEqual([[0, 3], [0, 3], [1, next], [1, next]]);
    expect(sim.members().every((w) => w.plan?.generation === 2 && w.heldPlan?.generation === 2)).toBe(true);
    sim.run();
    expect(sim.result).toMatchObject({ status: 'succeeded', generations: 2, workersLost: 1 });
    const l = sim.result!.sampleLedger!;
    expect(l).toMatchObject({ epochs: 3, duplicated: 0, missing: 0 });
    expect(l.trained).toBe(l.expected);
    for (const list of sim.trainedByEpoch.values()) expect(duplicatesIn(list)).toBe(0);
  });

  it('a worker joining at an epoch boundary: the held plan is not run, the grown world is planned; ledger exact', () => {
    const sim = world(2, true, { minWorkers: 2, maxWorkers: 3, lastCallMs: 0 });
    const perEpoch = Math.floor(TRAIN_SIZE / (2 * BATCH));
    for (let i = 0; i < perEpoch - 1; i++) sim.step();
    sim.joinOk('h2');
    expect(sim.members().map((w) => w.heldPlan?.epoch)).toEqual([1, 1]);
    sim.step();
    // The last step of epoch 0 carried the reform vote: nobody began the held epoch 1 of generation 1.
    const g2Worlds = sim.ofType('SendWorld').filter((w) => w.world.generation === 2);
    expect(g2Worlds.map((w) => Number(w.world.completedSteps))).toEqual([perEpoch, perEpoch, perEpoch]);
    sim.run();
    // Epochs 1 and 2 planned for three ranks (100 / (3 x 4) = 8 steps each) from global step 12, once each.
    const g2 = sim.ofType('SendPlan').filter((p) => p.plan.generation === 2);
    const plans = g2.map((p) => [p.plan.epoch, Number(p.plan.firstGlobalStep), p.plan.steps]);
    expect(plans).toEqual([...Array(3).fill([1, perEpoch, 8]), ...Array(3).fill([2, perEpoch + 8, 8])]);
    expect(sim.result).toMatchObject({ status: 'succeeded', workers: 3, generations: 2, steps: perEpoch + 16 });
    const l = sim.result!.sampleLedger!;
    expect(l).toMatchObject({ epochs: 3, duplicated: 0, missing: 0 });
    expect(l.trained).toBe(l.expected);
  });
});
