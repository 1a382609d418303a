// The job logic of the coordinator as a state machine over world generations (docs/elastic.md):
// events in, commands out, one guarded transition function, no sockets, no timers, no clock but
// the events' atMs. This file only routes: each event goes to the module that owns its concern
// (admission, generation lifecycle, failure policy, progress intake, job ending), all acting on one
// shared JobContext. Membership policy, state choice, planning + ledger and report aggregation
// live in their own modules below those.
import type { JobStatus } from '@dtrain/shared/control/api';
import type { Controller, ControllerCommand, ControllerEvent, ControllerOptions, Phase } from './api';
import { Admission } from './admission';
import { JobContext, TIMER, type JobFlow } from './context';
import { FailurePolicy } from './failure-policy';
import { GenerationLifecycle } from './generation';
import { JobEnding } from './job-ending';
import { publicState } from './phase';
import { ProgressIntake } from './progress-intake';

export function createController(options: ControllerOptions): Controller {
  return new JobController(options);
}

class JobController implements Controller {
  readonly jobId: string;
  private readonly c: JobContext;
  private readonly admission: Admission;
  private readonly generation: GenerationLifecycle;
  private readonly failure: FailurePolicy;
  private readonly intake: ProgressIntake;
  private readonly ending: JobEnding;

  constructor(options: ControllerOptions) {
    this.c = new JobContext(options);
    this.jobId = this.c.jobId;
    const flow: JobFlow = {
      maybeReform: () => this.generation.maybeReform(),
      startAbandon: (reason, lostRanks) => this.generation.startAbandon(reason, lostRanks),
      sendAbandons: (reason, lostRanks) => this.generation.sendAbandons(reason, lostRanks),
      sendNextPlanOrStop: () => this.intake.sendNextPlanOrStop(),
      failBelowMin: () => this.failure.failBelowMin(),
      requestStop: (reason) => this.ending.requestStop(reason),
      finishStop: () => this.ending.finishStop(),
      fail: (message, code, lostRank) => this.ending.fail(message, code, lostRank),
      writeState: (ended) => this.ending.writeState(ended),
    };
    this.admission = new Admission(this.c);
    this.generation = new GenerationLifecycle(this.c, flow);
    this.failure = new FailurePolicy(this.c, flow);
    this.intake = new ProgressIntake(this.c, flow);
    this.ending = new JobEnding(this.c, flow);
  }

  get phase(): Phase {
    return this.c.machine.phase;
  }

  handle(event: ControllerEvent): ControllerCommand[] {
    const c = this.c;
    c.out = [];
    c.now = event.atMs;
    if ('from' in event) c.seen(event.from);
    try {
      this.dispatch(event);
    } catch (err) {
      // A bug in a handler must end the job with a message, not leave it hanging.
      const e = err as Error & { code?: string };
      const code = typeof e.code === 'string' ? e.code : e.name;
      this.ending.fail(`coordinator error on ${event.type}: ${e.message}`, code);
    }
    return c.out;
  }

  status(): JobStatus {
    const c = this.c;
    const pos = c.planner.position();
    return {
      job: c.jobId,
      state: publicState(c.machine.phase),
      generation: c.world?.generation ?? 0,
      workers: c.world?.ids.length ?? 0,
      // 1-based like the progress lines; after the last epoch (stopping, finished) it stays at the last.
      epoch: Math.min((c.planner.current?.plan.epoch ?? pos.epoch) + 1, c.o.epochs),
      globalStep: c.planner.committedSteps,
      loss: c.progress.lastLoss,
      samplesPerSec: c.progress.recentSamplesPerSec,
      lastCheckpoint: c.lastCheckpointPath,
    };
  }

  private dispatch(ev: ControllerEvent): void {
    switch (ev.type) {
      case 'Started': return this.onStarted();
      case 'WorkerJoined': return this.admission.onJoin(ev.token, ev.join);
      case 'SessionOpened': return this.admission.onSessionOpened(ev.from, ev.jobId, ev.backend, ev.metricsAddress);
      case 'Parked':
        return this.generation.onParked(ev.from, ev.leftGeneration, ev.completedSteps, ev.digest, ev.reason);
      case 'Synced': return this.generation.onSynced(ev.from, ev.generation, ev.completedSteps, ev.digest);
      case 'StepReported': return this.intake.onStep(ev.from, ev.report);
      case 'EpochReported': return this.intake.onEpoch(ev.from, ev.report);
      case 'WorkerError': return this.failure.onWorkerError(ev.from, ev.code, ev.message, ev.peerRank, ev.globalStep ?? -1);
      case 'CheckpointReported': return this.ending.onCheckpoint(ev.globalStep, ev.path);
      case 'Done': return this.ending.onDone(ev.from, ev.test);
      case 'Heartbeat': return;
      case 'SessionClosed': return this.failure.onSessionClosed(ev.workerId, ev.why);
      case 'ControlRequest': return this.ending.onControl(ev.request);
      case 'TimerFired': return this.onTimer(ev.name);
    }
  }

  private onStarted(): void {
    const c = this.c;
    c.jobStartMs = c.startedAtMs ?? c.now;
    c.emit({ type: 'SetTimer', name: TIMER.rendezvous, ms: c.o.rendezvousTimeoutMs });
    this.failure.armHeartbeat();
    const range = c.o.minWorkers === c.o.maxWorkers ? `${c.o.minWorkers}` : `${c.o.minWorkers}:${c.o.maxWorkers}`;
    if (c.takeover) {
      const at = c.planner.committedSteps;
      c.log(`taking over job ${c.jobId} at generation ${c.generationCount}, ${at} committed step(s); `
        + 'waiting for its workers to re-join');
      c.publish('coordinator-takeover', {
        committedSteps: at, generation: c.generationCount, lastCheckpoint: c.lastCheckpointPath,
      });
    } else {
      c.log(`job ${c.jobId}: waiting for ${range} worker(s)`);
    }
  }

  private onTimer(name: string): void {
    if (this.c.machine.ended) return;
    switch (name) {
      case TIMER.heartbeat: return this.failure.checkHeartbeats();
      case TIMER.rendezvous: return this.failure.onRendezvousTimeout();
      case TIMER.lastCall: return this.generation.onLastCall();
      case TIMER.parkDeadline: return this.failure.onParkDeadline();
      case TIMER.belowMin: return this.failure.giveUpBelowMin();
      case TIMER.belowMinCheckpoint: return this.failure.failBelowMin();
      case TIMER.shutdown: return this.ending.onShutdownTimeout();
    }
    if (name.startsWith('blame:')) return this.failure.onBlameTimer(name.slice('blame:'.length));
    if (name.startsWith('session:')) return this.admission.onSessionTimer(name.slice('session:'.length));
  }
}
