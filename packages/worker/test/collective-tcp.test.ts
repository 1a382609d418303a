// The tcp transport: TLS (RingOptions.tls, as the job's mTLS credentials will supply it):
// certificates made by openssl here, ranks as real processes. Exact sums prove the data path;
// the mixed case proves a rank with credentials never talks plaintext to one without.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { SpawnedRing, type RankEvent } from '../../../test/fixtures/allreduce-spawn';
import { checksum, expectedSum } from '../../../test/fixtures/allreduce-values';

let dir = '';
let files: { ca: string; cert: string; key: string };
const rings: SpawnedRing[] = [];

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'dtrain-tls-'));
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=dtrain-test-ca');
  openssl('req', ...ec, '-keyout', 'node.key', '-out', 'node.csr', '-subj', '/CN=127.0.0.1');
  writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n');
  openssl('x509', '-req', '-in', 'node.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'node.pem', '-days', '1', '-extfile', 'ext.cnf');
  files = { ca: join(dir, 'ca.pem'), cert: join(dir, 'node.pem'), key: join(dir, 'node.key') };
});

afterEach(async () => {
  await Promise.all(rings.splice(0).map((r) => r.dispose()));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function events(r: SpawnedRing, kind: string): RankEvent[] {
  return r.ranks.flatMap((p) => p.events.filter((e) => e.event === kind));
}

it('sums exactly over mutual TLS, N=3', async () => {
  const lengths = [5, 300_001];
  const r = new SpawnedRing(3, () => ({ scenario: 'sums', lengths, steps: 1, chunkBytes: 64 * 1024, transport: 'tcp', tlsFiles: files }));
  rings.push(r);
  expect((await r.exits()).map((e) => e.code)).toEqual([0, 0, 0]);
  expect(events(r, 'error')).toEqual([]);
  const results = events(r, 'result');
  expect(results).toHaveLength(3 * lengths.length);
  for (const e of results) {
    const length = e.length as number;
    const expected = Float32Array.from({ length }, (_, i) => expectedSum(3, i, e.step as number));
    expect(e.bad).toBe(0);
    expect(e.checksum).toBe(checksum(expected));
  }
});

// Two ranks that must not talk: each case gives rank 0 and rank 1 different settings, and both
// ranks must fail with the named error instead of exchanging data.
it.each([
  {
    name: 'a rank with TLS credentials and one without both fail (one at least naming TLS) instead of talking plaintext',
    options: (rank: number) => ({ transport: 'tcp' as const, tlsFiles: rank === 0 ? files : undefined }),
    code: 'PeerLostError',
    // The first rank to see the other side's TLS setting fails naming TLS and closes its Peer server; the
    // other one may then find that server gone (UNAVAILABLE) before it sees the mismatch itself.
    check: (errors: RankEvent[]) => expect(errors.map((e) => e.message).join('\n')).toMatch(/TLS/),
  },
  {
    name: 'a grpc rank and a tcp rank both fail with CollectiveMismatchError naming the transport',
    options: (rank: number) => ({ transport: rank === 0 ? ('grpc' as const) : ('tcp' as const) }),
    code: 'CollectiveMismatchError',
    check: (errors: RankEvent[]) => expect(errors.map((e) => e.field)).toEqual(['transport', 'transport']),
  },
] as const)('$name', async ({ options, code, check }) => {
  const r = new SpawnedRing(2, (rank) => ({ scenario: 'sums', lengths: [1000], steps: 1, ...options(rank) }));
  rings.push(r);
  expect((await r.exits()).map((e) => e.code)).toEqual([0, 0]);
  expect(events(r, 'result')).toEqual([]);
  const errors = events(r, 'error');
  expect(errors.map((e) => e.rank).sort()).toEqual([0, 1]);
  expect(errors.map((e) => e.code)).toEqual([code, code]);
  check(errors);
});
