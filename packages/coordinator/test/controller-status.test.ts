// `dtrain status` counts epochs from 1 like the progress lines, and never past the job's epoch count:
// once the last epoch is done (stopping for the final checkpoint, or finished) it stays at the last.
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
