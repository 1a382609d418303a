// Public surface of the collective subsystem.
export type { AllReduceStats, Collective, PeerServer, PeerServerOptions, RingOptions, TransportKind, TransportTls } from './api';
export { startPeerServer } from './peer-server';
export { createRingCollective } from './ring-collective';
export { FLOW_CONTROL_WINDOW_BYTES } from './peer-service';
