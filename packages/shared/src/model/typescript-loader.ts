// dtrain runs compiled JavaScript; only a custom model module written in TypeScript needs a loader (tsx).
// Registering it blocks the process for a moment (under heavy load, seconds): a worker should do that
// before it connects to anyone, so `dtrain launch` sets DTRAIN_PRELOAD_TSX=1 for its workers when the job
// has such a module, and bin/dtrain.js registers tsx at start. Otherwise it is registered on demand.

/** Shared with bin/dtrain.js: set once tsx's loader is registered in this process. */
export const TSX_REGISTERED = Symbol.for('dtrain.tsx-registered');
export const PRELOAD_TSX_ENV = 'DTRAIN_PRELOAD_TSX';

export function isTypeScriptModule(path: string): boolean {
  return /\.[cm]?tsx?$/.test(path);
}

export async function ensureTypeScriptLoader(): Promise<void> {
  const flags = globalThis as unknown as Record<symbol, boolean | undefined>;
  if (flags[TSX_REGISTERED]) return;
  (await import('tsx/esm/api')).register();
  flags[TSX_REGISTERED] = true;
}
