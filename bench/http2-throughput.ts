// Raw node:http2 throughput between two Node processes on loopback, 16 MiB windows on both sides:
// the transport grpc-js is built on, so the ceiling any gRPC data path in Node can reach.
// The child serves one stream of `bytes` (1 MiB writes, honouring backpressure); this process
// reads it and reports the rate.
//   node --import tsx bench/http2-throughput.ts [megabytes]     -> prints one JSON line
import { fork } from 'node:child_process';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';

const WRITE_BYTES = 1 << 20;
const WINDOW_BYTES = 16 * 1024 * 1024;
const SELF = fileURLToPath(import.meta.url);

export interface Http2Throughput {
  bytes: number;
  seconds: number;
  gbps: number;
}

function serve(bytes: number): void {
  const server = http2.createServer({ settings: { initialWindowSize: WINDOW_BYTES } });
  server.on('session', (session) => session.on('connect', () => session.setLocalWindowSize(WINDOW_BYTES)));
  server.on('stream', (stream) => {
    stream.respond({ ':status': 200 });
    const payload = Buffer.alloc(WRITE_BYTES, 7);
    let sent = 0;
    const pump = (): void => {
      while (sent < bytes) {
        sent += WRITE_BYTES;
        if (!stream.write(payload)) { stream.once('drain', pump); return; }
      }
      stream.end();
    };
    pump();
  });
  server.listen(0, '127.0.0.1', () => process.send?.((server.address() as AddressInfo).port));
  process.on('disconnect', () => process.exit(0));
}

export async function measureHttp2Throughput(bytes = 256 << 20): Promise<Http2Throughput> {
  const child = fork(SELF, ['--server', String(bytes)], { execArgv: ['--import', 'tsx'] });
  try {
    const port = await new Promise<number>((resolve) => child.once('message', (m) => resolve(Number(m))));
    const client = http2.connect(`http://127.0.0.1:${port}`, { settings: { initialWindowSize: WINDOW_BYTES } });
    client.on('connect', () => client.setLocalWindowSize(WINDOW_BYTES));
    return await new Promise<Http2Throughput>((resolve, reject) => {
      const req = client.request({ ':path': '/' });
      let got = 0;
      let started = 0;
      req.on('data', (d: Buffer) => {
        if (got === 0) started = performance.now();
        got += d.length;
      });
      req.on('error', reject);
      req.on('end', () => {
        const seconds = (performance.now() - started) / 1000;
        client.close();
        resolve({ bytes: got, seconds, gbps: got / seconds / 1e9 });
      });
      req.end();
    });
  } finally {
    child.kill();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  if (process.argv[2] === '--server') serve(Number(process.argv[3]));
  else {
    const r = await measureHttp2Throughput(Number(process.argv[2] ?? 256) * (1 << 20));
    process.stdout.write(`${JSON.stringify({ http2: { bytes: r.bytes, gbps: +r.gbps.toFixed(3) } })}\n`);
  }
}
