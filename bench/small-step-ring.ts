// Small steps, the ring alone: what an all-reduce of a tiny model's gradients (2,437 float32, the
// MLP 4-64-32-1 of bench/small-step.ts plus its control slots) adds to a training step at N=2, with
// the compute simulated (each rank spins COMPUTE us plus an independent random 0..JITTER us, the skew
// between ranks that real steps have). Variants run in interleaved blocks in the same two processes
// (a new ring generation per block), so a busy minute on a shared machine hits all of them:
//   handshake+ring  one pull per collective, sent when it starts; the two-round ring (grpc's path before)
//   handshake   one pull per collective, sent when it starts; 'auto' (the N=2 exchange, one hop)
//   early       the next step's pull sent when an all-reduce ends (early-pull.ts)
//   early+ring  the same with the two-round ring instead of the N=2 exchange (algorithm 'ring')
// Per variant, medians over all blocks: stepUs (compute + all-reduce), allreduceUs (the wait for the
// peer included), and CPU us per step of the rank (the spin
// included). One JSON line per (transport, variant), then a summary with the ratios to 'handshake'.
//   node --import tsx bench/small-step-ring.ts [--transport both] [--tls both] [--blocks 6] [--steps 300]
//     [--compute-us 1500] [--jitter-us 400]
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createRingCollective, startPeerServer } from '../packages/worker/src/collective/index';
import { applyHeapGrowth } from '../packages/worker/src/heap-growth';
import { applyPretenuring } from '../packages/worker/src/pretenuring';
import { fileRendezvous } from '../test/harness/file-rendezvous';
import { createCertificateAuthority } from '../packages/shared/src/security/certificates';
import { issueRankTls, median, rankSecurity, runRankProcess, type RankTls } from './bench-ranks';

const SELF = fileURLToPath(import.meta.url);
const ELEMS = 2437;

type Transport = 'grpc' | 'tcp';
interface Variant {
  name: string;
  earlyPull: boolean;
  algorithm: 'auto' | 'ring';
}
const VARIANTS: Variant[] = [
  { name: 'handshake+ring', earlyPull: false, algorithm: 'ring' },
  { name: 'handshake', earlyPull: false, algorithm: 'auto' },
  { name: 'early', earlyPull: true, algorithm: 'auto' },
  { name: 'early+ring', earlyPull: true, algorithm: 'ring' },
];

interface RankConfig {
  dir: string;
  rank: number;
  transport: Transport;
  tls?: RankTls;
  blocks: number;
  steps: number;
  warmup: number;
  computeUs: number;
  jitterUs: number;
}

interface Sample {
  variant: string;
  stepUs: number[];
  allreduceUs: number[];
  cpuUsPerStep: number;
}

function spin(us: number): void {
  const end = performance.now() + us / 1000;
  while (performance.now() < end) { /* simulated compute */ }
}

async function rank(cfg: RankConfig): Promise<void> {
  applyHeapGrowth({ transport: cfg.transport, worldSize: 2, gradientBytes: ELEMS * 4 }); // as a dtrain worker does
  applyPretenuring();
  const security = rankSecurity(cfg.tls);
  const server = await startPeerServer({ host: '127.0.0.1', port: 0, security });
  const ring = await fileRendezvous(cfg.dir, cfg.rank, 2, server.address);
  const buffer = new Float32Array(ELEMS);
  const out: Sample[] = [];
  let generation = 0;
  for (let b = 0; b < cfg.blocks; b++) {
    for (const v of VARIANTS) {
      generation += 1;
      const collective = createRingCollective(server, {
        jobId: 'small-step-ring', generation, rank: cfg.rank, worldSize: 2, ring, chunkBytes: 1 << 20, timeoutMs: 60_000,
        transport: cfg.transport, security, earlyPull: v.earlyPull, algorithm: v.algorithm,
      });
      const sample: Sample = { variant: v.name, stepUs: [], allreduceUs: [], cpuUsPerStep: 0 };
      let cpu0 = process.cpuUsage();
      for (let s = 0; s < cfg.warmup + cfg.steps; s++) {
        if (s === cfg.warmup) cpu0 = process.cpuUsage();
        const t0 = performance.now();
        spin(cfg.computeUs + Math.random() * cfg.jitterUs);
        buffer.fill(cfg.rank + 1);
        buffer[s % ELEMS] = 0.5;
        const t1 = performance.now();
        await collective.allReduceSum(buffer, s);
        const t2 = performance.now();
        const expect = buffer[s % ELEMS] === 1 && buffer[(s + 1) % ELEMS] === 3;
        if (!expect) throw new Error(`wrong sum at step ${s} (${v.name})`);
        if (s >= cfg.warmup) {
          sample.stepUs.push((t2 - t0) * 1000);
          sample.allreduceUs.push((t2 - t1) * 1000);
        }
      }
      const cpu = process.cpuUsage(cpu0);
      sample.cpuUsPerStep = (cpu.user + cpu.system) / cfg.steps;
      out.push(sample);
      await collective.close();
      // Both ranks finish a block before the next generation starts (a file barrier).
      await fileRendezvous(join(cfg.dir, `g${generation}`), cfg.rank, 2, 'x');
    }
  }
  await server.close();
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

async function runPair(transport: Transport, tls: boolean, o: Omit<RankConfig, 'dir' | 'rank' | 'transport' | 'tls'>): Promise<Sample[][]> {
  const dir = mkdtempSync(join(tmpdir(), 'dtrain-small-ring-'));
  const ca = tls ? await createCertificateAuthority() : null;
  try {
    const ranks = [0, 1].map(async (r) => {
      const cfg: RankConfig = { ...o, dir, rank: r, transport, tls: ca ? await issueRankTls(ca, r) : undefined };
      const [line] = await runRankProcess({ script: SELF, flag: '--rank', config: cfg, label: `rank ${r}` });
      return JSON.parse(line) as Sample[];
    });
    return await Promise.all(ranks);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rank: { type: 'string' },
      transport: { type: 'string', default: 'both' },
      tls: { type: 'string', default: 'both' },
      blocks: { type: 'string', default: '6' },
      steps: { type: 'string', default: '300' },
      warmup: { type: 'string', default: '30' },
      'compute-us': { type: 'string', default: '1500' },
      'jitter-us': { type: 'string', default: '400' },
    },
  });
  if (values.rank) return rank(JSON.parse(values.rank) as RankConfig);
  const transports: Transport[] = values.transport === 'both' ? ['grpc', 'tcp'] : [values.transport as Transport];
  const tlsModes = values.tls === 'both' ? [true, false] : [values.tls === 'mtls'];
  const o = {
    blocks: Number(values.blocks), steps: Number(values.steps), warmup: Number(values.warmup),
    computeUs: Number(values['compute-us']), jitterUs: Number(values['jitter-us']),
  };
  const summary: Record<string, number> = {};
  for (const tls of tlsModes) {
    for (const transport of transports) {
      const perRank = await runPair(transport, tls, o);
      const base: Record<string, number> = {};
      for (const v of VARIANTS) {
        const samples = perRank.flat().filter((s) => s.variant === v.name);
        const stepUs = median(samples.flatMap((s) => s.stepUs));
        const line = {
          bench: 'small-step-ring', transport, tls, variant: v.name, elems: ELEMS, computeUs: o.computeUs, jitterUs: o.jitterUs,
          stepUs: Math.round(stepUs), allreduceUs: Math.round(median(samples.flatMap((s) => s.allreduceUs))),
          cpuUsPerStep: Math.round(median(samples.map((s) => s.cpuUsPerStep))), loadavg: Math.round(loadavg()[0] * 100) / 100,
        };
        base[v.name] = line.allreduceUs;
        process.stdout.write(`${JSON.stringify(line)}\n`);
        summary[`${transport}${tls ? '' : '_insecure'}_${v.name}_allreduceUs`] = line.allreduceUs;
      }
      summary[`${transport}${tls ? '' : '_insecure'}_earlyOverHandshake`] = Math.round((base.early / base.handshake) * 1000) / 1000;
    }
  }
  process.stdout.write(`${JSON.stringify({ bench: 'small-step-ring', summary: true, ...summary })}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${String((err as Error)?.stack ?? err)}\n`);
  process.exit(1);
});
