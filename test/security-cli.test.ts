// The security flags of the real `dtrain` executable: a non-loopback listen without TLS is refused
// (exit 2) with a message naming the flags; a partial TLS set is a named error; --insecure is the
// logged opt-out; `certs create` does not overwrite a folder silently.
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runDtrain, smallMnistJob, startDtrain, tempDir, writeJob, type CliRun } from './harness/dtrain-cli';

const running: CliRun[] = [];
afterAll(() => { for (const r of running) if (r.child.exitCode === null) r.child.kill('SIGKILL'); });

describe('dtrain security flags', () => {
  it('refuse what is unsafe with exit 2 and say which flags fix it; --insecure opts out, loudly', async () => {
    const dir = tempDir('dtrain-sec-cli-');
    const job = writeJob(dir, smallMnistJob());
    const insecure = startDtrain(['coordinator', job, '--listen', '0.0.0.0:0', '--workers', '1', '--insecure'], {
      env: { DTRAIN_JOIN_TOKEN: '' },
    });
    running.push(insecure);
    const [coordinator, worker, partial, certsOnce] = await Promise.all([
      runDtrain(['coordinator', job, '--listen', '0.0.0.0:0', '--workers', '1'], { env: { DTRAIN_JOIN_TOKEN: '' } }),
      runDtrain(['worker', '--coordinator', '127.0.0.1:1', '--peer-host', '0.0.0.0'], { env: { DTRAIN_JOIN_TOKEN: '' } }),
      runDtrain(['coordinator', job, '--listen', '127.0.0.1:0', '--workers', '1', '--tls-ca', join(dir, 'ca.pem')], {
        env: { DTRAIN_TLS_CERT: '', DTRAIN_TLS_KEY: '' },
      }),
      runDtrain(['certs', 'create', '--out', join(dir, 'certs')]),
    ]);
    expect(coordinator.code).toBe(2);
    expect(coordinator.stderr).toMatch(/InsecureListen|refusing to listen on 0\.0\.0\.0:0 without tls and join-token/);
    expect(coordinator.stderr).toMatch(/--tls-ca, --tls-cert and --tls-key \(or DTRAIN_TLS_CA, DTRAIN_TLS_CERT, DTRAIN_TLS_KEY\)/);
    expect(coordinator.stderr).toMatch(/--join-token \(or DTRAIN_JOIN_TOKEN\)/);
    expect(coordinator.stderr).toMatch(/--insecure/);
    expect(worker.code).toBe(2);
    expect(worker.stderr).toMatch(/refusing to listen on 0\.0\.0\.0:0 without tls and join-token/);
    expect(partial.code).toBe(2);
    expect(partial.stderr).toMatch(/--tls-ca, --tls-cert and --tls-key go together; missing --tls-cert, --tls-key/);
    expect(certsOnce.code, certsOnce.stderr).toBe(0);
    const certsTwice = await runDtrain(['certs', 'create', '--out', join(dir, 'certs')]);
    expect(certsTwice.code).toBe(2);
    expect(certsTwice.stderr).toMatch(/already holds ca\.pem.*--force/);

    await insecure.waitFor(/waiting for 1 worker/, 240_000);
    expect(insecure.stderr()).toMatch(/WARNING: --insecure: coordinator listens on 0\.0\.0\.0:0 without tls and join-token/);
    expect(insecure.stderr()).toMatch(/security: plaintext \(no TLS\), no join token/);
  }, 480_000); // five CLI processes: minutes on a machine at load ~30
});
