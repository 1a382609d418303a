export * from './api';
export { InProcessBus, type InProcessBusOptions } from './in-process-bus';
export { NatsBus, connectNatsBus, type NatsBusOptions, type NatsBusStats, DEFAULT_MAX_BUFFERED_EVENTS } from './nats-bus';
export { createControlBus, type CreateControlBusOptions } from './create-control-bus';
export { requestControl, followEvents, readEvents, type FollowEventsOptions, DEFAULT_CONTROL_TIMEOUT_MS } from './control-client';
export { EVENTS_STREAM, EVENTS_SUBJECTS } from './events-stream';
export type { ControlLog } from './log';
export { NatsAuthorizationError, natsCredentialsFromEnv, type NatsCredentials } from './nats-credentials';
