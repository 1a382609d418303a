// Ring all-reduce benchmark: N real processes on loopback, several buffer sizes, against Gloo
// (PyTorch, /work/shared/anchors/gloo_allreduce.py) and the raw TCP ceiling measured in the same
// run. One JSON line per (N, transport, compression, size) on stdout:
//   {"n","sizeMB","transport","medianSeconds","algbwGBps","busbwGBps","glooBusbwGBps","busbwOverGloo",
//    "secondsOverGloo","tcpGBps","busbwOverTcp",...}
// --chunk-kb N|auto (default auto: the chunk size the coordinator gives a world of N ranks on this host,
// collective-chunking.ts; every line has chunkKB). --transport grpc|tcp|both (default both).
// Gloo is skipped (fields null) when torch is missing.
// algbw = bytes / time; busbw = algbw * 2(N-1)/N (the per-link traffic of a ring, as NCCL/Gloo report).
// Two times per line: medianSeconds is the median over iterations of the slowest rank's time (busbwGBps),
// rank0MedianSeconds the median of rank 0's own times (rank0BusbwGBps), which is what the Gloo anchor
// reports for Gloo; busbwOverGloo and secondsOverGloo compare those like for like, and
// busbwOverGlooSlowestRank gives the stricter ratio (what earlier runs reported as busbwOverGloo).
// --gloo-cpu also runs bench/gloo-cpu-anchor.py: Gloo's CPU per rank per all-reduce, measured as the
// ranks here measure theirs (glooCpuSecondsPerRankPerIter, cpuOverGloo), which a shared machine moves
// far less than time.
// Also prints the gRPC transport alone (one Pull stream, same codec/options, no reduction).
// --compression none|fp16|both (default both) runs each ring with that wire format; every line has a
// `compression` field. busbw is always computed on the float32 buffer size (what the user
// all-reduces), so fp16 shows up as a higher busbw; wireBytesSentPerRank is what went on the wire.
// --barrier: a one-element all-reduce before each timed one, so all ranks start it together after
// their refill, as the Gloo anchor does (dist.barrier() before each timed all_reduce); lines get
// "barrier": true. Without it, a rank's time includes waiting for ranks still refilling their buffer.
// --tls none|mtls|both (default both): every line has a `tls` field (true: mutual TLS + join token,
// as `dtrain launch` runs by default); TLS lines also carry busbwOverPlaintext and cpuOverPlaintext
// (CPU seconds per rank per all-reduce, which a shared machine distorts far less than wall time).
// Every line also carries gcMsPerRankPerIter, majorGcsPerRankPerIter and minorFaultsPerRankPerIter: V8's
// pauses, mark-compacts and fresh-page faults per iteration, which tell a slow run from a fast one. Ranks
// apply the heap growth a dtrain worker would for a model of each size (heap-growth.ts).
// The ranks start with the allocator settings `dtrain launch` gives its workers (allocator-env.ts); Gloo
// runs as a PyTorch user runs it, with glibc's defaults, unless --gloo-allocator tuned gives it the same
// settings (every line says which: `glooAllocator`).
// Warm-up: at least --warmup iterations, and at least --warmup-mb (256) MB through each rank per size, so
// every size is timed in steady state: a process's first ~100 MB of grpc traffic grows its heap onto fresh
// pages (grpc-js allocates each message), which costs 15-20 us per 4 KiB page on this VM.
//   npm run bench:allreduce                  (all of it, ~1-2 minutes)
//   node --import tsx bench/allreduce.ts --n 2 --sizes 16,64 --iters 8 --chunk-kb 1024 --compression fp16
//   node --import tsx bench/allreduce.ts --transport tcp --compression none --skip-ceilings --no-gloo
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { constants, performance, PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { codecStats, encodeChunkId, type IncomingChunk } from '../packages/worker/src/collective/gradient-chunk-codec';
import { PEER_CHANNEL_OPTIONS, PEER_SERVER_OPTIONS, pullMethod } from '../packages/worker/src/collective/peer-service';
import { createRingCollective, startPeerServer } from '../packages/worker/src/collective/index';
import { f32AddKernel } from '../packages/worker/src/collective/f32-add-kernel';
import { measureHttp2Throughput } from './http2-throughput';
import { measureTcpThroughput } from './tcp-throughput';
import { fileRendezvous } from '../test/harness/file-rendezvous';
import { createCertificateAuthority } from '../packages/shared/src/security/certificates';
import { withWorkerAllocatorEnv } from '../packages/shared/src/process/allocator-env';
import { applyHeapGrowth } from '../packages/worker/src/heap-growth';
import { applyPretenuring } from '../packages/worker/src/pretenuring';
import { issueRankTls, localWorldChunkBytes, median, rankSecurity, runRankProcess, type RankTls } from './bench-ranks';

const SELF = fileURLToPath(import.meta.url);
const MB = 1 << 20;

interface WorkerConfig {
  dir: string;
  rank: number;
  worldSize: number;
  sizesMB: number[];
  warmup: number;
  /** Warm-up also lasts until this many MB went through each rank per size (absent: 0). */
  warmupMB?: number;
  iters: number;
  chunkBytes: number;
  compression: Compression;
  /** Mutual TLS material and join token of this rank (absent: plaintext). */
  tls?: RankTls;
  transport: Transport;
  algorithm: 'auto' | 'ring';
  /** Interface the rank binds and advertises (default 127.0.0.1; the slow-link bench uses veths). */
  host?: string;
  /** A one-element all-reduce before each timed one, as the Gloo anchor's dist.barrier() (--barrier). */
  barrier?: boolean;
}

type Transport = 'grpc' | 'tcp';
type Compression = 'none' | 'fp16';

interface WorkerResult {
  rank: number;
  sizeMB: number;
  seconds: number[];
  bytesSent: number;
  alignedPayloads: number;
  copiedPayloads: number;
  /** Warm-up iterations before the timed ones (--warmup, or more to reach --warmup-mb). */
  warmupIters: number;
  /** CPU seconds (user + system) this rank spent per measured iteration: robust to a shared machine. */
  cpuSecondsPerIter: number;
  /** The kernel's share of it (system time: socket copies, loopback stack). */
  systemSecondsPerIter: number;
  /** V8 pause time per measured iteration, and mark-compacts (major GCs) per iteration: what tells a slow run. */
  gcMsPerIter: number;
  majorGcsPerIter: number;
  /** Minor page faults per measured iteration: a heap growing onto fresh pages costs ~15-20 us each on this VM. */
  minorFaultsPerIter: number;
}


async function worker(cfg: WorkerConfig): Promise<void> {
  const security = rankSecurity(cfg.tls);
  // One buffer for every size, allocated before any connection as a worker's fused buffer is: the
  // transport's receive buffers then share its wasm memory, and adds copy nothing (f32-add-kernel.ts).
  const reduction = f32AddKernel().allocateReductionBuffer((Math.max(...cfg.sizesMB) * MB) / 4);
  const server = await startPeerServer({ host: cfg.host ?? '127.0.0.1', port: 0, security });
  const ring = await fileRendezvous(cfg.dir, cfg.rank, cfg.worldSize, server.address);
  const collective = createRingCollective(server, {
    jobId: 'bench', generation: 1, rank: cfg.rank, worldSize: cfg.worldSize, ring, chunkBytes: cfg.chunkBytes, timeoutMs: 60_000,
    compression: cfg.compression, transport: cfg.transport, algorithm: cfg.algorithm, security,
  });
  applyPretenuring(); // as a dtrain worker does before it trains
  let step = 0;
  for (const sizeMB of cfg.sizesMB) {
    const buffer = reduction.subarray(0, (sizeMB * MB) / 4);
    // As a dtrain worker does for a world all-reducing a model of this size.
    applyHeapGrowth({ transport: cfg.transport, worldSize: cfg.worldSize, gradientBytes: buffer.byteLength });
    const seconds: number[] = [];
    let bytesSent = 0;
    const before = { ...codecStats };
    let cpuMicros = 0;
    let systemMicros = 0;
    let faults = 0;
    const gc = { ms: 0, major: 0, timing: false };
    const gcObserver = new PerformanceObserver((list) => {
      if (!gc.timing) return;
      for (const e of list.getEntries()) {
        gc.ms += e.duration;
        const detail = (e as { detail?: unknown }).detail as { kind?: number } | undefined;
        if (detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) gc.major++;
      }
    });
    gcObserver.observe({ entryTypes: ['gc'] });
    const warmup = Math.max(cfg.warmup, Math.ceil((cfg.warmupMB ?? 0) / sizeMB));
    const token = new Float32Array(1);
    for (let i = 0; i < warmup + cfg.iters; i++) {
      buffer.fill(1);
      // --barrier: every rank starts the timed all-reduce together (after all refilled), like Gloo's anchor.
      if (cfg.barrier) await collective.allReduceSum(token, step++);
      const cpu0 = process.cpuUsage();
      const faults0 = process.resourceUsage().minorPageFault;
      gc.timing = i >= warmup;
      const t0 = performance.now();
      const stats = await collective.allReduceSum(buffer, step++);
      const t = (performance.now() - t0) / 1000;
      if (buffer[0] !== cfg.worldSize || buffer[buffer.length - 1] !== cfg.worldSize) throw new Error(`wrong sum at step ${step}`);
      if (i >= warmup) {
        const cpu = process.cpuUsage(cpu0);
        cpuMicros += cpu.user + cpu.system;
        systemMicros += cpu.system;
        faults += process.resourceUsage().minorPageFault - faults0;
        seconds.push(t);
        bytesSent = stats.bytesSent;
      }
    }
    // GC entries are delivered asynchronously: let the last iteration's arrive before reading them.
    await new Promise((resolve) => setImmediate(resolve));
    gcObserver.disconnect();
    const result: WorkerResult = {
      rank: cfg.rank, sizeMB, seconds, bytesSent, warmupIters: warmup,
      alignedPayloads: codecStats.alignedPayloads - before.alignedPayloads,
      copiedPayloads: codecStats.copiedPayloads - before.copiedPayloads,
      cpuSecondsPerIter: cpuMicros / 1e6 / cfg.iters,
      systemSecondsPerIter: systemMicros / 1e6 / cfg.iters,
      gcMsPerIter: gc.ms / cfg.iters,
      majorGcsPerIter: gc.major / cfg.iters,
      minorFaultsPerIter: faults / cfg.iters,
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  }
  await collective.close();
  await server.close();
}

/**
 * The transport alone: one Pull stream of `bytes` in `chunkBytes` GradientChunks from this process
 * to a child, same codec and channel options as the ring, no reduction. A second ceiling, between
 * raw TCP and the all-reduce, that shows what grpc-js itself costs.
 */
async function grpcOneWayServer(bytes: number, chunkBytes: number): Promise<number> {
  const server = new grpc.Server(PEER_SERVER_OPTIONS);
  const data = new Float32Array(chunkBytes / 4).fill(1);
  const idBytes = encodeChunkId({ jobId: 'bench', generation: 1, step: 0, senderRank: 0 });
  server.addService({ Pull: pullMethod() }, {
    Pull: async (call: grpc.ServerWritableStream<unknown, unknown>) => {
      for (let sent = 0; sent < bytes; sent += chunkBytes) {
        if (!call.write({ idBytes, round: 0, segment: 0, offset: 0, length: data.length, data })) {
          await new Promise((resolve) => call.once('drain', resolve));
        }
      }
      call.end();
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const child = spawn(process.execPath, ['--import', 'tsx', SELF, '--grpc-client', `127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise((resolve) => child.once('exit', resolve));
  server.forceShutdown();
  return (JSON.parse(out) as { gbps: number }).gbps;
}

async function grpcOneWayClient(address: string): Promise<void> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure(), PEER_CHANNEL_OPTIONS);
  const m = pullMethod();
  let got = 0;
  let started = 0;
  await new Promise<void>((resolve, reject) => {
    const call = client.makeServerStreamRequest<Parameters<typeof m.requestSerialize>[0], IncomingChunk>(
      m.path, m.requestSerialize, m.responseDeserialize, { id: { jobId: 'bench' }, totalLength: 0 }, new grpc.Metadata(), {},
    );
    call.on('data', (c: IncomingChunk) => {
      if (got === 0) started = performance.now();
      got += c.payloadBytes;
    });
    call.on('end', () => resolve());
    call.on('error', reject);
  });
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(JSON.stringify({ gbps: got / seconds / 1e9 }));
  client.close();
}

interface GlooLine {
  world: number;
  mb: number;
  median_s: number;
  busbw_MBps: number;
}

const ANCHORS_DIR = process.env.DTRAIN_ANCHORS_DIR ?? '/work/shared/anchors';

/** Runs a Python anchor; its JSON lines, or null (the reason on stderr) when it fails, e.g. without PyTorch. */
async function runAnchor<T>(what: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<T[] | null> {
  const child = spawn('/usr/bin/python3', args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => {
    child.once('error', () => resolve(-1));
    child.once('exit', resolve);
  });
  if (code !== 0) {
    process.stderr.write(`${what} unavailable (exit ${code}): ${err.trim().split('\n').pop() ?? ''}\n`);
    return null;
  }
  return out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as T);
}

/** Gloo's all-reduce on the same machine, same sizes, now (null when PyTorch is missing). */
export function runGloo(worldSize: number, sizesMB: number[], tunedAllocator = false): Promise<GlooLine[] | null> {
  const script = join(ANCHORS_DIR, 'gloo_allreduce.py');
  const env = tunedAllocator ? withWorkerAllocatorEnv(process.env) : process.env;
  return runAnchor<GlooLine>('gloo anchor', [script, String(worldSize), ...sizesMB.map(String)], env);
}

interface GlooCpuLine {
  mb: number;
  cpu_s_per_rank_per_iter: number;
  sys_s_per_rank_per_iter: number;
}

/** Gloo's CPU per rank per all-reduce (bench/gloo-cpu-anchor.py), or null when PyTorch is missing. */
function runGlooCpu(worldSize: number, sizesMB: number[], iters: number): Promise<GlooCpuLine[] | null> {
  const script = fileURLToPath(new URL('./gloo-cpu-anchor.py', import.meta.url));
  return runAnchor<GlooCpuLine>('gloo cpu anchor', [script, String(worldSize), String(iters), ...sizesMB.map(String)]);
}

/** One ring configuration, run as worldSize processes of this script. */
type RingRun = Omit<WorkerConfig, 'dir' | 'rank' | 'tls'> & { tls: boolean };

async function runRing(run: RingRun): Promise<WorkerResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'dtrain-bench-'));
  const ca = run.tls ? await createCertificateAuthority() : null;
  try {
    const ranks = [...Array(run.worldSize).keys()].map(async (rank) => {
      const config: WorkerConfig = { ...run, dir, rank, tls: ca ? await issueRankTls(ca, rank) : undefined };
      const lines = await runRankProcess({ script: SELF, flag: '--worker', config, label: `bench rank ${rank}` });
      return lines.map((l) => JSON.parse(l) as WorkerResult);
    });
    return (await Promise.all(ranks)).flat();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export type { WorkerConfig, WorkerResult };

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      worker: { type: 'string' },
      'grpc-client': { type: 'string' },
      n: { type: 'string', default: '2,4' },
      sizes: { type: 'string', default: '1,4,16,64' },
      warmup: { type: 'string', default: '3' },
      'warmup-mb': { type: 'string', default: '256' },
      iters: { type: 'string', default: '8' },
      'chunk-kb': { type: 'string', default: 'auto' },
      'tcp-mb': { type: 'string', default: '256' },
      compression: { type: 'string', default: 'both' },
      tls: { type: 'string', default: 'both' },
      transport: { type: 'string', default: 'both' },
      'no-gloo': { type: 'boolean', default: false },
      'gloo-allocator': { type: 'string', default: 'default' },
      'skip-ceilings': { type: 'boolean', default: false },
      algorithm: { type: 'string', default: 'auto' },
      barrier: { type: 'boolean', default: false },
      'gloo-cpu': { type: 'boolean', default: false },
    },
  });
  if (values.worker) {
    await worker(JSON.parse(values.worker) as WorkerConfig);
    return;
  }
  if (values['grpc-client']) {
    await grpcOneWayClient(values['grpc-client']);
    return;
  }
  const sizesMB = values.sizes.split(',').map(Number);
  const compressionArg = values.compression;
  if (compressionArg !== 'none' && compressionArg !== 'fp16' && compressionArg !== 'both') {
    throw new Error(`--compression must be none, fp16 or both, got ${compressionArg}`);
  }
  const compressions: Compression[] = compressionArg === 'both' ? ['none', 'fp16'] : [compressionArg];
  if (values.tls !== 'none' && values.tls !== 'mtls' && values.tls !== 'both') throw new Error(`--tls must be none, mtls or both, got ${values.tls}`);
  const tlsModes: boolean[] = values.tls === 'both' ? [false, true] : [values.tls === 'mtls'];
  const transportArg = values.transport;
  if (transportArg !== 'grpc' && transportArg !== 'tcp' && transportArg !== 'both') {
    throw new Error(`--transport must be grpc, tcp or both, got ${transportArg}`);
  }
  const algorithm = values.algorithm === 'ring' ? 'ring' : 'auto';
  const transports: Transport[] = transportArg === 'both' ? ['grpc', 'tcp'] : [transportArg];
  // auto: what the coordinator gives a world of n ranks on this host (collective-chunking.ts).
  const chunkBytesFor = (n: number, transport: Transport): number => (values['chunk-kb'] === 'auto'
    ? localWorldChunkBytes(n, transport) : Number(values['chunk-kb']) * 1024);
  const skipCeilings = values['skip-ceilings'];
  const tcpBefore = skipCeilings ? { bytes: 0, gbps: NaN } : await measureTcpThroughput(Number(values['tcp-mb']) * MB);
  const lines: Array<Record<string, number | string | boolean | null>> = [];
  for (const n of values.n.split(',').map(Number)) {
    const gloo = values['no-gloo'] ? null : await runGloo(n, sizesMB, values['gloo-allocator'] === 'tuned');
    const wantGlooCpu = values['gloo-cpu'] && !values['no-gloo'];
    const glooCpu = wantGlooCpu ? await runGlooCpu(n, sizesMB, Number(values.iters)) : null;
    for (const transport of transports) for (const compression of compressions) for (const tls of tlsModes) {
    const chunkBytes = chunkBytesFor(n, transport);
    const results = await runRing({
      worldSize: n, sizesMB, warmup: Number(values.warmup), warmupMB: Number(values['warmup-mb']), iters: Number(values.iters),
      chunkBytes, compression, transport, algorithm, tls, barrier: values.barrier,
    });
    for (const sizeMB of sizesMB) {
      const perRank = results.filter((r) => r.sizeMB === sizeMB);
      // An iteration lasts until its slowest rank is done.
      const iterSeconds = perRank[0].seconds.map((_, i) => Math.max(...perRank.map((r) => r.seconds[i])));
      const seconds = median(iterSeconds);
      // The anchor times rank 0 only: this is the same statistic for the ring.
      const rank0Seconds = median(perRank.find((r) => r.rank === 0)?.seconds ?? iterSeconds);
      const bytes = sizeMB * MB; // the float32 buffer, whatever the wire format
      const algbw = bytes / seconds / 1e9;
      const busbw = (algbw * 2 * (n - 1)) / n;
      const rank0Busbw = ((bytes / rank0Seconds / 1e9) * 2 * (n - 1)) / n;
      const cpu = perRank.reduce((s, r) => s + r.cpuSecondsPerIter, 0) / perRank.length;
      const glooCpuLine = glooCpu?.find((l) => l.mb === sizeMB) ?? null;
      const g = gloo?.find((l) => l.mb === sizeMB) ?? null;
      const glooBusbw = g ? g.busbw_MBps / 1000 : null;
      lines.push({
        n, sizeMB, transport, compression, algorithm, tls, chunkKB: chunkBytes / 1024, iters: iterSeconds.length,
        warmupIters: perRank[0].warmupIters,
        ...(values.barrier ? { barrier: true } : {}),
        medianSeconds: +seconds.toFixed(5),
        rank0MedianSeconds: +rank0Seconds.toFixed(5),
        minSeconds: +Math.min(...iterSeconds).toFixed(5),
        algbwGBps: +algbw.toFixed(3),
        busbwGBps: +busbw.toFixed(3),
        rank0BusbwGBps: +rank0Busbw.toFixed(3),
        wireBytesSentPerRank: perRank[0].bytesSent,
        alignedPayloads: perRank.reduce((s, r) => s + r.alignedPayloads, 0),
        copiedPayloads: perRank.reduce((s, r) => s + r.copiedPayloads, 0),
        // Mean over ranks; CPU time is what TLS adds, and unlike wall time a busy machine barely moves it.
        cpuSecondsPerRankPerIter: +cpu.toFixed(5),
        systemSecondsPerRankPerIter: +(perRank.reduce((s, r) => s + r.systemSecondsPerIter, 0) / perRank.length).toFixed(5),
        gcMsPerRankPerIter: +(perRank.reduce((s, r) => s + r.gcMsPerIter, 0) / perRank.length).toFixed(3),
        majorGcsPerRankPerIter: +(perRank.reduce((s, r) => s + r.majorGcsPerIter, 0) / perRank.length).toFixed(3),
        minorFaultsPerRankPerIter: +(perRank.reduce((s, r) => s + r.minorFaultsPerIter, 0) / perRank.length).toFixed(1),
        glooMedianSeconds: g ? +g.median_s.toFixed(5) : null,
        glooBusbwGBps: glooBusbw === null ? null : +glooBusbw.toFixed(3),
        glooAllocator: values['gloo-allocator'],
        busbwOverGloo: glooBusbw === null ? null : +(rank0Busbw / glooBusbw).toFixed(3),
        busbwOverGlooSlowestRank: glooBusbw === null ? null : +(busbw / glooBusbw).toFixed(3),
        secondsOverGloo: g ? +(rank0Seconds / g.median_s).toFixed(3) : null,
        glooCpuSecondsPerRankPerIter: glooCpuLine ? +glooCpuLine.cpu_s_per_rank_per_iter.toFixed(5) : null,
        glooSystemSecondsPerRankPerIter: glooCpuLine ? +glooCpuLine.sys_s_per_rank_per_iter.toFixed(5) : null,
        cpuOverGloo: glooCpuLine ? +(cpu / glooCpuLine.cpu_s_per_rank_per_iter).toFixed(3) : null,
      });
    }
    }
  }
  if (skipCeilings) {
    for (const line of lines) process.stdout.write(`${JSON.stringify(line)}\n`);
    return;
  }
  const tcpAfter = await measureTcpThroughput(Number(values['tcp-mb']) * MB);
  const oneWayChunkBytes = chunkBytesFor(2, 'grpc');
  const grpcOneWay = await grpcOneWayServer(Number(values['tcp-mb']) * MB, oneWayChunkBytes);
  // node:http2 under grpc-js: what any gRPC data path in Node can reach at best.
  const http2 = await measureHttp2Throughput(Number(values['tcp-mb']) * MB);
  // The machine is shared: use the better of the two ceilings, so ratios are not flattered.
  const tcp = Math.max(tcpBefore.gbps, tcpAfter.gbps);
  process.stdout.write(`${JSON.stringify({ tcp: { bytes: tcpBefore.bytes, gbpsBefore: +tcpBefore.gbps.toFixed(3), gbpsAfter: +tcpAfter.gbps.toFixed(3) } })}\n`);
  process.stdout.write(`${JSON.stringify({ grpcOneWayStream: { bytes: Number(values['tcp-mb']) * MB, chunkKB: oneWayChunkBytes / 1024, gbps: +grpcOneWay.toFixed(3) } })}\n`);
  process.stdout.write(`${JSON.stringify({ http2OneWayStream: { bytes: http2.bytes, gbps: +http2.gbps.toFixed(3) } })}\n`);
  for (const line of lines) {
    const plain = lines.find((l) => !l.tls && l.n === line.n && l.sizeMB === line.sizeMB && l.compression === line.compression && l.transport === line.transport);
    process.stdout.write(`${JSON.stringify({
      ...line,
      ...(line.tls && plain ? {
        busbwOverPlaintext: +(Number(line.busbwGBps) / Number(plain.busbwGBps)).toFixed(3),
        cpuOverPlaintext: +(Number(line.cpuSecondsPerRankPerIter) / Number(plain.cpuSecondsPerRankPerIter)).toFixed(3),
      } : {}),
      tcpGBps: +tcp.toFixed(3),
      busbwOverTcp: +(Number(line.busbwGBps) / tcp).toFixed(3),
      http2GBps: +http2.gbps.toFixed(3),
      busbwOverHttp2: +(Number(line.busbwGBps) / http2.gbps).toFixed(3),
    })}\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${String((err as Error)?.stack ?? err)}\n`);
  process.exit(1);
});
