// Raw TCP throughput between two Node processes on loopback: the ceiling for the all-reduce.
// This process sends `bytes` over a plain net socket (1 MiB writes, honouring backpressure) to a
// child process that reads them into nothing and reports the rate it saw.
//   node --import tsx bench/tcp-throughput.ts [megabytes]     -> prints one JSON line
import { spawn } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';

const WRITE_BYTES = 1 << 20;
const SELF = fileURLToPath(import.meta.url);

export interface TcpThroughput {
  bytes: number;
  seconds: number;
  gbps: number;
}

async function receiver(bytes: number): Promise<void> {
  const server = createServer((socket) => {
    let got = 0;
    let started = 0;
    socket.on('data', (data: Buffer) => {
      if (got === 0) started = performance.now();
      got += data.length;
      if (got >= bytes) {
        const seconds = (performance.now() - started) / 1000;
        process.stdout.write(`${JSON.stringify({ bytes: got, seconds })}\n`);
        socket.end();
        server.close();
      }
    });
  });
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    if (address && typeof address !== 'string') process.stdout.write(`${JSON.stringify({ port: address.port })}\n`);
  });
}

export async function measureTcpThroughput(bytes = 256 << 20): Promise<TcpThroughput> {
  const child = spawn(process.execPath, ['--import', 'tsx', SELF, '--receiver', String(bytes)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: Array<Record<string, number>> = [];
  let waiter: (() => void) | null = null;
  let pending = '';
  child.stdout.on('data', (d: Buffer) => {
    pending += d.toString();
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      lines.push(JSON.parse(pending.slice(0, nl)) as Record<string, number>);
      pending = pending.slice(nl + 1);
    }
    waiter?.();
  });
  const next = async (): Promise<Record<string, number>> => {
    while (lines.length === 0) await new Promise<void>((resolve) => (waiter = resolve));
    return lines.shift()!;
  };
  const { port } = await next();
  const payload = Buffer.alloc(WRITE_BYTES, 7);
  const socket = connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let sent = 0;
  while (sent < bytes) {
    const n = Math.min(WRITE_BYTES, bytes - sent);
    sent += n;
    if (!socket.write(n === WRITE_BYTES ? payload : payload.subarray(0, n))) {
      await new Promise<void>((resolve) => socket.once('drain', resolve));
    }
  }
  const result = await next();
  socket.destroy();
  await new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', () => resolve())));
  return { bytes: result.bytes, seconds: result.seconds, gbps: result.bytes / result.seconds / 1e9 };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  if (process.argv[2] === '--receiver') {
    void receiver(Number(process.argv[3]));
  } else {
    const megabytes = Number(process.argv[2] ?? 256);
    measureTcpThroughput(megabytes << 20).then((r) => process.stdout.write(`${JSON.stringify({ tcp: r })}\n`));
  }
}
