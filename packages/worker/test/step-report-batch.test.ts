// Step reports travel in batches: by age of the oldest report, by count, before any other message,
// never across a generation change, and the last ones by timer; none is lost or reordered.
import { describe, expect, it } from 'vitest';
import type { StepReport } from '@dtrain/shared/proto';
import { StepReportBatch, type ReportEnvelope } from '../src/step-report-batch';

const report = (globalStep: number): StepReport => ({ globalStep, loss: 1 / (globalStep + 1), samples: 8 });

function recorder(windowMs = 20, max = 4) {
  let t = 0;
  const sent: { steps: number[]; envelope: ReportEnvelope }[] = [];
  const batch = new StepReportBatch((reports, envelope) => sent.push({ steps: reports.map((r) => Number(r.globalStep)), envelope }),
    windowMs, max, () => t);
  return { batch, sent, advance: (ms: number) => { t += ms; } };
}

describe('StepReportBatch', () => {
  it('sends once the oldest report is a window old, and at most `max` per message', () => {
    const { batch, sent, advance } = recorder(20, 4);
    const g1 = { generation: 1, rank: 0 };
    for (let s = 0; s < 3; s++) { batch.add(report(s), g1); advance(5); }
    expect(sent).toEqual([]);
    batch.add(report(3), g1); // 15 ms old, but the 4th: full
    expect(sent).toEqual([{ steps: [0, 1, 2, 3], envelope: g1 }]);
    batch.add(report(4), g1);
    advance(25);
    batch.add(report(5), g1); // step 4 is 25 ms old
    expect(sent.at(-1)).toEqual({ steps: [4, 5], envelope: g1 });
    batch.discard();
  });

  it('flushes in order before other messages, and never mixes generations', () => {
    const { batch, sent } = recorder(1_000, 64);
    batch.add(report(7), { generation: 2, rank: 1 });
    batch.add(report(8), { generation: 2, rank: 1 });
    batch.add(report(9), { generation: 3, rank: 0 });
    expect(sent).toEqual([{ steps: [7, 8], envelope: { generation: 2, rank: 1 } }]);
    batch.flush();
    expect(sent.at(-1)).toEqual({ steps: [9], envelope: { generation: 3, rank: 0 } });
    batch.flush();
    expect(sent).toHaveLength(2);
  });

  it('sends the last reports by timer when no further report comes', async () => {
    const sent: number[][] = [];
    const batch = new StepReportBatch((reports) => sent.push(reports.map((r) => Number(r.globalStep))), 15, 64);
    batch.add(report(0), { generation: 1, rank: 0 });
    batch.add(report(1), { generation: 1, rank: 0 });
    expect(sent).toEqual([]);
    await new Promise((r) => setTimeout(r, 60));
    expect(sent).toEqual([[0, 1]]);
  });

  it('discard drops what is pending (its session is gone)', async () => {
    const { batch, sent } = recorder(10, 64);
    batch.add(report(0), { generation: 1, rank: 0 });
    batch.discard();
    await new Promise((r) => setTimeout(r, 30));
    batch.flush();
    expect(sent).toEqual([]);
  });
});
