// A worker process: joins the coordinator, builds the model and its data shard, and trains the plans
// it is given, all-reducing gradients with its ring neighbours. It never decides membership: ranks,
// ring, plans and stops come from the coordinator.
import { hostname } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { openDataset } from '@dtrain/shared/data/dataset';
import type { Dataset } from '@dtrain/shared/data/api';
import { DtrainError, NonFiniteLossError, WorldAbortedError } from '@dtrain/shared/errors';
import { validateJobSpec, type BackendName, type JobSpec } from '@dtrain/shared/job-spec';
import { startMetricsServerWithFallback } from '@dtrain/shared/metrics/metrics-endpoint';
import type { StepObservation } from '@dtrain/shared/metrics/metric-names';
import type { MetricsServer } from '@dtrain/shared/metrics/metrics-server';
import { buildModel } from '@dtrain/shared/model/build-model';
import type { EpochPlan__Output } from '@dtrain/shared/proto';
import { positionAfter, type PlanPosition } from '@dtrain/shared/shard-plan';
import { selectBackend } from './backend/select-backend';
import type { Collective } from './collective/api';
import { createRingCollective, startPeerServer } from './collective/index';
import { loadCheckpoint, restoreOptimizer, saveCheckpoint } from './checkpoint/index';
import { CoordinatorConnection, type WorkerSession } from './coordinator-client';
import { layerGradientNorms } from './metrics/gradient-norms';
import { WorkerMetrics } from './metrics/worker-metrics';
import { createOptimizer, learningRateAt, setLearningRate } from './optimizer-factory';
import { Trainer } from './trainer';

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
  /** Test-only: extra seconds of compute per step, to make a straggler on purpose. */
  testDelayMs?: number;
  /** Test-only: after this global step, nudge one weight of this rank (replicas diverge on purpose). */
  testPerturbAtStep?: number;
  log?: (line: string) => void;
}

export interface WorkerResult {
  rank: number;
  steps: number;
  backend: string;
}


export async function runWorker(options: WorkerOptions): Promise<WorkerResult> {
  let log = options.log ?? ((line: string) => process.stderr.write(`[worker] ${line}\n`));
  const peerHost = options.peerHost ?? '127.0.0.1';
  const peerServer = await startPeerServer({ host: peerHost, port: 0, advertiseHost: options.advertiseHost });
  const connection = new CoordinatorConnection(options.coordinator);
  let collective: Collective | null = null;
  let session: WorkerSession | null = null;
  let metricsServer: MetricsServer | null = null;
  let dataset: Dataset | null = null;
  // Ready (for /readyz) once the model holds the world's common weights.
  let trainingReady = false;
  try {
    const joined = await connection.join({
      jobId: '',
      peerAddress: peerServer.address,
      hostname: hostname(),
      pid: process.pid,
      localRankHint: options.localRankHint ?? -1,
      backend: options.backend ?? '',
      metricsAddress: '',
    }, options.joinTimeoutMs ?? DEFAULT_JOIN_TIMEOUT_MS);
    const rank = joined.rank;
    const worldSize = joined.worldSize;
    const baseLog = log;
    log = (line) => baseLog(`rank ${rank}: ${line}`);
    // torchrun's names, for custom model modules and user code.
    process.env.RANK = String(rank);
    process.env.WORLD_SIZE = String(worldSize);
    process.env.LOCAL_RANK = String(joined.localRank);
    process.env.LOCAL_WORLD_SIZE = String(joined.localWorldSize);
    const spec: JobSpec = validateJobSpec(JSON.parse(joined.jobSpecJson), 'job spec from coordinator');
    log(`joined job ${joined.jobId} generation ${joined.generation} as rank ${rank}/${worldSize} (local rank ${joined.localRank})`);

    const choice = await selectBackend({ requested: options.backend ?? spec.backend, localRank: joined.localRank, log });
    log(`backend ${choice.name} (${choice.packageName})`);

    const metrics = new WorkerMetrics({ job: spec.name, rank });
    if (options.metricsPort !== undefined) {
      metricsServer = await startMetricsServerWithFallback(`${options.metricsHost ?? '127.0.0.1'}:${options.metricsPort}`, metrics.registry, () => trainingReady, log);
      log(`metrics on ${metricsServer.url}/metrics`);
    }

    // Open the session before the slow part (data, model, weight broadcast): a setup failure on any
    // rank then reaches the coordinator as a named error instead of leaving the others waiting.
    session = connection.openSession(
      { jobId: joined.jobId, generation: joined.generation, rank },
      { backend: choice.name, metricsAddress: metricsServer?.address ?? '' },
    );
    dataset = await openDataset(spec.dataset, spec.seed);
    const model = await buildModel({ spec, info: dataset.info, seed: spec.seed });
    const optimizer = createOptimizer(spec.optimizer);
    const resumeFrom = joined.resume?.checkpointDir ?? '';
    if (resumeFrom) {
      const loaded = await loadCheckpoint(resumeFrom, { into: model });
      await restoreOptimizer(optimizer, loaded, { model });
      log(`restored weights and optimizer state from ${resumeFrom}`);
    }
    collective = createRingCollective(peerServer, {
      jobId: joined.jobId,
      generation: joined.generation,
      rank,
      worldSize,
      ring: joined.ring,
      chunkBytes: spec.collective.chunkBytes,
      timeoutMs: spec.collective.timeoutMs,
      compression: spec.collective.compression,
      transport: spec.collective.transport,
    });
    const trainer = new Trainer({ model, optimizer, loss: spec.loss, collective, task: dataset.info.task });
    if (!resumeFrom) await trainer.broadcastInitialWeights();
    trainingReady = true;

    const ds = dataset;
    const sess = session;
    let stepsDone = 0;
    let globalStep = joined.resume?.globalStep ?? 0;
    let lastCheckpointStep = resumeFrom ? globalStep : -1;
    let position: { plan: PlanPosition; stepsDone: number; epoch: number; stepInEpoch: number } | null = null;

    const writeCheckpoint = async (why: string): Promise<void> => {
      if (rank !== 0 || !spec.checkpoint || !position || lastCheckpointStep === globalStep) return;
      const info = await saveCheckpoint({
        dir: spec.checkpoint.dir,
        model,
        optimizer,
        keep: spec.checkpoint.keep,
        state: {
          globalStep,
          epoch: position.epoch,
          stepInEpoch: position.stepInEpoch,
          planState: positionAfter(position.plan, position.stepsDone),
          jobName: spec.name,
          worldSize,
          createdAt: new Date().toISOString(),
        },
      });
      lastCheckpointStep = globalStep;
      log(`checkpoint (${why}) at step ${globalStep}: ${info.path}`);
      sess.send({ checkpoint: { globalStep, path: info.path } });
    };

    let stopRequested = false;
    let checkpointRequested = false;
    const takeCommands = (): void => {
      for (let msg = sess.poll(); msg; msg = sess.poll()) {
        if (msg.command?.stop) stopRequested = true;
        else if (msg.command?.checkpoint) checkpointRequested = true;
      }
    };

    const runPlan = async (plan: EpochPlan__Output): Promise<boolean> => {
      const planState = JSON.parse(plan.planStateJson) as PlanPosition;
      const b = plan.batchSize;
      const indices = Uint32Array.from(plan.indices);
      for (let s = 0; s < plan.steps; s++) {
        takeCommands();
        const t0 = performance.now();
        const batch = ds.batch('train', indices.subarray(s * b, (s + 1) * b));
        setLearningRate(optimizer, learningRateAt(spec.optimizer, globalStep));
        let outcome;
        try {
          if (options.testDelayMs) await new Promise((r) => setTimeout(r, options.testDelayMs));
          outcome = await trainer.step(batch, globalStep, { stop: stopRequested, checkpoint: checkpointRequested });
        } finally {
          batch.xs.dispose();
          batch.ys.dispose();
        }
        if (options.testDelayMs) outcome.computeSeconds += options.testDelayMs / 1000;
        if (!outcome.applied) {
          await writeCheckpoint('last good step before a non-finite loss');
          throw new NonFiniteLossError(rank, globalStep, outcome.localLoss);
        }
        const stepSeconds = (performance.now() - t0) / 1000;
        const normsDue = (globalStep + 1) % spec.observability.gradientNormEverySteps === 0;
        const norms = normsDue ? layerGradientNorms(trainer.fused.buffer, trainer.fused.layout) : [];
        if (options.testPerturbAtStep === globalStep) nudgeFirstWeight(trainer.fused.variables[0]);
        const digestEvery = spec.observability.weightsDigestEverySteps;
        const weightsDigest = digestEvery > 0 && (globalStep + 1) % digestEvery === 0 ? trainer.fused.weightsDigest() : '';
        globalStep += 1;
        stepsDone += 1;
        position = { plan: planState, stepsDone: s + 1, epoch: plan.epoch, stepInEpoch: plan.firstStepInEpoch + s + 1 };
        const observed: StepObservation = {
          loss: outcome.localLoss,
          samples: b,
          computeSeconds: outcome.computeSeconds,
          allreduceSeconds: outcome.allreduceSeconds,
          stepSeconds,
          allreduceBytes: outcome.allreduceBytes,
        };
        sess.send({
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
        if (outcome.stop) return false;
      }
      const sums = trainer.evaluate((idx) => ds.batch('test', idx), Uint32Array.from(plan.validationIndices));
      sess.send({
        epoch: {
          epoch: plan.epoch,
          valLossSum: sums.lossSum,
          valCorrect: sums.correct,
          valAbsErrorSum: sums.absErrorSum,
          valSqErrorSum: sums.squaredErrorSum,
          valCount: sums.count,
          valValues: sums.valueCount,
        },
      });
      return true;
    };

    for (;;) {
      const msg = await sess.next();
      if (msg.plan) {
        const keepGoing = await runPlan(msg.plan);
        if (!keepGoing) break;
      } else if (msg.command?.stop) {
        break;
      } else if (msg.command?.checkpoint) {
        // Between epochs every rank is idle at the same step: rank 0 can write right away.
        await writeCheckpoint('requested');
      }
    }
    await writeCheckpoint('final');
    sess.send({ done: { globalStep } });
    log(`done after ${stepsDone} steps (global step ${globalStep})`);
    return { rank, steps: stepsDone, backend: choice.name };
  } catch (err) {
    const e = err as Error & { peerRank?: number };
    if (session && !(err instanceof WorldAbortedError)) {
      session.send({ error: { code: e instanceof DtrainError ? e.code : e.name, message: e.message, peerRank: e.peerRank ?? -1 } });
      // The coordinator decides what the failure means (which rank was lost); stay until it says.
      await session.awaitAbort(ABORT_WAIT_MS);
    }
    throw err;
  } finally {
    await session?.close();
    await collective?.close().catch(() => undefined);
    await peerServer.close().catch(() => undefined);
    await metricsServer?.close().catch(() => undefined);
    dataset?.close();
    connection.close();
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
