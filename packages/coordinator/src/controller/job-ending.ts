// How a job ends, and what it leaves behind: stop (at the next step every rank agrees on, rank 0
// writes a final checkpoint, every member says Done), abort, failure (Abort to every worker with a
// session), the JobResult with its summary counters, and coordinator-state.json (written at each
// generation, plan, epoch and checkpoint change, and once more when the job ends). User checkpoint
// requests are answered here too, since they share the checkpoint bookkeeping.
import { ShutdownTimeoutError } from '@dtrain/shared/errors';
import type { EpochReport__Output } from '@dtrain/shared/proto';
import type { JobResult } from '../api';
import { Phase, type ControlAction, type CoordinatorStateFile, type Envelope } from './api';
import { TIMER, type JobContext, type JobFlow } from './context';

export class JobEnding {
  constructor(private readonly c: JobContext, private readonly flow: JobFlow) {}

  onCheckpoint(globalStep: number, path: string): void {
    const c = this.c;
    c.lastCheckpointPath = path;
    const planState = c.planner.positionAt(globalStep);
    if (planState) c.newestCheckpoint = { path, globalStep, planState };
    c.emit({ type: 'CheckpointCounted' });
    c.publish('checkpoint-written', { path, globalStep });
    c.log(`checkpoint written at step ${globalStep}: ${path}`);
    for (const token of c.pendingCheckpointTokens.splice(0)) c.emit({ type: 'ReplyCheckpoint', token, ok: true, path });
    this.writeState();
    if (c.belowMinSinceMs !== null && c.machine.is(Phase.Reforming)) this.flow.failBelowMin();
  }

  onControl(req: ControlAction): void {
    const c = this.c;
    switch (req.op) {
      case 'stop':
        return this.requestStop(req.reason);
      case 'abort':
        return this.fail(req.message, req.code, req.lostRank);
      case 'checkpoint': {
        const refuse = (error: string) => c.emit({ type: 'ReplyCheckpoint', token: req.token, ok: false, error });
        if (!c.machine.is(Phase.Training)) return refuse(`job ${c.jobId} is ${c.machine.phase}, not training`);
        if (!c.o.checkpointDir) return refuse('the job spec has no checkpoint section (checkpoint.dir)');
        c.pendingCheckpointTokens.push(req.token);
        for (const m of c.activeMembers()) {
          c.emit({ type: 'SendCheckpointNow', workerId: m.id, afterGlobalStep: 0, path: '', planStateJson: '' });
        }
        return;
      }
    }
  }

  /** Stops at the next step every rank agrees on; rank 0 writes a final checkpoint. */
  requestStop(reason: string): void {
    const c = this.c;
    if (c.machine.ended || c.machine.is(Phase.Stopping)) return;
    if (c.machine.is(Phase.Rendezvous)) return this.finish('stopped');
    if (c.machine.is(Phase.Reforming, Phase.Syncing)) {
      c.stopWhenFormed = reason;
      c.log(`stop requested while the world changes: stopping once the next generation has synced (${reason})`);
      return;
    }
    c.stopReason = reason;
    c.machine.transition([Phase.Training], Phase.Stopping);
    if (reason !== 'finished') c.publish('stopping', { reason });
    for (const m of c.activeMembers()) c.emit({ type: 'SendStop', workerId: m.id, reason });
    c.emit({ type: 'SetTimer', name: TIMER.shutdown, ms: c.o.shutdownGraceMs });
  }

  onDone(from: Envelope, test: EpochReport__Output | null | undefined): void {
    const c = this.c;
    const rec = c.members.get(from.workerId);
    if (!rec || rec.status === 'gone') return;
    // Test sums count only from members of the world that finished (their blocks cover the file once).
    const member = c.world && from.generation === c.world.generation && rec.status === 'member';
    if (!rec.done && member) c.testResults.add(test);
    rec.done = true;
    if (c.machine.is(Phase.Stopping) && c.activeMembers().every((m) => m.done)) this.finishStop();
  }

  finishStop(): void {
    const c = this.c;
    this.finish(c.stopReason && c.stopReason !== 'finished' ? 'stopped' : 'succeeded');
  }

  fail(message: string, code: string, lostRank = -1): void {
    const c = this.c;
    if (c.machine.ended) return;
    c.log(`job failed: ${message}`);
    for (const r of c.members.live()) {
      if (r.session) c.emit({ type: 'SendAbort', workerId: r.id, reason: message, lostRank });
    }
    c.publish('failed', { error: message, code, lostRank });
    this.finish('failed', { error: message, errorCode: code, lostRank: lostRank >= 0 ? lostRank : undefined });
  }

  private finish(status: JobResult['status'], extra: Partial<JobResult> = {}): void {
    const c = this.c;
    if (c.machine.ended) return;
    c.machine.transition(Object.values(Phase), status === 'failed' ? Phase.Failed : Phase.Finished);
    for (const t of Object.values(TIMER)) if (typeof t === 'string') c.emit({ type: 'ClearTimer', name: t });
    const backends = [...new Set(c.members.live().map((r) => r.backend).filter(Boolean))];
    const result: JobResult = {
      status,
      jobId: c.jobId,
      workers: c.world?.ids.length ?? 0,
      steps: c.planner.committedSteps,
      epochs: c.planner.position().epoch,
      ...c.progress.summary(),
      wallSeconds: (c.now - (c.jobStartMs || c.now)) / 1000,
      backend: backends.length > 0 ? backends.join(',') : null,
      lastCheckpoint: c.lastCheckpointPath,
      test: status === 'failed' ? null : c.testResults.result(),
      ...extra,
      ...this.summaryFields(),
    };
    if (status !== 'failed') c.publish('finished', { ...result });
    this.writeState(status);
    c.emit({ type: 'Finish', result });
  }

  private summaryFields(): Pick<JobResult,
    'generations' | 'workersLost' | 'workersJoined' | 'recoverySeconds' | 'stepsRedone' | 'sampleLedger'> {
    const { planner, counters } = this.c;
    const pos = planner.position();
    const ledger = planner.ledger;
    return {
      generations: counters.generations,
      workersLost: counters.workersLost,
      workersJoined: counters.workersJoined,
      recoverySeconds: [...counters.recoverySeconds],
      stepsRedone: counters.stepsRedone,
      sampleLedger: ledger.totals(ledger.openEpoch === pos.epoch ? pos.consumed : null),
    };
  }

  writeState(ended: JobResult['status'] | null = null): void {
    const c = this.c;
    if (!c.o.checkpointDir) return;
    const state: CoordinatorStateFile = {
      version: 1,
      jobId: c.jobId,
      jobName: c.o.spec.name,
      ended,
      generation: c.generationCount,
      ...c.planner.record(),
      ledger: c.planner.ledger.snapshot(),
      newestCheckpoint: c.lastCheckpointPath,
      counters: { ...c.counters, recoverySeconds: [...c.counters.recoverySeconds] },
      startedAtMs: c.jobStartMs || c.now,
    };
    c.emit({ type: 'WriteState', state });
  }

  /** Members did not say Done within the grace period after Stop. */
  onShutdownTimeout(): void {
    const c = this.c;
    if (!c.machine.is(Phase.Stopping)) return;
    const missing = c.activeMembers().filter((m) => !m.done).map((m) => m.rank);
    if (missing.length > 0) {
      const err = new ShutdownTimeoutError(missing, c.o.shutdownGraceMs);
      this.fail(err.message, err.code, missing[0]);
    }
  }
}
