// Generation lifecycle (docs/elastic.md "Worker life", "Membership", "State sync"): members park,
// the controller forms generation g+1 from the parked (first world after a last call, later ones
// once every member of g parked or is lost), sends WorldAssignment, and starts training only when
// every member's Synced digest agrees. A broken generation is abandoned (the step in flight is
// lost); newcomers make it re-form at the next step boundary. Who is lost is the failure policy's
// call, where the state comes from is formation.ts's.
import { chooseChunkBytes, hostsOf } from '@dtrain/shared/collective-chunking';
import { WeightsDivergedError } from '@dtrain/shared/errors';
import { Phase, type Envelope } from './api';
import { TIMER, type JobContext, type JobFlow } from './context';
import { decideState } from './formation';
import { localRanks, rankOrder, selectMembers, type WorkerRecord } from './membership';

export class GenerationLifecycle {
  constructor(private readonly c: JobContext, private readonly flow: JobFlow) {}

  onParked(from: Envelope, leftGeneration: number, completedSteps: number, digest: string, reason: string): void {
    const c = this.c;
    const rec = c.members.get(from.workerId);
    if (!rec || rec.status === 'gone' || !rec.session || c.machine.ended) return;
    const inWorld = c.inWorld(rec);
    if (inWorld && leftGeneration < c.world!.generation) return; // a stale park from an older generation
    rec.parked = { leftGeneration, completedSteps, digest };
    const wasMember = rec.status === 'member';
    rec.status = 'parked';
    rec.rank = -1;
    if (wasMember && inWorld) {
      c.log(`rank ${c.world!.ids.indexOf(rec.id)} parked at ${completedSteps} step(s)${reason ? `: ${reason}` : ''}`);
      const why = `a member left generation ${leftGeneration}: ${reason || 'parked'}`;
      if (c.machine.is(Phase.Training, Phase.Syncing)) this.startAbandon(why, []);
      else if (c.machine.is(Phase.Reforming)) this.maybeReform();
      return;
    }
    // A newcomer (or a re-joiner after a takeover) is ready.
    if (c.machine.is(Phase.Rendezvous)) this.maybeFirstWorld();
    else if (c.machine.is(Phase.Reforming)) this.maybeReform();
    else if (c.machine.is(Phase.Training)) this.startReform(`worker ${rec.id} is waiting to join`);
  }

  private maybeFirstWorld(): void {
    const c = this.c;
    const ready = c.members.parkedReady();
    if (ready.length < c.o.minWorkers) return;
    const target = c.takeover ? Math.min(c.o.maxWorkers, this.previousWorldSize() ?? c.o.maxWorkers) : c.o.maxWorkers;
    if (ready.length >= target || c.o.lastCallMs <= 0) {
      this.formWorld(ready);
      return;
    }
    c.emit({ type: 'SetTimer', name: TIMER.lastCall, ms: c.o.lastCallMs });
  }

  private previousWorldSize(): number | null {
    return this.c.o.takeover?.state.plan?.worldSize ?? null;
  }

  /** Re-forming: once every member of the old generation parked or is lost, form the next one. */
  maybeReform(): void {
    const c = this.c;
    if (!c.machine.is(Phase.Reforming)) return;
    const waiting = c.world ? c.world.ids.map((id) => c.members.get(id)!).filter((r) => r.status === 'member') : [];
    if (waiting.length > 0) return;
    const ready = c.members.parkedReady();
    if (ready.length < c.o.minWorkers) {
      if (c.belowMinSinceMs === null) {
        c.belowMinSinceMs = c.now;
        c.log(`${ready.length} worker(s) parked, below the minimum of ${c.o.minWorkers}: `
          + `waiting up to ${c.o.rendezvousTimeoutMs} ms for more`);
        c.emit({ type: 'SetTimer', name: TIMER.belowMin, ms: c.o.rendezvousTimeoutMs });
      }
      return;
    }
    this.formWorld(ready);
  }

  private formWorld(candidates: WorkerRecord[]): void {
    const c = this.c;
    const previous = new Set(c.world?.ids ?? []);
    const ordered = rankOrder(selectMembers(candidates, c.o.maxWorkers, previous));
    const decision = decideState(ordered, {
      committedSteps: c.planner.committedSteps,
      positionAt: (step) => c.planner.positionAt(step),
      newestCheckpoint: c.newestCheckpoint,
      hadWorld: c.firstWorldFormed,
      resume: c.o.resume,
    });
    let committed = c.planner.committedSteps;
    let sourceRank = 0;
    let checkpointDir = '';
    switch (decision.kind) {
      case 'fail':
        return this.flow.fail(decision.message, decision.code);
      case 'adopt':
        c.planner.commitThrough(decision.committedSteps);
        committed = decision.committedSteps;
        sourceRank = decision.sourceRank;
        break;
      case 'adopt-behind':
        c.counters.stepsRedone += c.planner.rollbackTo(decision.committedSteps, decision.position);
        committed = decision.committedSteps;
        sourceRank = decision.sourceRank;
        break;
      case 'checkpoint': {
        const cp = decision.checkpoint;
        const rolledBack = c.planner.rollbackTo(cp.globalStep, cp.planState);
        const redone = Math.max(rolledBack, decision.knownSteps - cp.globalStep, 0);
        c.counters.stepsRedone += redone;
        c.log(`${decision.why}: every member loads checkpoint ${cp.path} `
          + `(step ${cp.globalStep}; ${redone} step(s) to train again)`);
        committed = cp.globalStep;
        checkpointDir = cp.path;
        break;
      }
      case 'fresh':
        if (decision.checkpoint) {
          committed = decision.checkpoint.globalStep;
          checkpointDir = decision.checkpoint.path;
        }
        break;
    }
    c.planner.suspend();
    c.generationCount += 1;
    const generation = c.generationCount;
    c.world = { generation, ids: ordered.map((r) => r.id), committedSteps: committed, sourceRank, checkpointDir };
    c.reforming = null;
    c.belowMinSinceMs = null;
    c.steps.clear();
    c.epochReports.clear();
    for (const t of [TIMER.lastCall, TIMER.rendezvous, TIMER.parkDeadline, TIMER.belowMin]) {
      c.emit({ type: 'ClearTimer', name: t });
    }
    c.machine.transition([Phase.Rendezvous, Phase.Reforming], Phase.Syncing);
    const ring = ordered.map((r) => r.join.peerAddress);
    const locals = localRanks(ordered);
    // A world parameter: every member must chunk alike (chunk headers are checked against the plan).
    const chunk = chooseChunkBytes({
      configured: c.o.spec.collective.chunkBytes, transport: c.o.spec.collective.transport,
      hosts: hostsOf(ordered.map((r) => ({ hostname: r.join.hostname, cpus: r.join.cpus ?? 0 }))),
    });
    ordered.forEach((rec, rank) => {
      const joined = !rec.everMember && c.firstWorldFormed;
      rec.status = 'member';
      rec.rank = rank;
      rec.synced = null;
      rec.done = false;
      rec.everMember = true;
      if (joined) {
        c.counters.workersJoined += 1;
        c.emit({ type: 'WorkerCounted', change: 'joined' });
        c.publish('worker-joined', {
          workerId: rec.id, rank, hostname: rec.join.hostname, pid: rec.join.pid, backend: rec.backend,
        });
      }
      c.emit({ type: 'SendWorld', workerId: rec.id, world: {
        generation, rank, worldSize: ordered.length,
        localRank: locals[rank].localRank, localWorldSize: locals[rank].localWorldSize,
        ring, sourceRank, completedSteps: committed, checkpointDir, chunkBytes: chunk.bytes,
      } });
    });
    if (!c.firstWorldFormed) {
      for (const rec of ordered) {
        c.publish('worker-joined', {
          workerId: rec.id, rank: rec.rank, hostname: rec.join.hostname, pid: rec.join.pid, backend: rec.backend,
        });
      }
    }
    c.firstWorldFormed = true;
    c.counters.generations += 1;
    const desc = ordered.map((r, rank) => `rank ${rank}=${r.join.hostname} pid ${r.join.pid} peer ${r.join.peerAddress}`);
    const from = `source rank ${sourceRank}${checkpointDir ? `, checkpoint ${checkpointDir}` : ''}`;
    c.log(`world generation ${generation} formed (${ordered.length} worker(s), ${committed} committed step(s), `
      + `${from}): ${desc.join('; ')}`);
    if (chunk.source !== 'default') c.log(`generation ${generation} chunks of ${chunk.bytes} bytes: ${chunk.why}`);
    c.emit({ type: 'WorldFormed', generation, workers: ordered.length });
    c.publish('world-formed', {
      workers: ordered.length, committedSteps: committed, sourceRank, checkpoint: checkpointDir || null,
      members: ordered.map((r, rank) => ({
        rank, workerId: r.id, hostname: r.join.hostname, pid: r.join.pid, peerAddress: r.join.peerAddress,
      })),
    });
    this.flow.writeState();
  }

  onSynced(from: Envelope, generation: number, completedSteps: number, digest: string): void {
    const c = this.c;
    const rec = c.members.get(from.workerId);
    const w = c.world;
    if (!rec || !w || !c.machine.is(Phase.Syncing) || generation !== w.generation || rec.status !== 'member') return;
    rec.synced = { completedSteps, digest };
    const members = w.ids.map((id) => c.members.get(id)!);
    if (members.some((m) => m.synced === null)) return;
    const digests = members.map((m, rank) => ({ rank, digest: m.synced!.digest }));
    const steps = members.map((m) => m.synced!.completedSteps);
    if (digests.some((d) => d.digest !== digests[0].digest) || steps.some((s) => s !== w.committedSteps)) {
      const atSteps = digests.map((d, i) => ({ rank: d.rank, digest: `${d.digest}@${steps[i]}` }));
      const err = new WeightsDivergedError(w.committedSteps, atSteps);
      return this.flow.fail(`after the state sync of generation ${w.generation}: ${err.message}`, err.code);
    }
    c.machine.transition([Phase.Syncing], Phase.Training);
    c.progress.trainingResumed(c.now);
    c.log(`generation ${w.generation} synced at step ${w.committedSteps} (digest ${digests[0].digest.slice(0, 12)})`);
    if (c.stopWhenFormed !== null) {
      const reason = c.stopWhenFormed;
      c.stopWhenFormed = null;
      this.flow.requestStop(reason);
      return;
    }
    this.flow.sendNextPlanOrStop();
    if (c.machine.is(Phase.Training) && c.members.parkedReady().length > 0 && c.world!.ids.length < c.o.maxWorkers) {
      this.startReform('workers are waiting to join');
    }
  }

  /** The generation is broken: every member abandons the step in flight and parks. */
  startAbandon(reason: string, lostRanks: number[]): void {
    const c = this.c;
    if (!c.machine.transition([Phase.Training, Phase.Syncing], Phase.Reforming)) return;
    if (c.lossDetectedAtMs === null) c.lossDetectedAtMs = c.now;
    c.reforming = { kind: 'abandon', abandonSent: false };
    c.steps.clear();
    c.epochReports.clear();
    this.sendAbandons(reason, lostRanks);
    this.maybeReform();
  }

  sendAbandons(reason: string, lostRanks: number[]): void {
    const c = this.c;
    const r = c.reforming;
    if (!r || r.abandonSent || !c.world) return;
    r.abandonSent = true;
    r.kind = 'abandon';
    for (const m of c.activeMembers()) {
      if (m.status !== 'member') continue;
      c.emit({ type: 'SendAbandon', workerId: m.id, generation: c.world.generation, reason, lostRanks });
    }
    c.emit({ type: 'SetTimer', name: TIMER.parkDeadline, ms: c.o.parkDeadlineMs });
  }

  /** Workers wait to join: the members leave together after the next step and park. */
  private startReform(reason: string): void {
    const c = this.c;
    if (c.world && c.world.ids.length >= c.o.maxWorkers) return;
    if (!c.machine.transition([Phase.Training], Phase.Reforming)) return;
    c.reforming = { kind: 'reform', abandonSent: false };
    c.log(`re-forming generation ${c.world!.generation} at the next step boundary: ${reason}`);
    for (const m of c.activeMembers()) {
      c.emit({ type: 'SendReform', workerId: m.id, generation: c.world!.generation, reason });
    }
    c.emit({ type: 'SetTimer', name: TIMER.parkDeadline, ms: c.o.parkDeadlineMs });
  }

  /** The last call after MIN parked is over: form the first world from whoever is there. */
  onLastCall(): void {
    const c = this.c;
    const ready = c.members.parkedReady();
    if (c.machine.is(Phase.Rendezvous) && ready.length >= c.o.minWorkers) this.formWorld(ready);
  }
}
