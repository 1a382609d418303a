// A worker process: joins the coordinator, builds the model and its data shard once, and then lives
// through world generations (docs/elastic.md): for each WorldAssignment it builds a collective for
// that generation, adopts the source rank's state over the ring, and trains the plans it is given,
// all-reducing gradients with its ring neighbours. It leaves a generation when the coordinator says
// so (Reform at a step boundary, Abandon at once) or when its own collective fails, and parks until
// the next assignment. Process, model, optimizer and data stay; rank, world size, ring and collective
// change. It never decides membership.
import { availableParallelism, hostname } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { openDataset } from '@dtrain/shared/data/dataset';
import type { Dataset } from '@dtrain/shared/data/api';
import {
  CollectiveMismatchError, CollectiveTimeoutError, CoordinatorUnreachableError, DtrainError, JoinRefusedError,
  NonFiniteLossError, PeerLostError, WorldAbortedError, WorldChangedInterrupt,
} from '@dtrain/shared/errors';
import { validateJobSpec, type BackendName, type JobSpec } from '@dtrain/shared/job-spec';
import { startMetricsServerWithFallback } from '@dtrain/shared/metrics/metrics-endpoint';
import type { StepObservation } from '@dtrain/shared/metrics/metric-names';
import type { MetricsServer } from '@dtrain/shared/metrics/metrics-server';
import { buildModel } from '@dtrain/shared/model/build-model';
import type { CoordinatorMessage__Output, EpochPlan__Output } from '@dtrain/shared/proto';
import type { WorldAssignment__Output } from '@dtrain/shared/generated/dtrain/v1/WorldAssignment';
import type { TransportSecurity } from '@dtrain/shared/security/api';
import { positionAfter, stepGradientWeight, type PlanPosition } from '@dtrain/shared/shard-plan';
import { selectBackend } from './backend/select-backend';
import type { Collective } from './collective/api';
import { createRingCollective, startPeerServer } from './collective/index';
import { loadCheckpoint, restoreOptimizer, saveCheckpoint } from './checkpoint/index';
import { CoordinatorLink, type WorkerReport } from './coordinator-client';
import { layerGradientNorms } from './metrics/gradient-norms';
import { WorkerMetrics } from './metrics/worker-metrics';
import { createOptimizer, learningRateAt, setLearningRate } from './optimizer-factory';
import { stateDigest, syncState, type TrainingPosition } from './state-sync';
import { BatchCache } from './batch-cache';
import { Trainer } from './trainer';
import { evaluateTestShard, heldOutReport } from './test-evaluation';
import { modelBundle } from '@dtrain/shared/data/model-bundle';
import { describeAllocatorEnv } from '@dtrain/shared/process/allocator-env';
import { chooseChunkBytes, DEFAULT_CHUNK_BYTES } from '@dtrain/shared/collective-chunking';
import { applyCpuBinding } from '@dtrain/shared/process/cpu-binding';
import { applyHeapGrowth, heapGrowthOverride } from './heap-growth';
import { applyPretenuring } from './pretenuring';
import { FLAT_MAX_PARAMETERS, flatOptimizerEnabled } from './flat-optimizer';

export const DEFAULT_JOIN_TIMEOUT_MS = 180_000;
/** After reporting an error, how long a worker waits for the coordinator's verdict before exiting. */
export const ABORT_WAIT_MS = 10_000;

export interface WorkerOptions {
  /** host:port of the coordinator. */
  coordinator: string;
  /** Overrides the job spec's backend. */
  backend?: BackendName;
  /** Interface the peer (collective) server binds. */
  peerHost?: string;
  /** Address other workers dial to reach this one (default: this host's name, or 127.0.0.1 locally). */
  advertiseHost?: string;
  localRankHint?: number;
  /** Port for /metrics, /healthz, /readyz; 0 = any free port; undefined = no metrics server. */
  metricsPort?: number;
  metricsHost?: string;
  joinTimeoutMs?: number;
  /** After losing the coordinator, how long to keep re-joining before CoordinatorUnreachableError. */
  reconnectTimeoutMs?: number;
  /** Test-only: extra seconds of compute per step, to make a straggler on purpose. */
  testDelayMs?: number;
  /** Test-only: after this global step, nudge one weight of this rank (replicas diverge on purpose). */
  testPerturbAtStep?: number;
  log?: (line: string) => void;
  /** TLS + join token for the Peer server and both channels (default: plaintext, loopback only). */
  security?: TransportSecurity;
}

export interface WorkerResult {
  /** Rank in the last generation (-1 if it ended parked). */
  rank: number;
  /** Steps this process trained. */
  steps: number;
  backend: string;
  workerId: string;
  /** World generations this process was a member of. */
  generations: number;
}

/** The failures of a collective that end a generation, not the job: the coordinator re-forms. */
function isCollectiveFailure(err: unknown): err is DtrainError {
  return err instanceof PeerLostError || err instanceof CollectiveTimeoutError
    || err instanceof CollectiveMismatchError || err instanceof WorldAbortedError;
}

type PlanOutcome = 'epoch' | 'stop' | 'reform' | 'abandon' | 'failed';

interface Membership {
  generation: number;
  rank: number;
  worldSize: number;
  inWorld: boolean;
  /** An Abandon (or a lost coordinator) arrived for this generation: leave without applying more. */
  abandoned: boolean;
}

export async function runWorker(options: WorkerOptions): Promise<WorkerResult> {
  const baseLog = options.log ?? ((line: string) => process.stderr.write(`[worker] ${line}\n`));
  const member: Membership = { generation: 0, rank: -1, worldSize: 0, inWorld: false, abandoned: false };
  // Before joining: a bad DTRAIN_HEAP_GROWING_PERCENT, DTRAIN_PRETENURING_OFF, DTRAIN_FLAT_OPTIMIZER or
  // DTRAIN_BIND_CPU (or a binding that cannot be made) fails the worker before it takes a rank.
  heapGrowthOverride();
  flatOptimizerEnabled();
  const pretenuring = applyPretenuring();
  // Before the binding narrows this thread to one CPU: the coordinator wants the host's CPUs for the job.
  const cpus = availableParallelism();
  const cpuBinding = applyCpuBinding();
  const log = (line: string): void => baseLog(member.inWorld ? `rank ${member.rank}: ${line}` : line);
  const peerHost = options.peerHost ?? '127.0.0.1';
  // security: one value for the Peer server, every generation's ring and the coordinator link (re-joins too)
  const security = options.security;
  const peerServer = await startPeerServer({ host: peerHost, port: 0, advertiseHost: options.advertiseHost, security });
  let collective: Collective | null = null;
  let parkedReport: WorkerReport | null = null;
  const link = new CoordinatorLink({
    address: options.coordinator,
    join: {
      peerAddress: peerServer.address,
      hostname: hostname(),
      pid: process.pid,
      localRankHint: options.localRankHint ?? -1,
      backend: options.backend ?? '',
      metricsAddress: '',
      cpus,
    },
    joinTimeoutMs: options.joinTimeoutMs ?? DEFAULT_JOIN_TIMEOUT_MS,
    reconnectTimeoutMs: options.reconnectTimeoutMs,
    security, // security
    onAbandon: (abandon) => {
      if (!member.inWorld || Number(abandon.generation) !== member.generation) return;
      // Abort the collective in flight now: its step is not applied on this rank.
      member.abandoned = true;
      collective?.abort(new WorldChangedInterrupt(member.generation, 'abandoned by the coordinator'));
    },
    afterReconnect: () => (!member.inWorld && parkedReport ? [parkedReport] : []),
    log,
  });
  let metricsServer: MetricsServer | null = null;
  let dataset: Dataset | null = null;
  // Ready (for /readyz) once the model holds the world's common state.
  let trainingReady = false;
  try {
    const joined = await link.join();
    const spec: JobSpec = validateJobSpec(JSON.parse(joined.jobSpecJson), 'job spec from coordinator');
    log(`joined job ${joined.jobId} as worker ${joined.workerId}`);
    log(describeAllocatorEnv());
    log(pretenuring);
    if (cpuBinding) log(cpuBinding);
    const localRank = Math.max(0, options.localRankHint ?? 0);
    const choice = await selectBackend({ requested: options.backend ?? spec.backend, localRank, log });

    const metrics = new WorkerMetrics({ job: spec.name, rank: localRank });
    security?.onRefusal((r) => metrics.onAuthRefusal(r.service, r.reason)); // security: count refusals
    if (options.metricsPort !== undefined) {
      const listen = `${options.metricsHost ?? '127.0.0.1'}:${options.metricsPort}`;
      metricsServer = await startMetricsServerWithFallback(listen, metrics.registry, () => trainingReady, log);
      log(`metrics on ${metricsServer.url}/metrics`);
    }

    // Open the session before the slow part (data, model): a setup failure then reaches the
    // coordinator as a named error instead of leaving the others waiting.
    link.openSession({ backend: choice.name, metricsAddress: metricsServer?.address ?? '' });
    dataset = await openDataset(spec.dataset, spec.seed);
    const model = await buildModel({ spec, info: dataset.info, seed: spec.seed });
    const optimizer = createOptimizer(spec.optimizer);
    const trainer = new Trainer({ model, optimizer, loss: spec.loss, collective: null, task: dataset.info.task });
    log(trainer.flat ? `optimizer: ${trainer.flat.kind}, one loop over the fused buffer (bit-exact with tfjs's)`
      : `optimizer: tfjs's ${spec.optimizer.kind} (the flat update covers adam and sgd on wasm up to ` +
        `${FLAT_MAX_PARAMETERS.toLocaleString('en-US')} parameters)`);
    // Small splits are read once and then served from memory (batch-cache.ts).
    const ds: Dataset = process.env.DTRAIN_BATCH_CACHE === '0' ? dataset : new BatchCache(dataset);

    let stepsDone = 0;
    let generations = 0;
    /** Global steps whose update this process's weights include. */
    let globalStep = 0;
    /** False until the first sync: a fresh process holds no state worth adopting. */
    let hasState = false;
    let lastCheckpointStep = -1;
    let lastPlan: { plan: PlanPosition; stepsDone: number; epoch: number; firstStepInEpoch: number } | null = null;
    /** The position that came with adopted state (until this process runs a plan of its own). */
    let adoptedPosition: TrainingPosition | null = null;

    const currentPosition = (): TrainingPosition | null => {
      if (!lastPlan) return adoptedPosition;
      return {
        epoch: lastPlan.epoch,
        stepInEpoch: lastPlan.firstStepInEpoch + lastPlan.stepsDone,
        planState: positionAfter(lastPlan.plan, lastPlan.stepsDone),
      };
    };

    /** Rank 0 writes; `anyRank` when the coordinator asks a parked worker (the survivors' state). */
    const writeCheckpoint = async (why: string, anyRank = false): Promise<void> => {
      const position = currentPosition();
      if (!spec.checkpoint || !hasState || !position || lastCheckpointStep === globalStep) return;
      if (!anyRank && member.rank !== 0) return;
      const info = await saveCheckpoint({
        dir: spec.checkpoint.dir,
        model,
        optimizer,
        keep: spec.checkpoint.keep,
        bundle: modelBundle(spec, ds.info),
        state: {
          globalStep,
          epoch: position.epoch,
          stepInEpoch: position.stepInEpoch,
          planState: position.planState,
          jobName: spec.name,
          worldSize: Math.max(1, member.worldSize),
          createdAt: new Date().toISOString(),
        },
      });
      lastCheckpointStep = globalStep;
      log(`checkpoint (${why}) at step ${globalStep}: ${info.path}`);
      link.send({ checkpoint: { globalStep, path: info.path } });
    };

    /** Leaves the current generation (if any) and tells the coordinator what this process holds. */
    const park = async (reason: string): Promise<void> => {
      const left = member.inWorld ? member.generation : 0;
      const wasIn = member.inWorld;
      member.inWorld = false;
      const c = collective;
      collective = null;
      trainer.setCollective(null);
      await c?.close().catch(() => undefined);
      link.identity.rank = -1;
      const digest = hasState ? await stateDigest(trainer.fused, optimizer) : '';
      parkedReport = {
        parked: { leftGeneration: wasIn ? left : member.generation, completedSteps: hasState ? globalStep : -1, stateDigest: digest, reason },
      };
      if (wasIn) log(`left generation ${left} (${reason}) at step ${globalStep}`);
      link.send(parkedReport);
    };

    /** Reports a failure of this rank's collective (the coordinator decides who is lost), then parks. */
    const collectiveFailed = async (err: DtrainError & { peerRank?: number }): Promise<void> => {
      log(`collective of generation ${member.generation} failed: ${err.message}`);
      link.send({ error: { code: err.code, message: err.message, peerRank: err.peerRank ?? -1 } });
      await park(`collective failed: ${err.code}`);
    };

    const enterWorld = async (w: WorldAssignment__Output): Promise<void> => {
      if (member.inWorld) await park('new world assigned');
      const generation = Number(w.generation);
      Object.assign(member, { generation, rank: w.rank, worldSize: w.worldSize, inWorld: true, abandoned: false });
      link.identity.generation = generation;
      link.identity.rank = w.rank;
      parkedReport = null;
      generations += 1;
      // torchrun's names, for custom model modules and user code.
      process.env.RANK = String(w.rank);
      process.env.WORLD_SIZE = String(w.worldSize);
      process.env.LOCAL_RANK = String(w.localRank);
      process.env.LOCAL_WORLD_SIZE = String(w.localWorldSize);
      metrics.setRank(w.rank);
      const t0 = performance.now();
      // The coordinator's choice for this world; 0 from a coordinator that doesn't choose, whose world then
      // chunks as the job says (every member of that world reads the same job).
      const { chunkBytes: configured, transport } = spec.collective;
      const chunkBytes = w.chunkBytes > 0 ? w.chunkBytes : chooseChunkBytes({ configured, transport, hosts: [] }).bytes;
      if (chunkBytes !== DEFAULT_CHUNK_BYTES) {
        log(`generation ${generation}: ${chunkBytes}-byte chunks (the coordinator's choice)`);
      }
      collective = createRingCollective(peerServer, {
        jobId: joined.jobId,
        generation,
        rank: w.rank,
        worldSize: w.worldSize,
        ring: w.ring,
        chunkBytes,
        timeoutMs: spec.collective.timeoutMs,
        compression: spec.collective.compression,
        security, // security: each generation's ring channel carries the same TLS + token
        transport: spec.collective.transport,
        // A/B switch for bench/small-step.ts only (default: early pulls on).
        earlyPull: process.env.DTRAIN_EARLY_PULL !== '0',
      });
      trainer.setCollective(collective);
      const growth = applyHeapGrowth({
        transport: spec.collective.transport, worldSize: w.worldSize, gradientBytes: trainer.fused.gradientLength * 4,
      });
      if (growth) log(growth);
      if (member.abandoned) { await park('abandon'); return; }
      if (w.checkpointDir) {
        const loaded = await loadCheckpoint(w.checkpointDir, { into: model });
        await restoreOptimizer(optimizer, loaded, { model });
        globalStep = loaded.state.globalStep;
        lastCheckpointStep = globalStep;
        lastPlan = null;
        adoptedPosition = { epoch: loaded.state.epoch, stepInEpoch: loaded.state.stepInEpoch, planState: loaded.state.planState };
        hasState = true;
        log(`restored weights and optimizer state from ${w.checkpointDir} (step ${globalStep})`);
      }
      try {
        const counters = await syncState({
          collective,
          generation,
          sourceRank: w.sourceRank,
          fused: trainer.fused,
          optimizer,
          model,
          counters: { completedSteps: hasState ? globalStep : Number(w.completedSteps), position: currentPosition() },
        });
        if (member.rank !== w.sourceRank) {
          globalStep = counters.completedSteps;
          adoptedPosition = counters.position;
          lastPlan = null;
        }
      } catch (err) {
        if (member.abandoned) { await park('abandon'); return; }
        if (isCollectiveFailure(err)) { await collectiveFailed(err); return; }
        throw err;
      }
      if (globalStep !== Number(w.completedSteps)) {
        log(`WARNING: synced state holds step ${globalStep}, the assignment says ${w.completedSteps}`);
      }
      hasState = true;
      trainingReady = true;
      const digest = await stateDigest(trainer.fused, optimizer);
      log(`generation ${generation}: rank ${w.rank}/${w.worldSize}, state of rank ${w.sourceRank} at step ${globalStep} ` +
        `(digest ${digest}, ${((performance.now() - t0) / 1000).toFixed(3)} s, ${spec.collective.transport} transport)`);
      link.send({ synced: { generation, completedSteps: globalStep, stateDigest: digest } });
    };

    let stopRequested = false;
    let checkpointRequested = false;
    let reformRequested = false;
    // The next epoch's plan, sent ahead with the plan in force: begun as soon as that plan ends.
    let heldPlan: EpochPlan__Output | null = null;
    let planEnd = -1;
    /** Commands that arrived during a plan; false when the generation must end now. */
    const takeCommands = (): void => {
      for (let msg = link.poll(); msg; msg = link.poll()) {
        if (msg.command?.stop) stopRequested = true;
        else if (msg.command?.checkpoint) checkpointRequested = true;
        else if (msg.command?.reform) {
          if (Number(msg.command.reform.generation) === member.generation) reformRequested = true;
        } else if (msg.abandon) {
          if (Number(msg.abandon.generation) === member.generation) member.abandoned = true;
        } else if (msg.world) {
          // A new world while training this one: the coordinator gave this generation up.
          member.abandoned = true;
          link.unshift(msg);
          return;
        } else if (msg.plan) {
          const sentAhead = Number(msg.plan.generation) === member.generation
            && Number(msg.plan.firstGlobalStep) === planEnd;
          if (sentAhead) heldPlan = msg.plan;
          else log(`ignoring a plan for generation ${msg.plan.generation} while training generation ${member.generation}`);
        }
      }
    };

    const runPlan = async (plan: EpochPlan__Output): Promise<PlanOutcome> => {
      const planState = JSON.parse(plan.planStateJson) as PlanPosition;
      const b = plan.batchSize;
      const indices = Uint32Array.from(plan.indices);
      planEnd = Number(plan.firstGlobalStep) + plan.steps;
      if (Number(plan.firstGlobalStep) !== globalStep) {
        log(`WARNING: plan starts at global step ${plan.firstGlobalStep}, this worker is at ${globalStep}`);
      }
      for (let s = 0; s < plan.steps; s++) {
        takeCommands();
        if (member.abandoned) return 'abandon';
        const t0 = performance.now();
        const stepIndices = indices.subarray(s * b, (s + 1) * b);
        const batch = ds.batch('train', stepIndices);
        setLearningRate(optimizer, learningRateAt(spec.optimizer, globalStep));
        let outcome;
        try {
          if (options.testDelayMs) await new Promise((r) => setTimeout(r, options.testDelayMs));
          outcome = await trainer.step(batch, globalStep, { stop: stopRequested, checkpoint: checkpointRequested, reform: reformRequested },
            stepGradientWeight(planState, s, stepIndices.length));
        } catch (err) {
          if (member.abandoned) return 'abandon';
          if (isCollectiveFailure(err)) { await collectiveFailed(err); return 'failed'; }
          throw err;
        } finally {
          batch.xs.dispose();
          batch.ys.dispose();
        }
        if (options.testDelayMs) outcome.computeSeconds += options.testDelayMs / 1000;
        if (!outcome.applied) {
          await writeCheckpoint('last good step before a non-finite loss');
          throw new NonFiniteLossError(member.rank, globalStep, outcome.localLoss);
        }
        const stepSeconds = (performance.now() - t0) / 1000;
        const normsDue = (globalStep + 1) % spec.observability.gradientNormEverySteps === 0;
        const norms = normsDue ? layerGradientNorms(trainer.fused.buffer, trainer.fused.layout) : [];
        if (options.testPerturbAtStep === globalStep) nudgeFirstWeight(trainer.fused.variables[0]);
        const digestEvery = spec.observability.weightsDigestEverySteps;
        const weightsDigest = digestEvery > 0 && (globalStep + 1) % digestEvery === 0 ? trainer.fused.weightsDigest() : '';
        globalStep += 1;
        stepsDone += 1;
        lastPlan = { plan: planState, stepsDone: s + 1, epoch: plan.epoch, firstStepInEpoch: plan.firstStepInEpoch };
        const observed: StepObservation = {
          loss: outcome.localLoss,
          samples: stepIndices.length,
          computeSeconds: outcome.computeSeconds,
          allreduceSeconds: outcome.allreduceSeconds,
          stepSeconds,
          allreduceBytes: outcome.allreduceBytes,
        };
        link.send({
          step: {
            ...observed,
            globalStep: globalStep - 1,
            epoch: plan.epoch,
            stepInEpoch: plan.firstStepInEpoch + s,
            gradientNorms: norms,
            weightsDigest,
          },
        });
        metrics.observeStep({ ...observed, epoch: plan.epoch });
        if (norms.length > 0) metrics.setGradientNorms(norms);
        const periodic = spec.checkpoint?.everySteps !== undefined && globalStep % spec.checkpoint.everySteps === 0;
        if (outcome.checkpoint) checkpointRequested = false;
        if (periodic || outcome.checkpoint) await writeCheckpoint(outcome.checkpoint ? 'requested' : 'periodic');
        if (outcome.stop) return 'stop';
        if (outcome.reform) {
          reformRequested = false;
          // The plan's last step: the epoch is complete, so its validation still belongs to it.
          if (s === plan.steps - 1) sendEpochReport(plan);
          return 'reform';
        }
      }
      sendEpochReport(plan);
      return 'epoch';
    };

    const sendEpochReport = (plan: EpochPlan__Output): void => {
      const sums = trainer.evaluate((idx) => ds.batch('validation', idx), Uint32Array.from(plan.validationIndices));
      link.send({ epoch: heldOutReport(plan.epoch, sums) });
    };

    await park('ready');
    let next: EpochPlan__Output | null = null;
    let plansAhead = 0;
    for (;;) {
      const msg: CoordinatorMessage__Output = next ? { plan: next, body: 'plan' } : await link.next();
      next = null;
      if (msg.world) {
        await enterWorld(msg.world);
      } else if (msg.plan) {
        if (!member.inWorld || Number(msg.plan.generation) !== member.generation) {
          log(`ignoring a plan for generation ${msg.plan.generation} (this worker: ${member.inWorld ? member.generation : 'parked'})`);
          continue;
        }
        heldPlan = null;
        const outcome = await runPlan(msg.plan);
        // A plan sent ahead follows only a plan that ended normally; after a stop, reform or abandon it is stale
        // (and the next runPlan starts by dropping it).
        if (outcome === 'epoch' && heldPlan) {
          next = heldPlan;
          plansAhead += 1;
        }
        if (outcome === 'stop') break;
        if (outcome === 'reform') await park('reform');
        else if (outcome === 'abandon') await park('abandon');
      } else if (msg.command?.stop) {
        break;
      } else if (msg.command?.checkpoint) {
        // Between epochs every rank is idle at the same step: rank 0 can write right away. A parked
        // worker asked for one holds the survivors' state (the job is about to fail below MIN).
        await writeCheckpoint('requested', !member.inWorld);
      } else if (msg.command?.reform) {
        if (member.inWorld && Number(msg.command.reform.generation) === member.generation) await park('reform');
      } else if (msg.abandon) {
        if (member.inWorld && Number(msg.abandon.generation) === member.generation) await park('abandon');
      }
    }
    if (member.inWorld) await writeCheckpoint('final');
    // Members of the final world evaluate their block of the test file under that world's rank and size.
    const test = member.inWorld ? evaluateTestShard(trainer, ds, member.rank, member.worldSize) : null;
    link.send({ done: { globalStep, test } });
    // Members report the digest of what they end with (tests compare replicas); a parked one holds no say.
    const finalState = member.inWorld ? `state digest ${await stateDigest(trainer.fused, optimizer)}` : 'parked';
    log(`done after ${stepsDone} steps (global step ${globalStep}, ${generations} generation(s), `
      + `${plansAhead} plan(s) begun as sent ahead, ${finalState})`);
    return { rank: member.inWorld ? member.rank : -1, steps: stepsDone, backend: choice.name, workerId: joined.workerId, generations };
  } catch (err) {
    const e = err as Error & { peerRank?: number };
    const quiet = err instanceof WorldAbortedError || err instanceof CoordinatorUnreachableError || err instanceof JoinRefusedError;
    if (!quiet && !link.error) {
      const globalStep = err instanceof NonFiniteLossError ? err.globalStep : -1;
      link.send({ error: { code: e instanceof DtrainError ? e.code : e.name, message: e.message, peerRank: e.peerRank ?? -1, globalStep } });
      // The coordinator decides what the failure means (which rank was lost); stay until it says.
      await link.awaitAbort(ABORT_WAIT_MS);
    }
    throw err;
  } finally {
    await link.close();
    // (assigned in closures: TypeScript cannot see that it may be set here)
    await (collective as Collective | null)?.close().catch(() => undefined);
    await peerServer.close().catch(() => undefined);
    await metricsServer?.close().catch(() => undefined);
    dataset?.close();
  }
}

/** Test-only: changes one element of a variable, so this rank's replica no longer matches the others. */
function nudgeFirstWeight(variable: tf.Variable): void {
  tf.tidy(() => {
    const values = variable.dataSync().slice() as Float32Array;
    values[0] += 1e-3;
    variable.assign(tf.tensor(values, variable.shape));
  });
}
