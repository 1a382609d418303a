import { fileURLToPath } from 'node:url';

/** The executable that the launcher spawns local workers with. */
export const DTRAIN_BIN = fileURLToPath(new URL('../bin/dtrain.js', import.meta.url));
