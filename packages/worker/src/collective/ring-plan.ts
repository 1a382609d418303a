// Which segment moves in which round, for the ring all-reduce and the ring broadcast. Both are
// "forward-driven": after the first round, a rank sends in round k+1 exactly the chunk it received
// (and reduced) in round k, so chunk j can move on as soon as it arrived, and one long stream per
// collective carries every round.

export interface SegmentRange {
  start: number;
  length: number;
}

/** N segments whose lengths differ by at most one; some are empty when length < N. */
export function segmentRange(totalLength: number, worldSize: number, segment: number): SegmentRange {
  const base = Math.floor(totalLength / worldSize);
  const rem = totalLength % worldSize;
  return { start: segment * base + Math.min(segment, rem), length: base + (segment < rem ? 1 : 0) };
}

export function chunkCount(length: number, chunkElems: number): number {
  return Math.ceil(length / chunkElems);
}

export type ReceiveOp = 'add' | 'copy';

export interface ReceiveRound {
  round: number;
  segment: number;
  range: SegmentRange;
  op: ReceiveOp;
  /** Whether a chunk received in this round is sent on as round + 1. */
  forward: boolean;
}

export interface RingPlan {
  /** Rounds this rank receives from its predecessor, by round number. */
  receive: Map<number, ReceiveRound>;
  /** The round this rank sends from its own buffer without waiting (null: it only forwards). */
  initialSend: { round: number; segment: number; range: SegmentRange } | null;
  /** Chunks this rank will receive / send in the whole collective. */
  receiveChunks: number;
  sendChunks: number;
  /**
   * Sends read a copy of the buffer taken when the collective starts (the exchange adds into the
   * buffer while its own values may still be queued on the wire as zero-copy views).
   */
  sendFromSnapshot?: boolean;
}

function mod(a: number, n: number): number {
  return ((a % n) + n) % n;
}

/** Segment that rank `sender` sends in `round` of the all-reduce. */
function allReduceSendSegment(sender: number, round: number, n: number): number {
  return round <= n - 2 ? mod(sender - round, n) : mod(sender + 1 - (round - (n - 1)), n);
}

export function allReducePlan(rank: number, n: number, totalLength: number, chunkElems: number): RingPlan {
  const receive = new Map<number, ReceiveRound>();
  if (n === 1) return { receive, initialSend: null, receiveChunks: 0, sendChunks: 0 };
  const pred = mod(rank - 1, n);
  const lastRound = 2 * n - 3;
  let receiveChunks = 0;
  let sendChunks = 0;
  for (let round = 0; round <= lastRound; round++) {
    const segment = allReduceSendSegment(pred, round, n);
    const range = segmentRange(totalLength, n, segment);
    const forward = round < lastRound;
    receive.set(round, { round, segment, range, op: round <= n - 2 ? 'add' : 'copy', forward });
    const chunks = chunkCount(range.length, chunkElems);
    receiveChunks += chunks;
    if (forward) sendChunks += chunks;
  }
  const ownSegment = allReduceSendSegment(rank, 0, n);
  const ownRange = segmentRange(totalLength, n, ownSegment);
  sendChunks += chunkCount(ownRange.length, chunkElems);
  return { receive, initialSend: { round: 0, segment: ownSegment, range: ownRange }, receiveChunks, sendChunks };
}

/** Pipelined chain from root around the ring; the round number is the sender's hop from root. */
export function broadcastPlan(rank: number, n: number, root: number, totalLength: number, chunkElems: number): RingPlan {
  const receive = new Map<number, ReceiveRound>();
  if (n === 1) return { receive, initialSend: null, receiveChunks: 0, sendChunks: 0 };
  const whole: SegmentRange = { start: 0, length: totalLength };
  const chunks = chunkCount(totalLength, chunkElems);
  const hop = mod(rank - root, n);
  if (hop === 0) {
    return { receive, initialSend: { round: 0, segment: 0, range: whole }, receiveChunks: 0, sendChunks: chunks };
  }
  const forward = hop < n - 1;
  receive.set(hop - 1, { round: hop - 1, segment: 0, range: whole, op: 'copy', forward });
  return { receive, initialSend: null, receiveChunks: chunks, sendChunks: forward ? chunks : 0 };
}

/**
 * N=2 direct exchange: each rank sends its whole buffer once and adds what it receives. Same bytes
 * as the ring (one buffer per rank), but one dependent hop instead of two, so half the latency.
 * Both ranks compute a + b in float32, which is commutative: the replicas stay bit-identical.
 * (Not for fp16: each rank would add the other's rounded values to its own exact ones.)
 */
export function exchangePlan(totalLength: number, chunkElems: number): RingPlan {
  const whole: SegmentRange = { start: 0, length: totalLength };
  const chunks = chunkCount(totalLength, chunkElems);
  const receive = new Map<number, ReceiveRound>([[0, { round: 0, segment: 0, range: whole, op: 'add', forward: false }]]);
  return { receive, initialSend: { round: 0, segment: 0, range: whole }, receiveChunks: chunks, sendChunks: chunks, sendFromSnapshot: true };
}

