// State sync of a new generation (docs/elastic.md): a newcomer and a survivor adopt the source's
// weights, Adam slots and counters over a real gRPC ring; afterwards every member's digest of
// weights + optimizer state is equal, and one more step keeps them equal (so the optimizer state
// really was adopted, not only the weights). Also: closing the collective during an all-reduce (the
// Abandon path) rejects at once and applies nothing.
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { openDataset } from '@dtrain/shared/data/dataset';
import type { Dataset } from '@dtrain/shared/data/api';
import { WorldAbortedError } from '@dtrain/shared/errors';
import { validateJobSpec } from '@dtrain/shared/job-spec';
import { buildModel } from '@dtrain/shared/model/build-model';
import { selectBackend } from '../src/backend/select-backend';
import { createRingCollective, startPeerServer } from '../src/collective/index';
import type { Collective, PeerServer } from '../src/collective/api';
import { createOptimizer } from '../src/optimizer-factory';
import { stateDigest, syncState, type StateCounters } from '../src/state-sync';
import { Trainer } from '../src/trainer';

const spec = validateJobSpec({
  name: 'state-sync', seed: 5, backend: 'cpu',
  model: { kind: 'mlp', task: 'classification', hidden: [{ units: 16, activation: 'relu' }] },
  dataset: { kind: 'mnist', shape: 'flat', limit: 600 },
  loss: 'categoricalCrossentropy',
  optimizer: { kind: 'adam', learningRate: 0.01 },
  training: { batchSize: 16 },
});

interface Member {
  server: PeerServer;
  trainer: Trainer;
  optimizer: tf.Optimizer;
  model: tf.LayersModel;
  counters: StateCounters;
  collective: Collective | null;
}

const members: Member[] = [];
let dataset: Dataset | null = null;

afterAll(async () => {
  for (const m of members) {
    await m.collective?.close();
    await m.server.close();
  }
  dataset?.close();
});

async function newMember(ds: Dataset): Promise<Member> {
  const model = await buildModel({ spec, info: ds.info, seed: spec.seed });
  const optimizer = createOptimizer(spec.optimizer);
  const server = await startPeerServer({ host: '127.0.0.1', port: 0 });
  const trainer = new Trainer({ model, optimizer, loss: spec.loss, collective: null, task: 'classification' });
  return { server, trainer, optimizer, model, counters: { completedSteps: 0, position: null }, collective: null };
}

/** The peer transport of the test running now (the state broadcast must work over both). */
let transport: 'grpc' | 'tcp' = 'grpc';

async function form(generation: number, world: Member[], source: number): Promise<StateCounters[]> {
  const ring = world.map((m) => m.server.address);
  world.forEach((m, rank) => {
    m.collective = createRingCollective(m.server, {
      jobId: 'sync', generation, rank, worldSize: world.length, ring, chunkBytes: 4096, timeoutMs: 20_000,
      transport,
    });
    m.trainer.setCollective(m.collective);
  });
  return Promise.all(world.map((m) => syncState({
    collective: m.collective!, generation, sourceRank: source, fused: m.trainer.fused,
    optimizer: m.optimizer, model: m.model, counters: m.counters,
  })));
}

async function leave(world: Member[]): Promise<void> {
  for (const m of world) {
    await m.collective?.close();
    m.collective = null;
    m.trainer.setCollective(null);
  }
}

async function steps(world: Member[], from: number, count: number, ds: Dataset): Promise<void> {
  for (let s = from; s < from + count; s++) {
    await Promise.all(world.map(async (m, rank) => {
      const idx = Uint32Array.from({ length: 16 }, (_, i) => (s * 97 + rank * 16 + i) % ds.info.trainSize);
      const batch = ds.batch('train', idx);
      try {
        const out = await m.trainer.step(batch, s, { stop: false, checkpoint: false });
        expect(out.applied).toBe(true);
      } finally {
        batch.xs.dispose();
        batch.ys.dispose();
      }
      m.counters = { completedSteps: s + 1, position: { epoch: 0, stepInEpoch: s + 1, planState: { marker: s + 1 } } };
    }));
  }
}

describe.each(['grpc', 'tcp'] as const)('state sync over the ring (%s transport)', (peerTransport) => {
  it('a newcomer and a survivor adopt weights, Adam slots and counters of the source', async () => {
    transport = peerTransport;
    await selectBackend({ requested: 'cpu', localRank: 0 });
    dataset ??= await openDataset(spec.dataset, spec.seed);
    const ds = dataset;
    const a = await newMember(ds);
    const b = await newMember(ds);
    members.push(a, b);
    // Generation 1: a fresh job; rank 0's initial weights become everyone's.
    await form(1, [a, b], 0);
    await steps([a, b], 0, 3, ds);
    const afterThree = await stateDigest(a.trainer.fused, a.optimizer);
    expect(await stateDigest(b.trainer.fused, b.optimizer)).toBe(afterThree);
    // B trains one step alone (as if it finished the all-gather of step 3 and A did not).
    await leave([a, b]);
    const solo = await form(2, [b], 0);
    expect(solo[0].completedSteps).toBe(3);
    await steps([b], 3, 1, ds);
    await leave([b]);
    const sourceDigest = await stateDigest(b.trainer.fused, b.optimizer);
    expect(sourceDigest).not.toBe(afterThree);

    // Generation 3: survivor A (one step behind), source B, newcomer C (no optimizer slots yet).
    const c = await newMember(ds);
    members.push(c);
    expect((await c.optimizer.getWeights()).length).toBe(1); // only the iteration counter
    const counters = await form(3, [a, b, c], 1);
    for (const k of counters) {
      expect(k.completedSteps).toBe(4);
      expect(k.position).toEqual({ epoch: 0, stepInEpoch: 4, planState: { marker: 4 } });
    }
    const digests = await Promise.all([a, b, c].map((m) => stateDigest(m.trainer.fused, m.optimizer)));
    expect(digests).toEqual([sourceDigest, sourceDigest, sourceDigest]);
    // Adam's slots were created on C: iteration counter + m and v for each of the 4 weights.
    const cWeights = await c.optimizer.getWeights();
    expect(cWeights.length).toBe(1 + 2 * c.trainer.fused.variables.length);
    // One more step with different batches per rank: replicas stay identical only if the optimizer
    // state (moments, counters, Adam's beta powers) is identical too.
    await steps([a, b, c], 4, 1, ds);
    const next = await Promise.all([a, b, c].map((m) => stateDigest(m.trainer.fused, m.optimizer)));
    expect(new Set(next).size).toBe(1);
    expect(next[0]).not.toBe(sourceDigest);

    // Abandon: one rank's collective closes during an all-reduce that another rank never joins.
    const before = a.trainer.fused.weightsDigest();
    const idx = Uint32Array.from({ length: 16 }, (_, i) => i);
    const batch = ds.batch('train', idx);
    const pending = a.trainer.step(batch, 5, { stop: false, checkpoint: false });
    const t0 = Date.now();
    setTimeout(() => { void a.collective!.close(); }, 50);
    await expect(pending).rejects.toBeInstanceOf(WorldAbortedError);
    batch.xs.dispose();
    batch.ys.dispose();
    // Rejected promptly (well inside the 20 s collective deadline), and nothing was applied.
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(a.trainer.fused.weightsDigest()).toBe(before);
    await leave([a, b, c]);
  }, 120_000);
});
