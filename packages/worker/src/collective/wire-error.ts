// Failures travel along the ring as gRPC status details (JSON), so a rank two hops away from a dead
// peer still learns WHICH rank was lost instead of blaming the healthy neighbour that told it.
import { status as GrpcStatus, type StatusObject } from '@grpc/grpc-js';
import {
  CollectiveMismatchError,
  CollectiveTimeoutError,
  DtrainError,
  PeerLostError,
} from '@dtrain/shared/errors';

type MismatchField = ConstructorParameters<typeof CollectiveMismatchError>[0];

export interface WireError {
  code: string;
  message: string;
  /** Rank blamed (lost, timed out); -1 if none. */
  peerRank: number;
  peerAddress: string;
  timeoutMs?: number;
  /** For a mismatch found by the server on the client's PullRequest: server's value, client's value. */
  field?: MismatchField;
  serverValue?: string;
  clientValue?: string;
}

const WIRE_PREFIX = 'dtrain:';

export function encodeWireError(e: WireError): string {
  return WIRE_PREFIX + JSON.stringify(e);
}

export function decodeWireError(details: string): WireError | null {
  if (!details.startsWith(WIRE_PREFIX)) return null;
  try {
    const parsed = JSON.parse(details.slice(WIRE_PREFIX.length)) as Partial<WireError>;
    if (typeof parsed.code !== 'string' || typeof parsed.message !== 'string') return null;
    return {
      code: parsed.code,
      message: parsed.message,
      peerRank: typeof parsed.peerRank === 'number' ? parsed.peerRank : -1,
      peerAddress: typeof parsed.peerAddress === 'string' ? parsed.peerAddress : '',
      timeoutMs: parsed.timeoutMs,
      field: parsed.field,
      serverValue: parsed.serverValue,
      clientValue: parsed.clientValue,
    };
  } catch {
    return null;
  }
}

/** What a rank tells its successor after its own collective failed. */
export function wireErrorOf(err: Error): WireError {
  if (err instanceof PeerLostError) {
    return { code: err.code, message: err.message, peerRank: err.peerRank, peerAddress: err.peerAddress };
  }
  if (err instanceof CollectiveTimeoutError) {
    return { code: err.code, message: err.message, peerRank: err.peerRank, peerAddress: '', timeoutMs: err.timeoutMs };
  }
  const code = err instanceof DtrainError ? err.code : err.name;
  return { code, message: err.message, peerRank: -1, peerAddress: '' };
}

/**
 * Turns the status a predecessor ended our Pull with into the error this rank reports.
 * `pred` names the predecessor (rank and address) for errors it did not attribute elsewhere.
 */
export function errorFromStatus(
  st: Pick<StatusObject, 'code' | 'details'>,
  pred: { rank: number; address: string },
  ring: readonly string[],
): DtrainError {
  const wire = decodeWireError(st.details);
  const predName = `rank ${pred.rank} (${pred.address})`;
  if (wire) {
    if (wire.field !== undefined && st.code === GrpcStatus.FAILED_PRECONDITION) {
      // The predecessor refused our request: expected is our value, got is theirs.
      return new CollectiveMismatchError(wire.field, wire.clientValue ?? '?', wire.serverValue ?? '?', predName);
    }
    if (wire.code === 'CollectiveTimeoutError' && wire.peerRank >= 0) {
      return new CollectiveTimeoutError(wire.peerRank, wire.timeoutMs ?? 0, `collective (reported by ${predName})`);
    }
    if (wire.peerRank >= 0) {
      const address = wire.peerAddress || ring[wire.peerRank] || '?';
      return new PeerLostError(wire.peerRank, address, `reported by ${predName}: ${wire.message}`);
    }
    return new PeerLostError(pred.rank, pred.address, `peer failed: ${wire.code}: ${wire.message}`);
  }
  return new PeerLostError(pred.rank, pred.address, `${GrpcStatus[st.code] ?? st.code}: ${st.details}`);
}
