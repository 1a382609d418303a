#!/usr/bin/env node
// dtrain runs its TypeScript sources directly through tsx: no build step, and worker processes
// spawned by the launcher start from this same file.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
