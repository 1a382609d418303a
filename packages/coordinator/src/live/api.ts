// Contract of the live page: what it reads of a running coordinator (its public events only) and what it
// serves (routes mounted on the coordinator's metrics port). It never changes the job.
import type { JobEvent } from '@dtrain/shared/control/api';
import type { HttpRoute } from '@dtrain/shared/metrics/metrics-server';
import type { JobState, StepProgress, ValidationResult, WorldChange } from '../api';

/** One rank's share of one completed step, as it reported it (the coordinator's 'rank-steps' event). */
export interface RankStepSample {
  rank: number;
  samples: number;
  loss: number;
  computeSeconds: number;
  allreduceSeconds: number;
  stepSeconds: number;
}

export interface RankStepsEvent {
  globalStep: number;
  generation: number;
  ranks: RankStepSample[];
}

/** The coordinator as the live page sees it: an emitter of its public events. */
export interface LiveSource {
  readonly jobId: string;
  on(event: 'step', listener: (p: StepProgress) => void): unknown;
  on(event: 'validation', listener: (v: ValidationResult) => void): unknown;
  on(event: 'state', listener: (s: JobState) => void): unknown;
  on(event: 'event', listener: (e: JobEvent) => void): unknown;
  on(event: 'rank-steps', listener: (r: RankStepsEvent) => void): unknown;
  /** World generations formed, workers lost and joined (elastic training, docs/elastic.md). */
  on(event: 'world', listener: (w: WorldChange) => void): unknown;
}

export interface LivePageOptions {
  source: LiveSource;
  /** The job's name (job file `name:`). */
  job: string;
}

export interface LivePage {
  /** '/' (the page), '/live/feed' (Server-Sent Events), '/live/state' (JSON snapshot), '/live/*' assets. */
  readonly routes: Readonly<Record<string, HttpRoute>>;
  /** Ends open event streams. */
  close(): void;
}

/** The page's paths. */
export const LIVE_FEED_PATH = '/live/feed';
export const LIVE_STATE_PATH = '/live/state';
