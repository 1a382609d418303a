// Decides how test services (nats-server, Prometheus) run: as local child processes, or as containers
// through testcontainers where a container engine exists. No Docker engine runs on the team's
// machines, so 'process' is what runs here; the choice is printed so a CI log says which path ran,
// and a forced 'container' without an engine is an error, never a silent skip.
import type { ContainerRuntimeClient } from 'testcontainers';

export const SERVICE_RUNTIME_ENV = 'DTRAIN_TEST_SERVICES';
/** testcontainers fails in ~5 ms here when no engine answers; the bound only guards a hung socket. */
export const CONTAINER_PROBE_TIMEOUT_MS = 5_000;

export type ServiceRuntimeKind = 'process' | 'container';
export type ServiceRuntimeMode = 'auto' | ServiceRuntimeKind;
const MODES: readonly ServiceRuntimeMode[] = ['auto', 'process', 'container'];

export interface ServiceRuntimeChoice {
  kind: ServiceRuntimeKind;
  reason: string;
}

/** Unset or empty means 'auto'; anything else outside the three modes is an error naming the variable. */
export function parseServiceRuntimeMode(value: string | undefined): ServiceRuntimeMode {
  const v = (value ?? '').trim().toLowerCase();
  if (v === '') return 'auto';
  if ((MODES as readonly string[]).includes(v)) return v as ServiceRuntimeMode;
  throw new Error(`${SERVICE_RUNTIME_ENV}='${value}' is not one of ${MODES.join(' | ')}`);
}

export type ContainerProbeResult =
  | { ok: true; client: ContainerRuntimeClient; description: string }
  | { ok: false; error: string };

/**
 * Asks testcontainers for a working container runtime (its own strategy list: DOCKER_HOST,
 * ~/.testcontainers.properties, the docker socket, rootless, podman). testcontainers is imported
 * only here so that DTRAIN_TEST_SERVICES=process never loads it (~0.3 s).
 */
export async function probeContainerRuntime(timeoutMs = CONTAINER_PROBE_TIMEOUT_MS): Promise<ContainerProbeResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer from testcontainers' container runtime probe within ${timeoutMs} ms`)), timeoutMs);
    timer.unref();
  });
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    const client = await Promise.race([getContainerRuntimeClient(), timeout]);
    const rt = client.info.containerRuntime;
    return { ok: true, client, description: `${rt.operatingSystem} ${rt.architecture} at ${rt.host}, server version ${rt.serverVersion}` };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  } finally {
    clearTimeout(timer);
  }
}

async function decide(mode: ServiceRuntimeMode): Promise<ServiceRuntimeChoice> {
  if (mode === 'process') return { kind: 'process', reason: `${SERVICE_RUNTIME_ENV}=process` };
  const probe = await probeContainerRuntime();
  if (mode === 'container') {
    if (probe.ok) return { kind: 'container', reason: `${SERVICE_RUNTIME_ENV}=container; container runtime: ${probe.description}` };
    throw new Error(
      `${SERVICE_RUNTIME_ENV}=container but no container engine is reachable (testcontainers: ${probe.error}). `
        + 'Start a Docker engine (or set DOCKER_HOST), or use DTRAIN_TEST_SERVICES=process / auto.',
    );
  }
  return probe.ok
    ? { kind: 'container', reason: `auto: testcontainers found a container runtime (${probe.description})` }
    : { kind: 'process', reason: `auto: no container runtime (testcontainers: ${probe.error})` };
}

// Keyed by the mode so a test that changes the variable gets the matching answer; a normal run
// reads it once and probes once per test process.
const decisions = new Map<ServiceRuntimeMode, Promise<ServiceRuntimeChoice>>();
let lastChoice: ServiceRuntimeChoice | null = null;

export function describeChoice(choice: ServiceRuntimeChoice): string {
  return choice.kind === 'process'
    ? `services: local processes (${choice.reason})`
    : `services: containers via testcontainers (${choice.reason})`;
}

/** Reads DTRAIN_TEST_SERVICES (auto | process | container), decides once per process, prints the decision once. */
export function chooseServiceRuntime(): Promise<ServiceRuntimeChoice> {
  let mode: ServiceRuntimeMode;
  try {
    mode = parseServiceRuntimeMode(process.env[SERVICE_RUNTIME_ENV]);
  } catch (err) {
    return Promise.reject(err);
  }
  let pending = decisions.get(mode);
  if (pending === undefined) {
    pending = decide(mode).then((choice) => {
      console.info(describeChoice(choice));
      return choice;
    });
    decisions.set(mode, pending);
  }
  return pending.then((choice) => {
    lastChoice = choice;
    return choice;
  });
}

/** The decision the latest chooseServiceRuntime() call returned, or null before any (for log lines). */
export function lastServiceRuntimeChoice(): ServiceRuntimeChoice | null {
  return lastChoice;
}
