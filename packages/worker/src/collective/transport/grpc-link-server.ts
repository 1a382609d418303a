// Server half of dtrain.v1.Peer/Link: the successor's long-lived bidi stream, multiplexed into one
// OutboundStream per pull request it sends (one per collective), so the ring serves a Link pull
// exactly like a Peer/Pull call: same checks, same generation deferral, same refusals. In-band
// frames replace what a Pull call had in its HTTP/2 stream: end_step for the end of a collective's
// stream, LinkError (gRPC status code + wire-error details) for its failure, cancel_step (from the
// successor) for its cancellation. The whole call closing cancels every open pull.
import * as grpc from '@grpc/grpc-js';
import type { PullRequest__Output } from '@dtrain/shared/proto';
import type { OutgoingChunk } from '../gradient-chunk-codec';
import type { OutboundStream, PullFields, WireFailure } from './api';
import type { LinkRequestMessage, OutgoingLinkFrame } from './grpc-link-codec';

export type LinkCall = grpc.ServerDuplexStream<LinkRequestMessage, OutgoingLinkFrame>;

/** One collective's pull on a link, as the ring sees it. */
class LinkOutbound implements OutboundStream {
  readonly request: PullFields;
  private cancelledFlag = false;
  private finished = false;
  private readonly cancelListeners: (() => void)[] = [];

  constructor(private readonly link: ServerLink, readonly pull: PullRequest__Output, readonly step: number) {
    this.request = {
      id: pull.id ?? null, totalLength: pull.totalLength, encoding: pull.encoding ?? 0, early: pull.early ?? false,
    };
  }

  get peer(): string {
    return this.link.peer;
  }

  get cancelled(): boolean {
    return this.cancelledFlag;
  }

  write(chunk: OutgoingChunk, done: () => void): boolean {
    if (this.cancelledFlag || this.finished) {
      queueMicrotask(done);
      return true;
    }
    return this.link.write({ kind: 'chunk', chunk }, done);
  }

  onceDrain(listener: () => void): void {
    this.link.onceDrain(listener);
  }

  end(): void {
    if (this.finished || this.cancelledFlag) return;
    this.finished = true;
    this.link.finish(this, { kind: 'end', step: this.step });
    // An early pull that ended normally implies the early pull of the next step (PullFields.implied).
    if (this.request.early) this.link.implied(this);
  }

  fail(failure: WireFailure): void {
    if (this.finished || this.cancelledFlag) return;
    this.finished = true;
    this.link.finish(this, { kind: 'error', step: this.step, code: failure.code, details: failure.details });
  }

  onCancelled(listener: () => void): void {
    this.cancelListeners.push(listener);
  }

  /** The successor cancelled this pull, or the link closed. */
  markCancelled(): void {
    if (this.cancelledFlag || this.finished) return;
    this.cancelledFlag = true;
    for (const listener of this.cancelListeners.splice(0)) listener();
  }
}

/** One successor's Link call: routes its pulls to `dispatch`, its cancels to the open pulls. */
export class ServerLink {
  private readonly open = new Map<number, LinkOutbound>();
  private closed = false;
  readonly peer: string;

  constructor(
    private readonly call: LinkCall,
    private readonly dispatch: (stream: OutboundStream) => void,
    private readonly onClosed: (link: ServerLink) => void,
  ) {
    this.peer = call.getPeer();
    call.on('data', (msg: LinkRequestMessage) => this.onRequest(msg));
    call.on('end', () => this.close());
    call.on('cancelled', () => this.lost());
    call.on('error', () => this.lost());
    call.on('close', () => this.lost());
  }

  private onRequest(msg: LinkRequestMessage): void {
    if (this.closed) return;
    if (msg.kind === 'cancel') {
      const stream = this.open.get(msg.step);
      if (stream) {
        this.open.delete(msg.step);
        stream.markCancelled();
      }
      return;
    }
    this.register(new LinkOutbound(this, msg.pull, msg.pull.id?.step ?? 0));
  }

  private register(stream: LinkOutbound): void {
    // A pull for a step still open replaces it (the old one can no longer be told apart).
    this.open.get(stream.step)?.markCancelled();
    this.open.set(stream.step, stream);
    this.dispatch(stream);
  }

  /** The early pull of the step after `ended`'s, which the successor does not send (PullFields.implied). */
  implied(ended: LinkOutbound): void {
    if (this.closed || !ended.pull.id) return;
    const step = ended.step + 1;
    this.register(new LinkOutbound(this, { ...ended.pull, id: { ...ended.pull.id, step } }, step));
  }

  write(frame: OutgoingLinkFrame, done?: () => void): boolean {
    if (this.closed) {
      if (done) queueMicrotask(done);
      return true;
    }
    return this.call.write(frame, done);
  }

  onceDrain(listener: () => void): void {
    this.call.once('drain', listener);
  }

  finish(stream: LinkOutbound, frame: OutgoingLinkFrame): void {
    if (this.open.get(stream.step) === stream) this.open.delete(stream.step);
    this.write(frame);
  }

  /** The successor went away: every open pull is cancelled. */
  private lost(): void {
    if (this.closed) return;
    this.closed = true;
    const open = [...this.open.values()];
    this.open.clear();
    for (const stream of open) stream.markCancelled();
    this.onClosed(this);
  }

  /** This server closes: open pulls fail with `failure`, then the call ends (status OK). */
  close(failure?: WireFailure): void {
    if (this.closed) return;
    if (failure) for (const stream of [...this.open.values()]) stream.fail(failure);
    this.open.clear();
    this.closed = true;
    this.onClosed(this);
    this.call.end();
  }
}
