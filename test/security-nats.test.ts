// The NATS control plane with credentials, against real nats-server processes started with
// authorization (token; user and password; TLS with client certificates). Without credentials the
// connection is refused with NatsAuthorizationError, and `dtrain launch` still trains on the
// in-process bus and says so.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createControlBus } from '@dtrain/shared/control/create-control-bus';
import { requestControl, setControlClientCredentials } from '@dtrain/shared/control/control-client';
import { NatsAuthorizationError } from '@dtrain/shared/control/nats-credentials';
import type { ControlBus } from '@dtrain/shared/control/api';
import { findNatsServerBinary, natsSecurityArgs, startNatsServer, type NatsServerHandle } from './harness/nats-server';
import { lastJsonLine, runDtrain, smallMnistJob, tempDir, writeJob } from './harness/dtrain-cli';

const TOKEN = 'nats-token-0123456789abcdef';
const servers: NatsServerHandle[] = [];
const buses: ControlBus[] = [];
let certDir: string;

async function natsWith(args: string[]): Promise<NatsServerHandle> {
  // An explicit binary pins the local-process path: the arguments are nats-server flags.
  const s = await startNatsServer({ binary: findNatsServerBinary(), args });
  servers.push(s);
  return s;
}

beforeAll(async () => {
  certDir = join(tempDir('dtrain-nats-tls-'), 'certs');
  const made = await runDtrain(['certs', 'create', '--out', certDir]);
  expect(made.code, made.stderr).toBe(0);
}, 240_000); // a CLI start takes minutes on a machine at load ~30
afterAll(async () => {
  setControlClientCredentials(undefined);
  for (const b of buses) await b.close();
  for (const s of servers) await s.destroy();
});

async function serveStatus(bus: ControlBus, job: string): Promise<void> {
  buses.push(bus);
  bus.serveControl(job, async () => ({ ok: true, message: `hello from ${job}` }));
}

describe('NATS with credentials', () => {
  it('token: refused without it (named error), served with it', async () => {
    const server = await natsWith(natsSecurityArgs({ token: TOKEN }));
    const refused = await createControlBus({ natsUrl: server.url, job: 'auth-token' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(NatsAuthorizationError);
    expect((refused as NatsAuthorizationError).method).toBe('none');
    expect((refused as Error).message).toMatch(/refused the connection \(no credentials given\).*DTRAIN_NATS_TOKEN/);
    const wrong = await createControlBus({ natsUrl: server.url, job: 'auth-token', credentials: { token: 'not-it' } }).catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(NatsAuthorizationError);
    expect((wrong as NatsAuthorizationError).method).toBe('token');

    await serveStatus(await createControlBus({ natsUrl: server.url, job: 'auth-token', credentials: { token: TOKEN } }), 'auth-token');
    setControlClientCredentials(undefined);
    await expect(requestControl(server.url, 'auth-token', { op: 'status' })).rejects.toBeInstanceOf(NatsAuthorizationError);
    setControlClientCredentials({ token: TOKEN });
    expect(await requestControl(server.url, 'auth-token', { op: 'status' })).toEqual({ ok: true, message: 'hello from auth-token' });
  }, 300_000);

  it('user and password, over TLS with client certificates', async () => {
    const server = await natsWith(natsSecurityArgs({ user: 'dtrain', password: 'pw-0123456789' }, {
      cert: join(certDir, 'coordinator.pem'), key: join(certDir, 'coordinator-key.pem'), ca: join(certDir, 'ca.pem'),
    }));
    const tls = { caFile: join(certDir, 'ca.pem'), certFile: join(certDir, 'worker.pem'), keyFile: join(certDir, 'worker-key.pem') };
    const badPassword = await createControlBus({
      natsUrl: server.url, job: 'auth-user', credentials: { user: 'dtrain', password: 'nope', tls },
    }).catch((e: unknown) => e);
    expect(badPassword).toBeInstanceOf(NatsAuthorizationError);
    expect((badPassword as NatsAuthorizationError).method).toBe('user-password');
    const noClientCert = await createControlBus({
      natsUrl: server.url, job: 'auth-user', credentials: { user: 'dtrain', password: 'pw-0123456789', tls: { caFile: tls.caFile } },
    }).catch((e: unknown) => e);
    expect(noClientCert).toBeInstanceOf(Error);

    const credentials = { user: 'dtrain', password: 'pw-0123456789', tls };
    await serveStatus(await createControlBus({ natsUrl: server.url, job: 'auth-user', credentials }), 'auth-user');
    setControlClientCredentials(credentials);
    expect(await requestControl(server.url, 'auth-user', { op: 'status' })).toEqual({ ok: true, message: 'hello from auth-user' });
  }, 300_000);

  it('dtrain launch without NATS credentials trains on the in-process bus and says why', async () => {
    const server = await natsWith(natsSecurityArgs({ token: TOKEN }));
    const dir = tempDir();
    const job = writeJob(dir, smallMnistJob({ training: { batchSize: 16, epochs: 1, maxSteps: 5 } }));
    const run = await runDtrain(['launch', '--workers', '2', job, '--nats', server.url, '--json', '--no-metrics'], {
      env: { DTRAIN_NATS_TOKEN: '' },
    });
    expect(run.code, run.stderr.slice(-2000)).toBe(0);
    expect(run.stderr).toMatch(/WARNING: cannot use NATS at .*refused the connection \(no credentials given\).*events stay in this process/);
    expect(lastJsonLine(run.stdout)).toMatchObject({ status: 'succeeded', steps: 5 });

    const withToken = await runDtrain(['launch', '--workers', '1', job, '--nats', server.url, '--json', '--no-metrics'], {
      env: { DTRAIN_NATS_TOKEN: TOKEN },
    });
    expect(withToken.code, withToken.stderr.slice(-2000)).toBe(0);
    expect(withToken.stderr).not.toMatch(/cannot use NATS/);
    expect(withToken.stderr).toMatch(/control plane on nats:/);
  }, 600_000); // two launches: generous at load ~30
});
