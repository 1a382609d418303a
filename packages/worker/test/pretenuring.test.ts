// V8's allocation-site pretenuring, which a worker turns off: the setting parsed from the environment, and
// that V8 really stops pretenuring once applyPretenuring runs (read back from V8 in a child process).
// The child reproduces what happened to training steps: a site whose objects all survived gets tenured,
// and then its short-lived objects, born in the old generation, keep the young arrays they point to alive
// through every scavenge until a mark-compact. --trace-gc-nvp prints each GC and what a scavenge promoted.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PRETENURING_ENV, pretenuringOff } from '../src/pretenuring';

const MODULE = fileURLToPath(new URL('../src/pretenuring.ts', import.meta.url));

/** Bytes promoted by the scavenges of the second phase, and the mark-compacts it ran, in a fresh process. */
function promotedInChild(env: Record<string, string>): { line: string; promoted: number; markCompacts: number } {
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
  const args = ['--max-semi-space-size=1', '--trace-gc-nvp', '--import', 'tsx', '-e', script];
  const r = spawnSync(process.execPath, args, {
    env: childEnv, encoding: 'utf8', maxBuffer: 64 << 20,
  });
  expect(r.status, r.stderr).toBe(0);
  let phase2 = false;
  let promoted = 0;
  let markCompacts = 0;
  let line = '';
  for (const l of r.stdout.split('\n')) {
    if (l.startsWith('LINE ')) line = l.slice(5);
    else if (l === 'PHASE2') phase2 = true;
    else if (l.startsWith('END ')) {
      expect(Number(l.slice(4))).toBe(16 * 3_000_000);
      phase2 = false;
    } else if (phase2 && l.includes(' gc=s ')) promoted += Number(/\bpromoted=(\d+)/.exec(l)?.[1]);
    else if (phase2 && l.includes(' gc=mc ')) markCompacts += 1;
  }
  return { line, promoted, markCompacts };
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

  it('applied, V8 stops promoting what dead short-lived objects of a tenured site point to', () => {
    const off = promotedInChild({});
    expect(off.line).toBe(
      "V8 pretenuring: off (a pretenured site would keep every step's tensors alive until a mark-compact)");
    // V8's own: the ~450 MB of boxes and arrays reach the old generation (promoted by the scavenges, or
    // allocated there once the array's site is tenured too) and mark-compact after mark-compact follows.
    const own = promotedInChild({ [PRETENURING_ENV]: '0' });
    expect(own.line).toBe("V8 pretenuring: V8's own (DTRAIN_PRETENURING_OFF=0)");
    expect(own.markCompacts, JSON.stringify(own)).toBeGreaterThanOrEqual(5);
    // Off: the scavenges free them; what they promote is the loop's few live objects (0 mark-compacts in
    // every run we made; one is allowed for a start-up GC landing in the phase).
    expect(off.markCompacts, JSON.stringify(off)).toBeLessThanOrEqual(1);
    expect(off.promoted, JSON.stringify(off)).toBeLessThan(10 << 20);
  });
});
