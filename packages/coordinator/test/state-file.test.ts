// coordinator-state.json on a real filesystem: atomic replace, validation with a named error, and the
// Coordinator's choice to take over only an unfinished job of the same name.
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CoordinatorStateError } from '@dtrain/shared/errors';
import { Coordinator } from '../src/coordinator';
import { readStateFile, StateFileWriter, stateFilePath, writeStateFileAtomic } from '../src/state-file';
import { controllerOptions, Sim, testSpec } from './controller-sim';

function stateOfARun() {
  const sim = new Sim(controllerOptions());
  sim.joinOk('h1');
  sim.joinOk('h1');
  sim.step();
  return sim.lastState!;
}

describe('coordinator state file', () => {
  it('round-trips, replaces atomically (no temp file left) and coalesces bursts to the newest', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dtrain-state-'));
    const s = stateOfARun();
    await writeStateFileAtomic(dir, s);
    expect(readStateFile(dir)).toEqual(s);
    const writer = new StateFileWriter(dir, (e) => { throw e; });
    for (let g = 2; g <= 6; g++) writer.write({ ...s, generation: g });
    await writer.flush();
    expect(readStateFile(dir)!.generation).toBe(6);
    expect(readdirSync(dir)).toEqual(['coordinator-state.json']);
  });

  it('a damaged file is a CoordinatorStateError naming the problem; no file is null', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dtrain-state-'));
    expect(readStateFile(dir)).toBeNull();
    writeFileSync(stateFilePath(dir), '{"version":1,"jobId":"x"');
    expect(() => readStateFile(dir)).toThrow(CoordinatorStateError);
    writeFileSync(stateFilePath(dir), JSON.stringify({ ...stateOfARun(), planState: { seed: 1 } }));
    expect(() => readStateFile(dir)).toThrow(/planState is malformed/);
  });

  it('the coordinator takes over an unfinished job of its name, and starts a new job after an ended one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dtrain-state-'));
    const spec = { ...testSpec({ name: 'sim' }), checkpoint: { dir, keep: 2 } };
    await writeStateFileAtomic(dir, { ...stateOfARun(), jobId: 'sim-abc', jobName: 'sim', ended: null });
    const taking = new Coordinator({ spec, listen: '127.0.0.1:0', workers: 2 });
    expect(taking.isTakeover).toBe(true);
    expect(taking.jobId).toBe('sim-abc');
    expect(new Coordinator({ spec, listen: '127.0.0.1:0', workers: 2, takeover: false }).isTakeover).toBe(false);
    await writeStateFileAtomic(dir, { ...stateOfARun(), jobId: 'sim-abc', jobName: 'sim', ended: 'succeeded' });
    const fresh = new Coordinator({ spec, listen: '127.0.0.1:0', workers: 2 });
    expect(fresh.isTakeover).toBe(false);
    expect(fresh.jobId).not.toBe('sim-abc');
  });

  it('a damaged state file makes start() fail with CoordinatorStateError (the job runner reports it by name)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dtrain-state-'));
    writeFileSync(stateFilePath(dir), 'not json');
    const c = new Coordinator({ spec: { ...testSpec(), checkpoint: { dir, keep: 1 } }, listen: '127.0.0.1:0', workers: 1 });
    await expect(c.start()).rejects.toMatchObject({ code: 'CoordinatorStateError' });
  });
});
