// Flags ranks whose forward+backward time is persistently slower than their peers'. In synchronous
// data parallelism every step waits for the slowest rank, so one straggler slows the whole job.
//
// ratio(r) = mean compute seconds of r over the last `window` steps / median of the OTHER ranks'
// means. Leaving r out matters for small worlds: with 2 ranks the plain median is the mean of both,
// so a rank twice as slow would score only 2/1.5 = 1.33 and never pass a factor of 1.5.

export interface StragglerDetectorOptions {
  /** Flag a rank when its ratio exceeds this (> 1), e.g. 1.5. */
  factor: number;
  /** Steps averaged per rank; a rank is judged only once it has a full window. */
  window: number;
  /**
   * A rank must also be this many seconds per step slower than the reference: at millisecond compute
   * times, scheduling noise on a shared machine easily makes 1.5x and would flag ranks that cost nothing.
   */
  minExcessSeconds?: number;
}

export const DEFAULT_STRAGGLER_MIN_EXCESS_SECONDS = 0.02;

export interface StragglerState {
  rank: number;
  ratio: number;
  flagged: boolean;
  /** True on the step the rank enters or leaves the straggler state: emit an event then. */
  changed: boolean;
  /** Mean compute seconds of this rank over its window. */
  meanSeconds: number;
  /** Median of the other ranks' means (the reference). */
  referenceSeconds: number;
  globalStep: number;
}

interface RankHistory {
  samples: number[];
  next: number;
  flagged: boolean;
}

export class StragglerDetector {
  private readonly factor: number;
  private readonly window: number;
  private readonly minExcessSeconds: number;
  private readonly ranks = new Map<number, RankHistory>();

  constructor(options: StragglerDetectorOptions) {
    if (!(options.factor > 1) || !Number.isFinite(options.factor)) {
      throw new RangeError(`straggler factor must be a finite number > 1, got ${options.factor}`);
    }
    if (!Number.isInteger(options.window) || options.window < 1) {
      throw new RangeError(`straggler window must be an integer >= 1, got ${options.window}`);
    }
    this.factor = options.factor;
    this.window = options.window;
    this.minExcessSeconds = options.minExcessSeconds ?? DEFAULT_STRAGGLER_MIN_EXCESS_SECONDS;
  }

  /** Forget all history: call when the world is re-formed (ranks get new meanings). */
  reset(): void {
    this.ranks.clear();
  }

  /** Ranks currently flagged. */
  flaggedRanks(): number[] {
    return [...this.ranks].filter(([, h]) => h.flagged).map(([rank]) => rank).sort((a, b) => a - b);
  }

  /**
   * Record one step's compute seconds per rank (a Map, or an array indexed by rank) and return the
   * state of every rank in it, ordered by rank.
   */
  observe(globalStep: number, computeSecondsByRank: ReadonlyMap<number, number> | readonly number[]): StragglerState[] {
    const entries: [number, number][] = Array.isArray(computeSecondsByRank)
      ? (computeSecondsByRank as readonly number[]).map((s, rank) => [rank, s])
      : [...(computeSecondsByRank as ReadonlyMap<number, number>)];
    for (const [rank, seconds] of entries) {
      if (!Number.isInteger(rank) || rank < 0) throw new RangeError(`straggler detector: bad rank ${rank}`);
      if (!Number.isFinite(seconds) || seconds < 0) {
        throw new RangeError(`straggler detector: rank ${rank} compute seconds must be finite and >= 0, got ${seconds}`);
      }
      let history = this.ranks.get(rank);
      if (history === undefined) {
        history = { samples: [], next: 0, flagged: false };
        this.ranks.set(rank, history);
      }
      if (history.samples.length < this.window) history.samples.push(seconds);
      else history.samples[history.next] = seconds;
      history.next = (history.next + 1) % this.window;
    }

    const means = new Map<number, number>();
    for (const [rank] of entries) {
      const samples = this.ranks.get(rank)!.samples;
      means.set(rank, samples.reduce((a, b) => a + b, 0) / samples.length);
    }

    return entries
      .map(([rank]) => rank)
      .sort((a, b) => a - b)
      .map((rank) => {
        const history = this.ranks.get(rank)!;
        const meanSeconds = means.get(rank)!;
        const others = [...means].filter(([r]) => r !== rank).map(([, m]) => m);
        const referenceSeconds = others.length > 0 ? median(others) : meanSeconds;
        const ratio = referenceSeconds > 0 ? meanSeconds / referenceSeconds : 1;
        const full = history.samples.length >= this.window;
        // Judged only on a full window, so one slow step (GC pause, first-step compile) never flags.
        const flagged = full ? ratio > this.factor && meanSeconds - referenceSeconds > this.minExcessSeconds : history.flagged;
        const changed = flagged !== history.flagged;
        history.flagged = flagged;
        return { rank, ratio, flagged, changed, meanSeconds, referenceSeconds, globalStep };
      });
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
