// The one JetStream stream that keeps every job's events, so a follower started later (or after a
// server restart: file storage) still sees history. Retention is bounded by age and count.
import { DiscardPolicy, nanos, RetentionPolicy, StorageType, type JetStreamManager, type StreamConfig } from 'nats';
import type { ControlLog } from './log';

export const EVENTS_STREAM = 'DTRAIN_EVENTS';
export const EVENTS_SUBJECTS = 'dtrain.*.events.>';
export const EVENTS_MAX_AGE_MS = 7 * 24 * 3600 * 1000;
export const EVENTS_MAX_MSGS = 1_000_000;
export const EVENTS_MAX_BYTES = 1024 * 1024 * 1024;
/** Re-publishes after an outage carry the same msgID; the server drops copies seen within this window. */
export const EVENTS_DUPLICATE_WINDOW_MS = 10 * 60 * 1000;

export function eventsStreamConfig(): Partial<StreamConfig> & { name: string } {
  return {
    name: EVENTS_STREAM,
    subjects: [EVENTS_SUBJECTS],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    max_age: nanos(EVENTS_MAX_AGE_MS),
    max_msgs: EVENTS_MAX_MSGS,
    max_bytes: EVENTS_MAX_BYTES,
    duplicate_window: nanos(EVENTS_DUPLICATE_WINDOW_MS),
    num_replicas: 1,
  };
}

/** Creates the stream, or brings an existing one to our config (two coordinators may race here: both end with the same config). */
export async function ensureEventsStream(jsm: JetStreamManager, log: ControlLog): Promise<void> {
  const config = eventsStreamConfig();
  try {
    await jsm.streams.info(EVENTS_STREAM);
  } catch {
    try {
      await jsm.streams.add(config);
      return;
    } catch (err) {
      // Lost the race to another creator: fall through to the update with our limits.
      try {
        await jsm.streams.info(EVENTS_STREAM);
      } catch {
        throw err;
      }
    }
  }
  const { name, ...rest } = config;
  try {
    await jsm.streams.update(name, rest);
  } catch (err) {
    // An operator may have set the stream up differently (e.g. memory storage): events still flow.
    log(`stream ${EVENTS_STREAM} exists with a config we cannot update (${(err as Error).message}); using it as it is`);
  }
}
