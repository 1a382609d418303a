// The controller's state, changed in ONE place: transition(from, to) checks that the current phase
// is one of `from` (grpc-js subchannel.transitionToState style) and returns false otherwise, so a
// late event (a Parked after the job failed, a second loss while re-forming) cannot move the job
// backwards. Every transition is also told to the adapter (StateChanged: the public JobState).
import type { JobState } from '../api';
import { Phase } from './api';

const PUBLIC_STATE: Record<Phase, JobState> = {
  [Phase.Rendezvous]: 'rendezvous',
  [Phase.Syncing]: 'running',
  [Phase.Training]: 'running',
  [Phase.Reforming]: 'running',
  [Phase.Stopping]: 'stopping',
  [Phase.Finished]: 'finished',
  [Phase.Failed]: 'failed',
};

export function publicState(phase: Phase): JobState {
  return PUBLIC_STATE[phase];
}

export class PhaseMachine {
  private current: Phase = Phase.Rendezvous;

  constructor(private readonly onChange: (from: Phase, to: Phase) => void) {}

  get phase(): Phase {
    return this.current;
  }

  /** True when the job is over; nothing moves it again. */
  get ended(): boolean {
    return this.current === Phase.Finished || this.current === Phase.Failed;
  }

  is(...phases: Phase[]): boolean {
    return phases.includes(this.current);
  }

  /** Moves to `to` if the current phase is one of `from`; returns whether it did. */
  transition(from: readonly Phase[], to: Phase): boolean {
    if (!from.includes(this.current)) return false;
    const was = this.current;
    this.current = to;
    if (was !== to) this.onChange(was, to);
    return true;
  }
}
