// The world's chunk size end to end: with more workers than CPUs on this host and the tcp transport,
// the coordinator gives the world one chunk per ring segment (collective-chunking.ts) and every worker
// uses it; the same job with collective.chunkBytes set to 1 MiB chunks each 1.6 MB segment in two. The
// sums go round the ring in the same order either way, so both runs end with the same loss to the bit.
import { availableParallelism, hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { lastJsonLine, runDtrain, smallMnistJob, tempDir, writeJob } from './harness/dtrain-cli';

interface Summary { status: string; steps: number; loss: number }

const cpus = availableParallelism();
// cpus + 1 workers crowd this host; CI has 2 CPUs (3 workers). Many-core machines skip it.
const workers = cpus + 1;

describe('chunk size chosen per world by the coordinator', () => {
  it.skipIf(workers > 5)(`tcp, ${workers} workers on ${cpus} CPU(s): one chunk per segment, same bits as 1 MiB chunks`,
    async () => {
      const dir = tempDir();
      // 784-1536-10: 1,221,130 parameters, 4.9 MB of gradients: segments of 1.6 MB at N=3.
      const job = (chunkBytes?: number) => writeJob(dir, smallMnistJob({
        name: chunkBytes ? 'chunk-set' : 'chunk-chosen',
        model: { kind: 'mlp', task: 'classification', hidden: [{ units: 1536, activation: 'relu' }] },
        dataset: { kind: 'mnist', shape: 'flat', limit: 512 },
        collective: { transport: 'tcp', ...(chunkBytes ? { chunkBytes } : {}) },
      }), chunkBytes ? 'set.yaml' : 'chosen.yaml');
      const args = (file: string) => [
        'launch', '--workers', String(workers), file, '--json', '--no-metrics', '--insecure', '--max-steps', '6',
      ];
      const chosen = await runDtrain(args(job()));
      const set = await runDtrain(args(job(1 << 20)));
      expect(chosen.code, chosen.stderr.slice(-2000)).toBe(0);
      expect(set.code, set.stderr.slice(-2000)).toBe(0);
      const lines = (run: { stderr: string }, text: string): number =>
        run.stderr.split('\n').filter((l) => l.endsWith(text)).length;
      expect(lines(chosen, `generation 1 chunks of ${64 << 20} bytes: ${workers} ranks share ${cpus} CPU(s) on `
        + `${hostname()}: one chunk per ring segment (pipelining needs a core per rank)`)).toBe(1);
      expect(lines(chosen, `generation 1: ${64 << 20}-byte chunks (the coordinator's choice)`)).toBe(workers);
      expect(lines(set, `generation 1 chunks of ${1 << 20} bytes: collective.chunkBytes of the job`)).toBe(1);
      expect(lines(set, "-byte chunks (the coordinator's choice)")).toBe(0);
      const a = lastJsonLine(chosen.stdout) as unknown as Summary;
      const b = lastJsonLine(set.stdout) as unknown as Summary;
      expect([a.status, a.steps, b.status, b.steps]).toEqual(['succeeded', 6, 'succeeded', 6]);
      expect(a.loss).toBe(b.loss);
      expect(Number.isFinite(a.loss)).toBe(true);
    }, 240_000);
});
