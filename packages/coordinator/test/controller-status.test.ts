// `dtrain status` counts epochs from 1 like the progress lines, and never past the job's epoch count:
// once the last epoch is done (stopping for the final checkpoint, or finished) it stays at the last.
// The result's step count agrees with what the workers applied, also when a job fails.
import { describe, expect, it } from 'vitest';
import { Phase } from '../src/controller/api';
import { controllerOptions, Sim } from './controller-sim';

describe('controller: status', () => {
  it('epoch is 1-based while training and stays at the last epoch once the job is done', () => {
    const sim = new Sim(controllerOptions({ epochs: 2 }));
    sim.joinOk('h1');
    sim.joinOk('h2');
    expect(sim.c.phase).toBe(Phase.Training);
    expect(sim.c.status()).toMatchObject({ state: 'running', epoch: 1, globalStep: 0 });
    sim.step();
    expect(sim.c.status()).toMatchObject({ epoch: 1, globalStep: 1 });
    const epochsSeen = new Set<number>();
    while (sim.c.phase === Phase.Training) {
      sim.step();
      epochsSeen.add(sim.c.status().epoch);
    }
    expect([...epochsSeen].sort()).toEqual([1, 2]);
    expect(sim.result?.status).toBe('succeeded');
    expect(sim.result?.epochs).toBe(2);
    expect(sim.c.status()).toMatchObject({ state: 'finished', epoch: 2 });
  });
});

describe('controller: a non-finite loss', () => {
  // Rank 0 reaches step 2 and its loss overflows while rank 1's report of step 1 is still on its way
  // (another stream): the result must count the 2 steps every rank applied, as the checkpoint does.
  it('counts the steps before the failing one as done even if a report of the last of them is late', () => {
    const sim = new Sim(controllerOptions({ epochs: 2 }));
    const [a, b] = [sim.joinOk('h1'), sim.joinOk('h2')];
    sim.step();
    sim.step([a, b], [a]);
    expect(sim.c.status().globalStep).toBe(1);
    sim.send({
      type: 'WorkerError', atMs: sim.now, from: a.env, code: 'NonFiniteLossError', peerRank: -1, globalStep: 2,
      message: 'rank 0 computed a non-finite loss (NaN) at step 2; weights left at the last good step',
    });
    expect(sim.result).toMatchObject({ status: 'failed', errorCode: 'NonFiniteLossError', steps: 2 });
    expect(b.completed).toBe(2);
  });
});
