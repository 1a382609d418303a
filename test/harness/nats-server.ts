// A real nats-server (with JetStream) for tests: a local child process (starts in ~20 ms), or, where a
// container engine exists, a nats:2.9 container through testcontainers (see service-runtime.ts for
// the choice). No Docker engine runs on the team's machines, so the container path is untested here.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { freePort } from './free-port';
import { chooseServiceRuntime, lastServiceRuntimeChoice, type ServiceRuntimeChoice } from './service-runtime';

const READY_TIMEOUT_MS = 10_000;
const READY_POLL_MS = 20;
const STOP_GRACE_MS = 5_000;
const INSTALL_HINT = 'apt-get install -y nats-server';
export const NATS_IMAGE = 'nats:2.9';
const NATS_CONTAINER_PORT = 4222;
const NATS_CONTAINER_STORE_DIR = '/data';

export interface NatsServerOptions {
  /**
   * Path to the binary; default: $NATS_SERVER_BIN, then PATH, then /usr/sbin and /usr/local/bin.
   * Given explicitly, it pins the local-process path whatever DTRAIN_TEST_SERVICES says.
   */
  binary?: string;
  /**
   * JetStream store dir; default: a fresh temp dir (removed by destroy()). In the container path it
   * is bind-mounted at /data; without it the store lives in the container's own filesystem.
   */
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
  const choice = lastServiceRuntimeChoice();
  if (choice?.kind === 'container') {
    return `nats-server ran in a ${NATS_IMAGE} container through testcontainers (${choice.reason})`;
  }
  return 'nats-server ran as a local child process (nats-server -js, JetStream file store in a temp dir); '
    + `the testcontainers path was not taken (${choice?.reason ?? 'no container engine on this machine'})`;
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
  const choice: ServiceRuntimeChoice = opts.binary !== undefined
    ? { kind: 'process', reason: 'an explicit nats-server binary was given' }
    : await chooseServiceRuntime();
  if (choice.kind === 'container') return startNatsContainer(opts);
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

// ---- Container path. UNTESTED HERE: no Docker engine runs on the team's machines. ----
// The tests need stop()/restart() to keep JetStream data and the URL. testcontainers maps an exposed
// port to a random host port that can change when the container restarts, so the host port is
// bound explicitly ({container: 4222, host: freePort}). stop() stops the container without removing
// it (StartedTestContainer.stop() removes it and is one-shot, so it is only used by destroy());
// restart() is testcontainers' restart(), which starts the stopped container again with the same
// writable layer (the /data store) and waits for the ready log line again.
async function startNatsContainer(opts: NatsServerOptions): Promise<NatsServerHandle> {
  const { GenericContainer, Wait, getContainerRuntimeClient } = await import('testcontainers');
  const port = await freePort();
  let builder = new GenericContainer(NATS_IMAGE)
    .withCommand(['-js', '-sd', NATS_CONTAINER_STORE_DIR, ...(opts.args ?? [])])
    .withExposedPorts({ container: NATS_CONTAINER_PORT, host: port })
    .withWaitStrategy(Wait.forLogMessage(/Server is ready/))
    .withStartupTimeout(READY_TIMEOUT_MS);
  if (opts.storeDir !== undefined) {
    builder = builder.withBindMounts([{ source: opts.storeDir, target: NATS_CONTAINER_STORE_DIR }]);
  }
  const started = await builder.start();
  const client = await getContainerRuntimeClient();
  let running = true;
  const stop = async (): Promise<void> => {
    if (!running) return;
    running = false;
    // SIGTERM, then SIGKILL after the grace period, as in the process path (timeout is in ms).
    await client.container.stop(client.container.getById(started.getId()), { timeout: STOP_GRACE_MS });
  };
  return {
    url: `nats://${started.getHost()}:${port}`,
    port,
    storeDir: opts.storeDir ?? `${NATS_CONTAINER_STORE_DIR} in container ${started.getId().slice(0, 12)}`,
    stop,
    restart: async () => {
      await stop();
      await started.restart();
      running = true;
    },
    destroy: async () => {
      running = false;
      await started.stop({ remove: true, timeout: STOP_GRACE_MS });
    },
  };
}

/** Authorization of a test nats-server: a token, or a user and password (nats-server's own flags). */
export type NatsAuthorization = { token: string } | { user: string; password: string };

/** Arguments for startNatsServer({ args }) that make the server require credentials (and TLS). */
export function natsSecurityArgs(auth: NatsAuthorization | null, tls?: { cert: string; key: string; ca: string }): string[] {
  const args = auth === null ? [] : 'token' in auth ? ['--auth', auth.token] : ['--user', auth.user, '--pass', auth.password];
  if (tls) args.push('--tlsverify', '--tlscert', tls.cert, '--tlskey', tls.key, '--tlscacert', tls.ca);
  return args;
}
