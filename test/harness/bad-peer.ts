// A hostile process: opens connections to a dtrain Coordinator or Peer port the way an intruder
// would (plaintext, a certificate of another CA, an expired one, a good one with a wrong or no join
// token, a Pull for another job or generation) and prints one JSON line per kind: how each attempt
// ended (gRPC code + details). Every attempt opens its own connection (local subchannel pool).
// Run: node --import tsx test/harness/bad-peer.ts PLAN.json
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { loadDtrainProto, type PullRequest } from '@dtrain/shared/proto';
import { JOIN_TOKEN_METADATA_KEY } from '@dtrain/shared/security/api';
import { pullMethod, PULL_PATH } from '../../packages/worker/src/collective/peer-service';
import type { IncomingChunk } from '../../packages/worker/src/collective/gradient-chunk-codec';

export type AttackKind = 'plaintext' | 'other-ca' | 'expired' | 'wrong-token' | 'no-token' | 'good-token';

export interface PemPair { cert: string; key: string }

export interface AttackPlan {
  target: string;
  service: 'coordinator' | 'peer';
  kinds: AttackKind[];
  /** Attempts per kind. */
  count: number;
  /** Attempts in flight at once. */
  concurrency: number;
  ca: string;
  /** Certificates by kind: good (signed by the job CA), other-ca, expired. */
  good: PemPair;
  otherCa: PemPair;
  expired: PemPair;
  token: string;
  /** For Peer pulls. */
  pull?: { jobId: string; generation: number; step: number; senderRank: number };
}

export interface AttackOutcome { kind: AttackKind; attempts: number; outcomes: Record<string, number>; sample: string }

function credentials(plan: AttackPlan, kind: AttackKind): grpc.ChannelCredentials {
  const ca = Buffer.from(plan.ca);
  const ssl = (p: PemPair) => grpc.credentials.createSsl(ca, Buffer.from(p.key), Buffer.from(p.cert), { checkServerIdentity: () => undefined });
  if (kind === 'plaintext') return grpc.credentials.createInsecure();
  if (kind === 'other-ca') return ssl(plan.otherCa);
  if (kind === 'expired') return ssl(plan.expired);
  return ssl(plan.good);
}

function tokenFor(plan: AttackPlan, kind: AttackKind): string | null {
  if (kind === 'no-token') return null;
  if (kind === 'wrong-token') return 'not-the-token-of-this-job-0123456789';
  return plan.token;
}

function attempt(plan: AttackPlan, kind: AttackKind): Promise<string> {
  const options: grpc.ChannelOptions = {
    'grpc.use_local_subchannel_pool': 1, 'grpc.ssl_target_name_override': 'dtrain', 'grpc.enable_retries': 0,
  };
  const metadata = new grpc.Metadata();
  const token = tokenFor(plan, kind);
  if (token !== null) metadata.set(JOIN_TOKEN_METADATA_KEY, token);
  const deadline = new Date(Date.now() + 90_000); // generous: a loaded machine
  return new Promise((resolve) => {
    const done = (result: string, close: () => void) => { close(); resolve(result); };
    if (plan.service === 'coordinator') {
      const Coordinator = loadDtrainProto().dtrain.v1.Coordinator;
      const client = new Coordinator(plan.target, credentials(plan, kind), options);
      client.Join({ jobId: '', peerAddress: '10.255.255.1:1', hostname: 'intruder', pid: 1, localRankHint: -1, backend: '', metricsAddress: '' },
        metadata, { deadline }, (err: grpc.ServiceError | null) => {
          done(err ? `${grpc.status[err.code]} ${err.details}` : 'OK (admitted!)', () => client.close());
        });
      return;
    }
    const client = new grpc.Client(plan.target, credentials(plan, kind), options);
    const m = pullMethod();
    const request: PullRequest = { id: plan.pull ?? { jobId: 'other-job', generation: 1, step: 0, senderRank: 0 }, totalLength: 4, encoding: 0 };
    const call = client.makeServerStreamRequest<PullRequest, IncomingChunk>(PULL_PATH, m.requestSerialize, m.responseDeserialize, request, metadata, { deadline });
    call.on('data', () => undefined);
    call.on('error', (err: grpc.ServiceError) => done(`${grpc.status[err.code]} ${err.details}`, () => client.close()));
    call.on('end', () => done('OK (stream ended)', () => client.close()));
  });
}

export async function runAttack(plan: AttackPlan): Promise<AttackOutcome[]> {
  const results: AttackOutcome[] = [];
  for (const kind of plan.kinds) {
    const outcome: AttackOutcome = { kind, attempts: 0, outcomes: {}, sample: '' };
    for (let done = 0; done < plan.count; done += plan.concurrency) {
      const batch = Math.min(plan.concurrency, plan.count - done);
      const ends = await Promise.all(Array.from({ length: batch }, () => attempt(plan, kind)));
      for (const e of ends) {
        const code = e.split(' ')[0];
        outcome.outcomes[code] = (outcome.outcomes[code] ?? 0) + 1;
        outcome.sample ||= e;
        outcome.attempts += 1;
      }
    }
    results.push(outcome);
  }
  return results;
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop() ?? '\0')) {
  const plan = JSON.parse(readFileSync(process.argv[2], 'utf8')) as AttackPlan;
  for (const r of await runAttack(plan)) process.stdout.write(`${JSON.stringify(r)}\n`);
  process.exit(0);
}
