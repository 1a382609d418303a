// V8's allocation-site pretenuring, which a worker turns off: the setting parsed from the environment, and
// that V8 really stops pretenuring once applyPretenuring runs (read back from V8 in a child process).
// The child reproduces what happened to training steps: a site whose objects all survived gets tenured,
// and then its short-lived objects, born in the old generation, keep the young arrays they point to alive
// through every scavenge until a mark-compact. --trace-gc-nvp prints each GC and what a scavenge promoted;
// --trace-pretenuring-statistics prints each decision V8 makes about a site ("undecided => tenure").
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PRETENURING_ENV, pretenuringOff } from '../src/pretenuring';

const MODULE = fileURLToPath(new URL('../src/pretenuring.ts', import.meta.url));

interface ChildGc {
  line: string;
  /** Decisions to tenure a site made after applyPretenuring ran. */
  tenureDecisions: number;
  /** Bytes promoted by the scavenges of the second phase. */
  promoted: number;
  /** Mark-compacts during the second phase. */
  markCompacts: number;
}

/** What V8 decided and what the GCs of the second phase did, in a fresh process. */
function gcInChild(env: Record<string, string>): ChildGc {
  const script = `import(${JSON.stringify(MODULE)}).then((m) => {
    console.log('LINE ' + m.applyPretenuring());
    function box(v) { return { v, next: null }; }
    const keep = [];
    for (let i = 0; i < 300000; i++) keep.push(box(i)); // every box survives: V8 tenures the site
    keep.length = 0;
    console.log('PHASE2');
    let sink = 0;
    for (let i = 0; i < 3000000; i++) { // each box dies after one iteration, holding a young array
      const b = box(i); b.next = new Array(16).fill(i); globalThis.last = b; sink += b.next.length;
    }
    console.log('END ' + sink);
  });`;
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  if (!(PRETENURING_ENV in env)) delete childEnv[PRETENURING_ENV];
  // A 1 MB semi-space: V8 decides to tenure only in a scavenge of a full-sized new space, which a worker
  // reaches after warm-up; here it is full-sized from the start.
  const args = ['--max-semi-space-size=1', '--trace-gc-nvp', '--trace-pretenuring-statistics',
    '--import', 'tsx', '-e', script];
  const r = spawnSync(process.execPath, args, {
    env: childEnv, encoding: 'utf8', maxBuffer: 64 << 20,
  });
  expect(r.status, r.stderr).toBe(0);
  let applied = false;
  let phase2 = false;
  let tenureDecisions = 0;
  let promoted = 0;
  let markCompacts = 0;
  let line = '';
  for (const l of r.stdout.split('\n')) {
    if (l.startsWith('LINE ')) {
      line = l.slice(5);
      applied = true;
    } else if (applied && /pretenuring: AllocationSite.*=> tenure$/.test(l)) tenureDecisions += 1;
    else if (l === 'PHASE2') phase2 = true;
    else if (l.startsWith('END ')) {
      expect(Number(l.slice(4))).toBe(16 * 3_000_000);
      phase2 = false;
    } else if (phase2 && l.includes(' gc=s ')) promoted += Number(/\bpromoted=(\d+)/.exec(l)?.[1]);
    else if (phase2 && l.includes(' gc=mc ')) markCompacts += 1;
  }
  return { line, tenureDecisions, promoted, markCompacts };
}

describe('allocation-site pretenuring', () => {
  it('is off unless DTRAIN_PRETENURING_OFF=0, and a malformed value is an error naming the variable', () => {
    expect(pretenuringOff({})).toBe(true);
    expect(pretenuringOff({ DTRAIN_PRETENURING_OFF: '' })).toBe(true);
    expect(pretenuringOff({ DTRAIN_PRETENURING_OFF: '1' })).toBe(true);
    expect(pretenuringOff({ DTRAIN_PRETENURING_OFF: '0' })).toBe(false);
    expect(() => pretenuringOff({ DTRAIN_PRETENURING_OFF: 'yes' })).toThrow(new RangeError(
      "DTRAIN_PRETENURING_OFF must be 1 (pretenuring off, the default) or 0 (V8's own), got 'yes'"));
  });

  it('applied, V8 tenures no site and stops promoting what dead short-lived objects of a tenured site point to',
    () => {
      const off = gcInChild({});
      expect(off.line).toBe(
        "V8 pretenuring: off (a pretenured site would keep every step's tensors alive until a mark-compact)");
      // V8's own decides to tenure the boxes' site in every run (2-17 decisions in 22 runs, 2 cores busy with
      // other work or not). What follows is up to V8's timing: in most runs the ~450 MB of boxes and arrays
      // reach the old generation and 27-34 mark-compacts follow; in 3 of 28 runs on a loaded machine the
      // optimized loop was compiled before the decision and allocated young (1 mark-compact). So the number
      // of mark-compacts is printed, not asserted, for V8's own.
      const own = gcInChild({ [PRETENURING_ENV]: '0' });
      expect(own.line).toBe("V8 pretenuring: V8's own (DTRAIN_PRETENURING_OFF=0)");
      expect(own.tenureDecisions, JSON.stringify(own)).toBeGreaterThanOrEqual(1);
      console.log(`pretenuring: V8's own ${JSON.stringify(own)}, off ${JSON.stringify(off)}`);
      // Off: no site is ever tenured, and the scavenges free the boxes; what they promote is the loop's few
      // live objects (0 mark-compacts in every run we made; one is allowed for a start-up GC in the phase).
      expect(off.tenureDecisions, JSON.stringify(off)).toBe(0);
      expect(off.markCompacts, JSON.stringify(off)).toBeLessThanOrEqual(1);
      expect(off.promoted, JSON.stringify(off)).toBeLessThan(10 << 20);
    });
});
