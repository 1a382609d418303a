// Failure policy (docs/elastic.md "Loss"): which signals make a worker lost (a closed session at
// once; a peer's blame plus 2 heartbeat intervals of silence; silence past the heartbeat timeout; no
// Parked within the park deadline after Abandon), what a worker error means for the job (a
// collective error breaks the generation, a non-finite loss or any other error fails the job), and
// when the job gives up: fewer than MIN at the first rendezvous, or below MIN after losses past the
// rendezvous timeout (after asking the best parked worker for a final checkpoint).
import { BelowMinWorkersError, RendezvousTimeoutError, WorkerLostError } from '@dtrain/shared/errors';
import { Phase, type Envelope } from './api';
import { TIMER, type JobContext, type JobFlow } from './context';
import { classifyWorkerError, isSilentPast, msUntilBlameProven } from './loss-evidence';
import type { WorkerRecord } from './membership';

export class FailurePolicy {
  constructor(private readonly c: JobContext, private readonly flow: JobFlow) {}

  onSessionClosed(workerId: string, why: string): void {
    const c = this.c;
    const rec = c.members.get(workerId);
    if (!rec || !rec.session) return;
    rec.session = false;
    if (rec.status === 'gone' || c.machine.ended) return;
    if (rec.done) return;
    this.lose(rec, `session closed (${why})`);
  }

  onWorkerError(from: Envelope, code: string, message: string, peerRank: number, globalStep = -1): void {
    const c = this.c;
    const rec = c.members.get(from.workerId);
    if (!rec || rec.status === 'gone' || c.machine.ended) return;
    const w = c.world;
    const who = rec.rank >= 0 ? `rank ${rec.rank}` : `worker ${rec.id}`;
    c.log(`${who} reported ${code}: ${message}`);
    const kind = classifyWorkerError(code);
    if (kind === 'non-finite') {
      c.publish('non-finite-loss', { rank: rec.rank, message });
      // Reaching step k's loss or sum means step k-1's all-reduce completed, so every rank applied the steps
      // before k (the failing rank's checkpoint holds exactly them), even when another rank's report of
      // step k-1 is still in flight on its own stream: the result must agree with that checkpoint.
      if (globalStep > c.planner.committedSteps) c.planner.commitThrough(globalStep);
      return this.flow.fail(message, code);
    }
    if (kind === 'fatal') return this.flow.fail(`${who}: ${message}`, code, -1);
    if (!w || from.generation !== w.generation || !c.inWorld(rec)) return;
    if (c.machine.is(Phase.Stopping)) return this.flow.fail(`${who}: ${message}`, code, peerRank);
    const blamedId = peerRank >= 0 ? w.ids[peerRank] : undefined;
    const blamed = blamedId !== undefined ? c.members.get(blamedId) : undefined;
    if (blamed && blamed.status !== 'gone' && blamed.id !== rec.id) {
      const wait = msUntilBlameProven(blamed.lastSeenMs, c.now, c.o.heartbeatIntervalMs);
      const silentMs = c.now - blamed.lastSeenMs;
      if (wait === 0) this.lose(blamed, `blamed by rank ${rec.rank} (${code}) and silent for ${silentMs} ms`);
      else c.emit({ type: 'SetTimer', name: TIMER.blame(blamed.id), ms: wait });
    }
    if (c.machine.is(Phase.Training, Phase.Syncing)) this.flow.startAbandon(`${who} reported ${code}: ${message}`, []);
    else if (c.machine.is(Phase.Reforming)) this.flow.sendAbandons(`${who} reported ${code}`, []);
  }

  /** A worker is gone for good: out of the job, and its generation (if any) ends. */
  lose(rec: WorkerRecord, reason: string): void {
    const c = this.c;
    if (rec.status === 'gone') return;
    const inWorld = c.inWorld(rec);
    const rank = inWorld ? c.world!.ids.indexOf(rec.id) : -1;
    const wasActive = rec.status === 'member' || (rec.status === 'parked' && inWorld);
    rec.status = 'gone';
    rec.rank = -1;
    c.emit({ type: 'ClearTimer', name: TIMER.blame(rec.id) });
    if (c.machine.ended) return;
    if (!wasActive) {
      c.log(`worker ${rec.id} (waiting, in no generation) is gone: ${reason}`);
      if (c.machine.is(Phase.Reforming)) this.flow.maybeReform();
      return;
    }
    c.counters.workersLost += 1;
    c.emit({ type: 'WorkerCounted', change: 'lost' });
    c.log(`rank ${rank} of generation ${c.world!.generation} lost: ${reason}`);
    c.publish('worker-lost', { rank, workerId: rec.id, reason, hostname: rec.join.hostname, pid: rec.join.pid });
    if (c.lossDetectedAtMs === null) c.lossDetectedAtMs = c.now;
    if (c.machine.is(Phase.Stopping)) {
      if (c.activeMembers().every((m) => m.done)) return this.flow.finishStop();
      const err = new WorkerLostError(rank, c.world!.generation, reason);
      return this.flow.fail(err.message, err.code, rank);
    }
    if (c.machine.is(Phase.Training, Phase.Syncing)) this.flow.startAbandon(`rank ${rank} lost: ${reason}`, [rank]);
    else if (c.machine.is(Phase.Reforming)) {
      this.flow.sendAbandons(`rank ${rank} lost: ${reason}`, [rank]);
      this.flow.maybeReform();
    }
  }

  armHeartbeat(): void {
    const c = this.c;
    c.emit({ type: 'SetTimer', name: TIMER.heartbeat, ms: Math.max(50, Math.min(1_000, c.o.heartbeatTimeoutMs / 4)) });
  }

  checkHeartbeats(): void {
    const c = this.c;
    for (const r of c.members.live()) {
      if (r.session && !r.done && isSilentPast(r.lastSeenMs, c.now, c.o.heartbeatTimeoutMs)) {
        this.lose(r, `no heartbeat for ${c.now - r.lastSeenMs} ms`);
      }
    }
    if (!c.machine.ended) this.armHeartbeat();
  }

  /** Below MIN past the rendezvous timeout: a final checkpoint from the best parked state, then fail. */
  giveUpBelowMin(): void {
    const c = this.c;
    if (!c.machine.is(Phase.Reforming) || c.belowMinSinceMs === null) return;
    const ready = c.members.parkedReady();
    if (ready.length >= c.o.minWorkers) return this.flow.maybeReform();
    const holders = ready.filter((r) => (r.parked?.completedSteps ?? -1) >= 0)
      .sort((a, b) => b.parked!.completedSteps - a.parked!.completedSteps);
    if (holders.length === 0 || !c.o.checkpointDir) return this.failBelowMin();
    const src = holders[0];
    const at = src.parked!.completedSteps;
    const pos = c.planner.positionAt(at) ?? c.planner.position();
    c.log(`asking worker ${src.id} for a final checkpoint at step ${at} before failing`);
    const planStateJson = JSON.stringify(pos);
    c.emit({ type: 'SendCheckpointNow', workerId: src.id, afterGlobalStep: at, path: '', planStateJson });
    c.emit({ type: 'SetTimer', name: TIMER.belowMinCheckpoint, ms: c.o.shutdownGraceMs });
  }

  failBelowMin(): void {
    const c = this.c;
    if (c.machine.ended) return;
    const err = new BelowMinWorkersError(c.members.parkedReady().length, c.o.minWorkers, c.o.rendezvousTimeoutMs);
    this.flow.fail(err.message, err.code);
  }

  /** Fewer than MIN parked within the rendezvous timeout of the first world. */
  onRendezvousTimeout(): void {
    const c = this.c;
    if (!c.machine.is(Phase.Rendezvous)) return;
    const err = new RendezvousTimeoutError(c.members.parkedReady().length, c.o.minWorkers, c.o.rendezvousTimeoutMs);
    return this.flow.fail(err.message, err.code);
  }

  /** Members that did not park within the collective deadline after Abandon/Reform are lost. */
  onParkDeadline(): void {
    const c = this.c;
    if (!c.machine.is(Phase.Reforming) || !c.world) return;
    for (const m of c.activeMembers().filter((r) => r.status === 'member')) {
      this.lose(m, `did not park within ${c.o.parkDeadlineMs} ms`);
    }
    return this.flow.maybeReform();
  }

  /** A blamed worker's silence is checked again once it would prove the loss. */
  onBlameTimer(workerId: string): void {
    const c = this.c;
    const rec = c.members.get(workerId);
    if (!rec || rec.status === 'gone') return;
    if (msUntilBlameProven(rec.lastSeenMs, c.now, c.o.heartbeatIntervalMs) === 0) {
      this.lose(rec, `blamed by a peer and silent for ${c.now - rec.lastSeenMs} ms`);
    }
  }
}
