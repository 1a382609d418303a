// Where the next generation's state comes from (docs/elastic.md "Why the maximum", "Takeover"): a
// pure decision over the parked members and what the coordinator knows of the job. Members holding
// the largest completed-step count and agreeing on its digest win; a state the data plan cannot place,
// disagreeing digests, or nobody holding state send everyone to the newest checkpoint; without one the
// job fails with a named error rather than guessing.
import type { ShardPlanState } from '@dtrain/shared/shard-plan';
import type { CheckpointPoint } from './api';
import { chooseSource, type WorkerRecord } from './membership';

export type StateDecision =
  /** Sync from `sourceRank` at `committedSteps` (>= the job's committed count). */
  | { kind: 'adopt'; committedSteps: number; sourceRank: number }
  /** Sync from `sourceRank`, whose state is behind the job but inside the plan in force: plan from `position`. */
  | { kind: 'adopt-behind'; committedSteps: number; sourceRank: number; position: ShardPlanState }
  /** Every member loads `checkpoint` first; `knownSteps` is what the job had reached (for stepsRedone). */
  | { kind: 'checkpoint'; checkpoint: CheckpointPoint; why: string; knownSteps: number }
  /** A fresh job (or a --resume): source 0, optionally from the resume checkpoint. */
  | { kind: 'fresh'; checkpoint: CheckpointPoint | null }
  | { kind: 'fail'; code: 'WorkerLostError' | 'WeightsDivergedError'; message: string };

export interface JobKnowledge {
  /** The job's committed step count as the coordinator knows it. */
  committedSteps: number;
  /** Plan position after a step, when the plan in force covers it. */
  positionAt: (globalStep: number) => ShardPlanState | null;
  newestCheckpoint: CheckpointPoint | null;
  /** A generation of this job existed before (in this coordinator or the one it took over from). */
  hadWorld: boolean;
  resume: CheckpointPoint | null;
}

export function decideState(ordered: readonly WorkerRecord[], job: JobKnowledge): StateDecision {
  const source = chooseSource(ordered);
  const committed = job.committedSteps;
  const toCheckpoint = (why: string, knownSteps: number, failWith: StateDecision): StateDecision =>
    job.newestCheckpoint ? { kind: 'checkpoint', checkpoint: job.newestCheckpoint, why, knownSteps } : failWith;
  const lost = (message: string): StateDecision => ({ kind: 'fail', code: 'WorkerLostError', message });
  switch (source.kind) {
    case 'state': {
      const c = source.committedSteps;
      const known = Math.max(committed, c);
      if (c > committed && job.positionAt(c) === null) {
        // The plan in force does not reach step c: where its samples stand is unknown.
        return toCheckpoint(`the workers' state (step ${c}) is beyond the known data plan`, known,
          lost(`the workers' state (step ${c}) is beyond the data plan the coordinator knows (step ${committed}) and there is no checkpoint`));
      }
      if (c >= committed) return { kind: 'adopt', committedSteps: c, sourceRank: source.sourceRank };
      const position = job.positionAt(c);
      if (position) return { kind: 'adopt-behind', committedSteps: c, sourceRank: source.sourceRank, position };
      return toCheckpoint(`the workers' state (step ${c}) is behind the job (step ${committed})`, known,
        lost(`the workers' state (step ${c}) is behind the job (step ${committed}) and there is no checkpoint`));
    }
    case 'diverged': {
      const digests = source.digests.map((d) => `rank ${d.rank} ${d.digest}`).join(', ');
      return toCheckpoint(`the parked workers' states differ at step ${source.committedSteps}`, Math.max(committed, source.committedSteps), {
        kind: 'fail', code: 'WeightsDivergedError',
        message: `worker weights diverged at step ${source.committedSteps}: ${digests} (and there is no checkpoint)`,
      });
    }
    case 'none':
      if (job.hadWorld) {
        return toCheckpoint('no parked worker holds state', committed,
          lost('every worker that held the job\'s state is gone and there is no checkpoint'));
      }
      return { kind: 'fresh', checkpoint: job.resume };
  }
}
