// Step reports of small models come every 1-5 ms; one gRPC message each costs the worker and, more,
// the coordinator (decode, dispatch) CPU that the workers need on a small machine. So consecutive
// step reports travel together: a batch leaves once its oldest report is STEP_REPORT_BATCH_MS old
// (checked on every report, and by a timer for the last ones), when it is full, and before anything
// else the worker sends (an epoch report, a checkpoint, an error, Parked...), so the coordinator sees
// everything in the order it happened. Steps slower than the window go out one by one, as before.
import type { StepReport } from '@dtrain/shared/proto';

export const STEP_REPORT_BATCH_MS = 20;
export const STEP_REPORT_BATCH_MAX = 64;

/** The generation and rank a report was made in: a batch never mixes two. */
export interface ReportEnvelope {
  generation: number;
  rank: number;
}

export class StepReportBatch {
  private reports: StepReport[] = [];
  private envelope: ReportEnvelope | null = null;
  private oldestAtMs = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly deliver: (reports: StepReport[], envelope: ReportEnvelope) => void,
    private readonly windowMs = STEP_REPORT_BATCH_MS,
    private readonly max = STEP_REPORT_BATCH_MAX,
    private readonly now: () => number = () => performance.now(),
  ) {}

  add(report: StepReport, envelope: ReportEnvelope): void {
    const e = this.envelope;
    if (e && (e.generation !== envelope.generation || e.rank !== envelope.rank)) this.flush();
    if (this.reports.length === 0) {
      this.envelope = { ...envelope };
      this.oldestAtMs = this.now();
      this.timer = setTimeout(() => this.flush(), this.windowMs);
      this.timer.unref();
    }
    this.reports.push(report);
    if (this.reports.length >= this.max || this.now() - this.oldestAtMs >= this.windowMs) this.flush();
  }

  /** Sends what is pending now (before any other message, and when the link closes). */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.reports.length === 0 || !this.envelope) return;
    const reports = this.reports;
    const envelope = this.envelope;
    this.reports = [];
    this.envelope = null;
    this.deliver(reports, envelope);
  }

  /** Drops what is pending (the session it was meant for is gone). */
  discard(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.reports = [];
    this.envelope = null;
  }
}
