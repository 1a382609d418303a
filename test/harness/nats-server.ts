// A real nats-server (with JetStream) as a child process, for tests. No Docker engine runs on
// these machines, so the testcontainers path is not available; a local process starts in ~20 ms.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { freePort } from './free-port';

const READY_TIMEOUT_MS = 10_000;
const READY_POLL_MS = 20;
const STOP_GRACE_MS = 5_000;
const INSTALL_HINT = 'apt-get install -y nats-server';

export interface NatsServerOptions {
  /** Path to the binary; default: $NATS_SERVER_BIN, then PATH, then /usr/sbin and /usr/local/bin. */
  binary?: string;
  /** JetStream store dir; default: a fresh temp dir (removed by destroy()). */
  storeDir?: string;
  /** Extra command-line arguments (e.g. `['-DV']` for debug logs). */
  args?: string[];
}

export interface NatsServerHandle {
  url: string;
  port: number;
  storeDir: string;
  /** Kills the server and waits for it to exit (the store dir stays, so restart() keeps JetStream data). */
  stop(): Promise<void>;
  /** Starts the server again on the same port and store dir. */
  restart(): Promise<void>;
  /** stop() and remove the store dir if the harness created it. */
  destroy(): Promise<void>;
}

/** How tests ran NATS; printed by tests so a report says what was exercised. */
export function describeServiceRuntime(): string {
  return 'nats-server ran as a local child process (nats-server -js, JetStream file store in a temp dir); '
    + 'the testcontainers path is not available here (no Docker engine)';
}

export function findNatsServerBinary(explicit?: string): string {
  const candidates = explicit !== undefined
    ? [explicit]
    : [
      ...(process.env.NATS_SERVER_BIN ? [process.env.NATS_SERVER_BIN] : []),
      ...(process.env.PATH ?? '').split(delimiter).filter(Boolean).map((dir) => join(dir, 'nats-server')),
      '/usr/sbin/nats-server',
      '/usr/local/bin/nats-server',
    ];
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // try the next one
    }
  }
  throw new Error(`nats-server binary not found (looked at ${candidates.join(', ')}); install it with \`${INSTALL_HINT}\``);
}

/** Resolves once something accepts TCP on the port and sends the NATS INFO line. */
function probeOnce(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: '127.0.0.1', port });
    let settled = false;
    const done = (ok: boolean) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      resolve(ok);
    };
    socket.once('data', (chunk) => done(chunk.toString('utf8').startsWith('INFO')));
    socket.once('error', () => done(false));
    socket.setTimeout(1_000, () => done(false));
  });
}

const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A test that crashes before its afterAll must not leave a server behind.
  process.once('exit', () => {
    for (const child of liveChildren) child.kill('SIGKILL');
  });
}

export async function startNatsServer(opts: NatsServerOptions = {}): Promise<NatsServerHandle> {
  const binary = findNatsServerBinary(opts.binary);
  const ownsStoreDir = opts.storeDir === undefined;
  const storeDir = opts.storeDir ?? mkdtempSync(join(tmpdir(), 'dtrain-nats-'));
  const port = await freePort();
  installExitHook();

  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();

  const launch = async (): Promise<void> => {
    const args = ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', storeDir, ...(opts.args ?? [])];
    const proc = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child = proc;
    liveChildren.add(proc);
    let stderr = '';
    proc.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-4_000);
    });
    let exitInfo: string | null = null;
    exited = new Promise<void>((resolve) => {
      proc.once('exit', (code, signal) => {
        exitInfo = `code ${code ?? 'null'}, signal ${signal ?? 'none'}`;
        liveChildren.delete(proc);
        resolve();
      });
      proc.once('error', (err) => {
        exitInfo = err.message;
        liveChildren.delete(proc);
        resolve();
      });
    });
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (exitInfo !== null) {
        throw new Error(`nats-server exited before it was ready (${exitInfo}): ${binary} ${args.join(' ')}\n${stderr}`);
      }
      if (await probeOnce(port)) return;
      if (Date.now() > deadline) {
        proc.kill('SIGKILL');
        await exited;
        throw new Error(`nats-server did not accept connections on port ${port} within ${READY_TIMEOUT_MS} ms\n${stderr}`);
      }
      await new Promise((r) => setTimeout(r, READY_POLL_MS));
    }
  };

  const stop = async (): Promise<void> => {
    const proc = child;
    if (proc === null) return;
    child = null;
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
    }
  };

  await launch();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    stop,
    restart: async () => {
      await stop();
      await launch();
    },
    destroy: async () => {
      await stop();
      if (ownsStoreDir) rmSync(storeDir, { recursive: true, force: true });
    },
  };
}
