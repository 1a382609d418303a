// Progress intake (docs/elastic.md "Re-planning", "Ledger"): plans go out one at a time for the
// world in force, a step counts once every rank reported it (committed in the planner and its
// sample ledger, the recovery time of a loss measured, sampled digests compared), an epoch once
// every rank sent its validation sums. When the plan runs out the job stops.
import { WeightsDivergedError } from '@dtrain/shared/errors';
import type { EpochReport__Output } from '@dtrain/shared/proto';
import { lossInLabelUnits, validationLabelUnits } from '@dtrain/shared/data/held-out-results';
import { ShardPlanError } from '@dtrain/shared/shard-plan';
import { Phase, type Envelope } from './api';
import type { JobContext, JobFlow } from './context';
import type { ActivePlan } from './planning';
import { combineValidation, type RankedStepReport } from './reports';

export class ProgressIntake {
  /**
   * The next epoch's plan, sent with the plan in force (ControllerOptions.planLookAhead) so that no
   * worker waits a round trip to the coordinator between epochs. A world change makes it stale: its
   * generation is gone, workers drop it, and the plan made after the change is sent as usual.
   */
  private ahead: ActivePlan | null = null;

  constructor(private readonly c: JobContext, private readonly flow: JobFlow) {}

  /** `planEnded`: every rank reported the end of the plan in force, so workers hold the plan sent ahead. */
  sendNextPlanOrStop(planEnded = false): void {
    const c = this.c;
    const ahead = planEnded ? this.ahead : null;
    this.ahead = null;
    if (!c.machine.is(Phase.Training)) return;
    if (c.planner.done) {
      this.flow.requestStop('finished');
      return;
    }
    const w = c.world!;
    let a;
    try {
      a = c.planner.next(w.ids.length, w.generation);
    } catch (err) {
      if (err instanceof ShardPlanError) return this.flow.fail(err.message, 'ShardPlanError');
      throw err;
    }
    c.progress.totalSteps = c.planner.committedSteps + c.planner.remainingSteps(w.ids.length);
    const p = a.plan;
    const inEpoch = a.firstStepInEpoch + p.steps;
    c.log(`epoch ${p.epoch + 1}/${c.o.epochs}: ${p.steps} step(s) from global step ${a.firstGlobalStep} `
      + `(global batch ${w.ids.length * p.batchSize}, steps ${a.firstStepInEpoch}..${inEpoch} of the epoch)`);
    const validationSize = c.o.validationSize ?? c.o.testSize;
    // Sent ahead when the previous plan started (the planner returns that very plan): the workers hold it
    // and began it as that plan ended.
    if (a !== ahead) this.sendPlan(a, validationSize);
    if (c.o.planLookAhead) {
      this.ahead = c.planner.lookAhead();
      if (this.ahead) this.sendPlan(this.ahead, validationSize);
    }
    this.flow.writeState();
  }

  private sendPlan(a: ActivePlan, validationSize: number): void {
    const c = this.c;
    c.world!.ids.forEach((id, rank) => {
      c.emit({ type: 'SendPlan', workerId: id, plan: c.planner.message(a, rank, validationSize) });
    });
  }

  onStep(from: Envelope, report: RankedStepReport | Omit<RankedStepReport, 'rank'>): void {
    const c = this.c;
    const w = c.world;
    const rec = c.members.get(from.workerId);
    if (!w || !rec || from.generation !== w.generation || rec.status !== 'member') return;
    if (!c.machine.is(Phase.Training, Phase.Reforming, Phase.Stopping)) return;
    const list = c.steps.add(report.globalStep, rec.rank, { ...report, rank: rec.rank }, w.ids.length);
    if (!list) return;
    c.planner.commitThrough(report.globalStep + 1);
    const a = c.planner.current;
    const progress = c.progress.stepCompleted(c.now, list, a ? a.firstStepInEpoch + a.plan.steps : 0);
    progress.units = lossInLabelUnits(progress.loss, c.o.spec.loss, c.o.standardization);
    c.emit({ type: 'StepCompleted', progress, reports: list });
    if (c.lossDetectedAtMs !== null) {
      const seconds = (c.now - c.lossDetectedAtMs) / 1000;
      c.lossDetectedAtMs = null;
      c.counters.recoverySeconds.push(seconds);
      c.emit({ type: 'RecoveryMeasured', seconds });
      c.log(`recovered: step ${report.globalStep + 1} completed ${seconds.toFixed(3)} s after the loss was detected`);
    }
    const digests = list.filter((r) => r.weightsDigest !== '').map((r) => ({ rank: r.rank, digest: r.weightsDigest }));
    if (digests.length >= 2 && digests.some((d) => d.digest !== digests[0].digest)) {
      const err = new WeightsDivergedError(report.globalStep, digests);
      this.flow.fail(err.message, err.code);
    }
  }

  onEpoch(from: Envelope, report: EpochReport__Output): void {
    const c = this.c;
    const w = c.world;
    const rec = c.members.get(from.workerId);
    if (!w || !rec || from.generation !== w.generation || rec.status !== 'member') return;
    const a = c.planner.current;
    const ahead = this.ahead;
    const ofAhead = ahead && ahead.generation === from.generation && ahead.plan.epoch === report.epoch;
    if (ofAhead && a?.plan.epoch !== report.epoch) {
      // This rank also ended the plan sent ahead before another rank's report of the plan in force came
      // in (that rank trains ahead of its own reports). Kept: it cannot complete the epoch before the
      // plan in force does, since every rank reports that one first.
      c.epochReports.add(report.epoch, rec.rank, report, w.ids.length);
      return;
    }
    if (!a || a.plan.epoch !== report.epoch) return;
    const list = c.epochReports.add(report.epoch, rec.rank, report, w.ids.length);
    if (!list) return;
    c.planner.finishPlan();
    // Users count epochs from 1 (the report and the plan count from 0).
    const metrics = c.o.spec.validation.metrics;
    const result = combineValidation(report.epoch + 1, c.planner.committedSteps, list, c.o.task, metrics);
    result.units = validationLabelUnits(list, c.o.task, c.o.standardization);
    c.progress.lastValidation = result;
    c.emit({ type: 'EpochCompleted', validation: result, nextEpoch: a.plan.next.epoch });
    c.publish('epoch-done', { ...result });
    this.flow.writeState();
    if (c.machine.is(Phase.Training)) this.sendNextPlanOrStop(true);
    else this.adoptAhead();
  }

  /**
   * The plan in force ended while the job stops or the world reforms: no plan goes out, but the workers
   * hold the one sent ahead and may train steps of it before the stop or reform takes effect, so it
   * becomes the plan in force: those steps are committed from it and a re-plan starts after them.
   */
  private adoptAhead(): void {
    const c = this.c;
    const ahead = this.ahead;
    this.ahead = null;
    if (!ahead || c.planner.done || !c.world || ahead.generation !== c.world.generation) return;
    c.planner.next(c.world.ids.length, c.world.generation);
  }
}
