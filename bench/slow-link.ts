// All-reduce over a rate-limited link: two ranks in their own network namespaces joined by a veth
// pair, each direction shaped with `tc qdisc ... tbf rate R` (netem is not available here). For each
// link rate, transport and wire format (float32 / fp16) it prints one JSON line with busbw and
// busbw / link rate, showing where fp16 compression pays off (a slow link) and where it does not
// (a fast one, where encoding costs CPU). Needs root (ip netns); namespaces are named net-*,
// addresses 10.9.0.1/2, and are removed afterwards even on failure.
//   node --import tsx bench/slow-link.ts [--rates 0.5gbit,1gbit,4gbit] [--size-mb 16] [--iters 5]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { WorkerConfig, WorkerResult } from './allreduce';
import { median, runRankProcess } from './bench-ranks';

const ALLREDUCE = fileURLToPath(new URL('./allreduce.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NS = ['net-sl-a', 'net-sl-b'] as const;
const VETH = ['net-sl-va', 'net-sl-vb'] as const;
const ADDR = ['10.9.0.1', '10.9.0.2'] as const;
const MB = 1 << 20;

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: 'pipe' });
}

function cleanup(): void {
  for (const ns of NS) {
    try {
      ip('netns', 'del', ns);
    } catch {
      // not there
    }
  }
}

function setUp(): void {
  cleanup();
  for (const ns of NS) ip('netns', 'add', ns);
  ip('link', 'add', VETH[0], 'netns', NS[0], 'type', 'veth', 'peer', 'name', VETH[1], 'netns', NS[1]);
  for (const i of [0, 1]) {
    ip('-n', NS[i], 'addr', 'add', `${ADDR[i]}/24`, 'dev', VETH[i]);
    ip('-n', NS[i], 'link', 'set', VETH[i], 'up');
    ip('-n', NS[i], 'link', 'set', 'lo', 'up');
  }
}

/** Shapes both directions (each veth end's egress) to `rate`, e.g. '1gbit'. */
function shape(rate: string): void {
  for (const i of [0, 1]) {
    execFileSync('ip', ['netns', 'exec', NS[i], 'tc', 'qdisc', 'replace', 'dev', VETH[i], 'root', 'tbf', 'rate', rate, 'burst', '512kb', 'latency', '50ms'], { stdio: 'pipe' });
  }
}

function rateGbps(rate: string): number {
  const m = /^([\d.]+)(gbit|mbit)$/.exec(rate);
  if (!m) throw new Error(`rate must look like 1gbit or 500mbit, got ${rate}`);
  return m[2] === 'gbit' ? Number(m[1]) : Number(m[1]) / 1000;
}

async function runPair(sizeMB: number, iters: number, transport: 'grpc' | 'tcp', compression: 'none' | 'fp16'): Promise<WorkerResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'dtrain-slowlink-'));
  try {
    const runs = [0, 1].map(async (rank) => {
      const cfg: WorkerConfig = {
        dir, rank, worldSize: 2, sizesMB: [sizeMB], warmup: 2, iters, chunkBytes: MB, compression, transport,
        algorithm: 'auto', host: ADDR[rank],
      };
      const lines = await runRankProcess({
        script: ALLREDUCE, flag: '--worker', config: cfg, label: `slow-link rank ${rank}`, wrapper: ['ip', 'netns', 'exec', NS[rank]],
        cwd: ROOT,
      });
      return JSON.parse(lines[lines.length - 1]) as WorkerResult;
    });
    return await Promise.all(runs);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rates: { type: 'string', default: '0.5gbit,1gbit,4gbit' },
      'size-mb': { type: 'string', default: '16' },
      iters: { type: 'string', default: '5' },
      transport: { type: 'string', default: 'both' },
    },
  });
  const sizeMB = Number(values['size-mb']);
  const iters = Number(values.iters);
  const transports: Array<'grpc' | 'tcp'> = values.transport === 'both' ? ['grpc', 'tcp'] : [values.transport as 'grpc' | 'tcp'];
  const onSignal = (): void => {
    cleanup();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  setUp();
  try {
    for (const rate of values.rates.split(',')) {
      shape(rate);
      for (const transport of transports) for (const compression of ['none', 'fp16'] as const) {
        const results = await runPair(sizeMB, iters, transport, compression);
        const iterSeconds = results[0].seconds.map((_, i) => Math.max(...results.map((r) => r.seconds[i])));
        const seconds = median(iterSeconds);
        // N=2: busbw = algbw. Bytes are the float32 buffer's, whatever went on the wire.
        const busbw = (sizeMB * MB) / seconds / 1e9;
        const linkGBps = rateGbps(rate) / 8;
        process.stdout.write(`${JSON.stringify({
          bench: 'slow-link', n: 2, sizeMB, rate, linkGBps: +linkGBps.toFixed(4), transport, compression,
          medianSeconds: +seconds.toFixed(4), busbwGBps: +busbw.toFixed(4), busbwOverLink: +(busbw / linkGBps).toFixed(3),
          wireBytesSentPerRank: results[0].bytesSent,
        })}\n`);
      }
    }
  } finally {
    cleanup();
  }
}

main().catch((err: unknown) => {
  cleanup();
  process.stderr.write(`${String((err as Error)?.stack ?? err)}\n`);
  process.exit(1);
});
