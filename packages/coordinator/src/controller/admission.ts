// Admission (docs/elastic.md "Membership"): a Join is answered at once (refused when the job is over
// or full), the admitted worker must open its session within the rendezvous timeout or it is
// dropped, and a session is accepted only for this job from an admitted worker.
import { publicState } from './phase';
import type { Envelope, JoinInfo } from './api';
import { TIMER, type JobContext } from './context';

export class Admission {
  constructor(private readonly c: JobContext) {}

  onJoin(token: number, join: JoinInfo): void {
    const c = this.c;
    if (c.machine.ended) {
      c.emit({ type: 'ReplyJoin', token, ok: false, reason: `job ${c.jobId} is ${publicState(c.machine.phase)}` });
      return;
    }
    const a = c.members.admit(join, c.now);
    if (!a.ok) {
      c.log(`refused a join from ${join.hostname} pid ${join.pid}: ${a.reason}`);
      c.emit({ type: 'ReplyJoin', token, ok: false, reason: a.reason });
      return;
    }
    c.emit({ type: 'ReplyJoin', token, ok: true, jobId: c.jobId, workerId: a.record.id });
    if (!a.record.session) c.emit({ type: 'SetTimer', name: TIMER.session(a.record.id), ms: c.o.rendezvousTimeoutMs });
  }

  onSessionOpened(from: Envelope, jobId: string, backend: string, metricsAddress: string): void {
    const c = this.c;
    const rec = c.members.get(from.workerId);
    const refuse = (reason: string) => {
      c.log(`refused a session: ${reason}`);
      c.emit({ type: 'CloseSession', workerId: from.workerId, reason });
    };
    if (jobId !== c.jobId) return refuse(`session from job '${jobId}', this coordinator runs '${c.jobId}'`);
    if (!rec || rec.status === 'gone') return refuse(`worker '${from.workerId}' is not admitted (Join first)`);
    if (c.machine.ended) return refuse(`job ${c.jobId} is over`);
    rec.session = true;
    rec.lastSeenMs = c.now;
    if (backend) rec.backend = backend;
    c.emit({ type: 'ClearTimer', name: TIMER.session(rec.id) });
    const metrics = metricsAddress || rec.join.metricsAddress;
    const at = metrics ? `, metrics http://${metrics}/metrics` : '';
    const shownBackend = rec.backend || 'unknown';
    c.log(`worker ${rec.id} session open (${rec.join.hostname} pid ${rec.join.pid}, backend ${shownBackend}${at})`);
  }

  /** The admitted worker opened no session in time: dropped (it was in no generation). */
  onSessionTimer(workerId: string): void {
    const c = this.c;
    const rec = c.members.get(workerId);
    if (rec && !rec.session && rec.status === 'admitted') {
      rec.status = 'gone';
      c.log(`worker ${rec.id} joined but opened no session within ${c.o.rendezvousTimeoutMs} ms; dropped`);
    }
  }
}
