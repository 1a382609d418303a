// Checks the deployment files without a cluster or a container engine (neither exists here): every
// Kubernetes object is validated offline against the official schemas (kubernetes-models 4.5), the
// container command lines are parsed by the real dtrain CLI definitions, names, ports and probes are
// cross-checked between objects, the ConfigMap's job file goes through the real job-spec validation,
// and, when kubectl is present, the kustomization and its components are rendered and checked too.
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Command, CommanderError } from 'commander';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { Service } from 'kubernetes-models/v1/Service';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { validateJobSpec } from '@dtrain/shared/job-spec';
import { ALLOCATOR_ENV } from '@dtrain/shared/process/allocator-env';
import { registerCoordinatorCommand } from '../packages/cli/src/commands/coordinator';
import { registerWorkerCommand } from '../packages/cli/src/commands/worker';

const execFileAsync = promisify(execFile);
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const K8S_DIR = join(REPO, 'deploy/kubernetes');
const DTRAIN_BIN = join(REPO, 'packages/cli/bin/dtrain.js');
const CLI_HELP_TIMEOUT_MS = 240_000; // generous: tsx start-up takes minutes at load ~30

// ---- minimal shapes of what the checks read (kubernetes-models validates the full objects) ----
interface Meta { name: string; labels?: Record<string, string>; annotations?: Record<string, string> }
interface K8sObject { apiVersion: string; kind: string; metadata: Meta; spec?: unknown; data?: Record<string, string> }
interface Probe { httpGet?: { path: string; port: string | number } }
interface EnvVar {
  name: string; value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string }; secretKeyRef?: { name: string; key: string } };
}
interface Container {
  name: string; image: string; args?: string[]; env?: EnvVar[];
  ports?: { name?: string; containerPort: number }[];
  readinessProbe?: Probe; livenessProbe?: Probe; startupProbe?: Probe;
  volumeMounts?: { name: string; mountPath: string }[];
}
interface ProjectedSecret { secret?: { name: string; items?: { key: string; path: string }[] } }
interface Volume {
  name: string; configMap?: { name: string }; emptyDir?: object; persistentVolumeClaim?: { claimName: string };
  projected?: { defaultMode?: number; sources: ProjectedSecret[] };
}
interface PodTemplate { metadata: Meta; spec: { containers: Container[]; volumes?: Volume[]; subdomain?: string; restartPolicy?: string } }
interface PodFailureRule {
  action: string;
  onExitCodes?: { containerName?: string; operator: string; values: number[] };
  onPodConditions?: { type: string }[];
}
interface JobSpecK8s {
  completionMode?: string; completions?: number; parallelism?: number; template: PodTemplate;
  backoffLimit?: number; backoffLimitPerIndex?: number; podFailurePolicy?: { rules: PodFailureRule[] };
}
interface ServiceSpec {
  clusterIP?: string; publishNotReadyAddresses?: boolean; selector: Record<string, string>;
  ports: { name: string; port: number; targetPort: string | number }[];
}
interface Source { file: string; object: K8sObject }

type Validator = (raw: unknown) => void;
// Every kind the deploy files may use; an unknown kind fails the test (add its model here).
const VALIDATORS: Record<string, Validator> = {
  'v1/ConfigMap': (raw) => new ConfigMap(raw as ConstructorParameters<typeof ConfigMap>[0]).validate(),
  'v1/Service': (raw) => new Service(raw as ConstructorParameters<typeof Service>[0]).validate(),
  'v1/PersistentVolumeClaim': (raw) => new PersistentVolumeClaim(raw as ConstructorParameters<typeof PersistentVolumeClaim>[0]).validate(),
  'apps/v1/Deployment': (raw) => new Deployment(raw as ConstructorParameters<typeof Deployment>[0]).validate(),
  'batch/v1/Job': (raw) => new Job(raw as ConstructorParameters<typeof Job>[0]).validate(),
};
// Custom resources kubernetes-models 4.5 has no schema for: checked structurally below.
const CRD_KINDS = new Set(['monitoring.coreos.com/v1/PodMonitor', 'cert-manager.io/v1/Certificate', 'cert-manager.io/v1/Issuer']);
const KUSTOMIZE_KINDS = new Set(['Kustomization', 'Component']);

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return yamlFiles(path);
    return /\.ya?ml$/.test(name) ? [path] : [];
  });
}

function parseObjects(text: string, file: string): K8sObject[] {
  return parseAllDocuments(text).flatMap((doc, i) => {
    if (doc.errors.length > 0) throw new Error(`${file} document ${i}: ${doc.errors[0].message}`);
    const value: unknown = doc.toJS();
    return value === null || value === undefined ? [] : [value as K8sObject];
  });
}

function validateObject(object: K8sObject, where: string): void {
  const key = `${object.apiVersion}/${object.kind}`;
  const validator = VALIDATORS[key];
  if (!validator) throw new Error(`${where}: no schema validator for ${key}`);
  try {
    validator(object);
  } catch (err) {
    throw new Error(`${where} (${object.kind} ${object.metadata?.name}): ${(err as Error).message}`);
  }
}

function find(sources: Source[], kind: string, name: string): K8sObject {
  const hit = sources.find((s) => s.object.kind === kind && s.object.metadata.name === name);
  if (!hit) throw new Error(`no ${kind} named ${name} in deploy/kubernetes`);
  return hit.object;
}

const jobSpec = (o: K8sObject): JobSpecK8s => o.spec as JobSpecK8s;
const serviceSpec = (o: K8sObject): ServiceSpec => o.spec as ServiceSpec;

function matches(selector: Record<string, string>, labels: Record<string, string> | undefined): boolean {
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

/** The value after `--flag` or in `--flag=value`; undefined when the flag is absent. */
function flagValue(args: string[], flag: string): string | undefined {
  for (let i = 0; i < args.length; i += 1) {
    if (args[i] === flag) return args[i + 1];
    if (args[i].startsWith(`${flag}=`)) return args[i].slice(flag.length + 1);
  }
  return undefined;
}

/** `--workers` as parsed by the coordinator CLI: N (N:N) or {min, max}. */
function workerRange(value: unknown): { min: number; max: number } {
  if (typeof value === 'number') return { min: value, max: value };
  const r = value as { min: number; max: number };
  return { min: r.min, max: r.max };
}

/** Kubernetes expands $(VAR) in args from the container's env; we do it with given values. */
function expandArgs(args: string[], env: Record<string, string>): string[] {
  return args.map((a) => a.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name: string) => env[name] ?? whole));
}

/**
 * Parses container args with the real dtrain command definitions (options, required flags, value
 * parsers), capturing the parsed flags instead of running the command.
 */
async function parseWithCli(args: string[]): Promise<{ command: string; positional: string[]; flags: Record<string, unknown> }> {
  const program = new Command().exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  registerCoordinatorCommand(program);
  registerWorkerCommand(program);
  let captured: { command: string; positional: string[]; flags: Record<string, unknown> } | null = null;
  for (const sub of program.commands) {
    sub.action((...actionArgs: unknown[]) => {
      const cmd = actionArgs[actionArgs.length - 1] as Command;
      captured = { command: cmd.name(), positional: cmd.args, flags: cmd.opts() };
    });
  }
  try {
    await program.parseAsync(args, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) throw new Error(`dtrain ${args.join(' ')}: ${err.message}`);
    throw err;
  }
  if (!captured) throw new Error(`dtrain ${args.join(' ')}: no command ran`);
  return captured;
}

function portNumber(container: Container, port: string | number): number | undefined {
  if (typeof port === 'number') return container.ports?.some((p) => p.containerPort === port) ? port : undefined;
  return container.ports?.find((p) => p.name === port)?.containerPort;
}

function workloads(sources: Source[]): { where: string; template: PodTemplate }[] {
  return sources.flatMap(({ file, object }) => {
    if (object.kind !== 'Job' && object.kind !== 'Deployment') return [];
    return [{ where: `${file} ${object.kind} ${object.metadata.name}`, template: (object.spec as { template: PodTemplate }).template }];
  });
}

const sources: Source[] = [];
const kustomizations: { file: string; object: { kind: string; resources?: string[]; images?: { name: string }[] } }[] = [];
let coordinatorHelp = '';
let workerHelp = '';

beforeAll(async () => {
  for (const path of yamlFiles(K8S_DIR)) {
    const file = relative(REPO, path);
    for (const object of parseObjects(readFileSync(path, 'utf8'), file)) {
      if (KUSTOMIZE_KINDS.has(object.kind)) kustomizations.push({ file, object: object as unknown as (typeof kustomizations)[number]['object'] });
      else sources.push({ file, object });
    }
  }
  // The real executable's help, as a user would read it (both at once).
  const help = (command: string) => execFileAsync(process.execPath, [DTRAIN_BIN, command, '--help'], { cwd: REPO, timeout: CLI_HELP_TIMEOUT_MS });
  const [coordinator, worker] = await Promise.all([help('coordinator'), help('worker')]);
  coordinatorHelp = coordinator.stdout;
  workerHelp = worker.stdout;
}, CLI_HELP_TIMEOUT_MS);

describe('deploy/kubernetes objects', () => {
  it('every document is a schema-valid Kubernetes object (or a known CRD / kustomize file)', () => {
    expect(sources.length).toBeGreaterThanOrEqual(8);
    const seen: string[] = [];
    for (const { file, object } of sources) {
      const key = `${object.apiVersion}/${object.kind}`;
      seen.push(key);
      if (CRD_KINDS.has(key)) continue;
      validateObject(object, file);
    }
    expect(new Set(seen)).toEqual(new Set([
      'v1/ConfigMap', 'v1/Service', 'batch/v1/Job', 'apps/v1/Deployment', 'v1/PersistentVolumeClaim',
      'monitoring.coreos.com/v1/PodMonitor', 'cert-manager.io/v1/Certificate', 'cert-manager.io/v1/Issuer',
    ]));
  });

  it('the schema validation rejects a broken object (the check above can fail)', () => {
    const { file, object } = sources.find((s) => s.object.kind === 'Job')!;
    const broken = structuredClone(object);
    const container = jobSpec(broken).template.spec.containers[0];
    (container.ports![0] as { containerPort: unknown }).containerPort = 'metrics';
    expect(() => validateObject(broken, file)).toThrow(/containerPort must be integer/);
  });

  it('the kustomization lists every top-level manifest and only existing files', () => {
    const base = kustomizations.find((k) => k.file === 'deploy/kubernetes/kustomization.yaml');
    expect(base?.object.kind).toBe('Kustomization');
    const listed = new Set(base!.object.resources);
    const topLevel = readdirSync(K8S_DIR).filter((n) => /\.ya?ml$/.test(n) && n !== 'kustomization.yaml');
    expect([...listed].sort()).toEqual(topLevel.sort());
    for (const k of kustomizations) {
      for (const r of k.object.resources ?? []) expect(existsSync(join(REPO, dirname(k.file), r)), `${k.file}: ${r}`).toBe(true);
    }
    // The image every dtrain container uses is the one the kustomization retags.
    const images = new Set(workloads(sources).flatMap((w) => w.template.spec.containers.map((c) => c.image.split(':')[0])));
    expect(images).toEqual(new Set(['dtrain', 'nats']));
    expect(base!.object.images?.map((i) => i.name)).toEqual(['dtrain']);
  });
});

describe('coordinator', () => {
  it('its args use only flags of `dtrain coordinator --help`, and parse with the real CLI', async () => {
    const job = find(sources, 'Job', 'dtrain-coordinator');
    const container = jobSpec(job).template.spec.containers[0];
    const args = container.args ?? [];
    expect(args[0]).toBe('coordinator');
    const flags = args.filter((a) => a.startsWith('-')).map((a) => a.split('=')[0]);
    expect(flags.length).toBeGreaterThanOrEqual(3);
    for (const flag of flags) expect(coordinatorHelp, `flag ${flag}`).toContain(flag);

    const parsed = await parseWithCli(args);
    expect(parsed.command).toBe('coordinator');
    expect(parsed.flags.listen).toBe('0.0.0.0:29400');
    expect(parsed.flags.metricsPort).toBe(9400);
    // The job file argument is the ConfigMap key where the volume is mounted.
    const jobPath = parsed.positional[0];
    const mount = container.volumeMounts!.find((m) => jobPath.startsWith(`${m.mountPath}/`))!;
    const volume = jobSpec(job).template.spec.volumes!.find((v) => v.name === mount.name)!;
    const configMap = find(sources, 'ConfigMap', volume.configMap!.name);
    expect(Object.keys(configMap.data!)).toContain(jobPath.slice(mount.mountPath.length + 1));
  });

  it('container ports, Service ports and probes agree; the Service reaches it before it is ready', async () => {
    const job = find(sources, 'Job', 'dtrain-coordinator');
    const template = jobSpec(job).template;
    const container = template.spec.containers[0];
    const parsed = await parseWithCli(container.args ?? []);
    const listenPort = Number(String(parsed.flags.listen).split(':').pop());
    expect(portNumber(container, 'grpc')).toBe(listenPort);
    expect(portNumber(container, 'metrics')).toBe(parsed.flags.metricsPort);
    expect(container.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
    expect(container.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(template.metadata.annotations?.['prometheus.io/port']).toBe(String(parsed.flags.metricsPort));

    const svc = serviceSpec(find(sources, 'Service', 'dtrain-coordinator'));
    expect(matches(svc.selector, template.metadata.labels)).toBe(true);
    // /readyz is 503 during rendezvous, exactly when workers must connect.
    expect(svc.publishNotReadyAddresses).toBe(true);
    const byName = Object.fromEntries(svc.ports.map((p) => [p.name, p]));
    expect(byName.grpc.port).toBe(29400);
    expect(portNumber(container, byName.grpc.targetPort)).toBe(listenPort);
    expect(byName.metrics.port).toBe(9400);
    expect(portNumber(container, byName.metrics.targetPort)).toBe(9400);
  });
});

describe('workers', () => {
  it('their args use only flags of `dtrain worker --help`; --coordinator is the coordinator Service; each advertises its own DNS name', async () => {
    const job = find(sources, 'Job', 'dtrain-worker');
    const spec = jobSpec(job);
    const container = spec.template.spec.containers[0];
    const args = container.args ?? [];
    const flags = args.filter((a) => a.startsWith('-')).map((a) => a.split('=')[0]);
    for (const flag of flags) expect(workerHelp, `flag ${flag}`).toContain(flag);

    const env = Object.fromEntries((container.env ?? []).map((e) => [e.name, e]));
    expect(env.LOCAL_RANK?.value).toBe('0');
    // The same allocator settings `dtrain launch` gives its workers (allocator-env.ts).
    for (const [name, value] of Object.entries(ALLOCATOR_ENV)) expect(env[name]?.value, name).toBe(value);
    expect(env.JOB_COMPLETION_INDEX?.valueFrom?.fieldRef?.fieldPath).toBe("metadata.annotations['batch.kubernetes.io/job-completion-index']");

    const coordinatorSvc = serviceSpec(find(sources, 'Service', 'dtrain-coordinator'));
    const grpcPort = coordinatorSvc.ports.find((p) => p.name === 'grpc')!.port;
    const headless = find(sources, 'Service', spec.template.spec.subdomain!);
    expect(serviceSpec(headless).clusterIP).toBe('None');
    expect(serviceSpec(headless).publishNotReadyAddresses).toBe(true);
    expect(matches(serviceSpec(headless).selector, spec.template.metadata.labels)).toBe(true);
    expect(spec.completionMode).toBe('Indexed');

    // An Indexed Job's pod k has host name <job>-<k>; with `subdomain` it resolves as <job>-<k>.<subdomain>.
    for (const index of [0, 1, 7]) {
      const parsed = await parseWithCli(expandArgs(args, { JOB_COMPLETION_INDEX: String(index) }));
      expect(parsed.command).toBe('worker');
      expect(parsed.flags.coordinator).toBe(`dtrain-coordinator:${grpcPort}`);
      expect(parsed.flags.advertiseHost).toBe(`${job.metadata.name}-${index}.${headless.metadata.name}`);
      expect(parsed.flags.peerHost).toBe('0.0.0.0');
      // Probes come from the kubelet, at the pod IP: not loopback.
      expect(parsed.flags.metricsHost).toBe('0.0.0.0');
      expect(parsed.flags.metricsPort).toBe(9401);
    }
  });

  it('the world size agrees: parallelism = completions = MAX of coordinator --workers MIN:MAX', async () => {
    const workers = jobSpec(find(sources, 'Job', 'dtrain-worker'));
    const args = jobSpec(find(sources, 'Job', 'dtrain-coordinator')).template.spec.containers[0].args ?? [];
    expect(flagValue(args, '--workers')).toBe('1:2');
    const coordinator = await parseWithCli(args);
    expect(workerRange(coordinator.flags.workers)).toEqual({ min: 1, max: 2 });
    expect(workers.parallelism).toBe(2);
    expect(workers.completions).toBe(2);
  });

  it('elastic: a failed worker pod is recreated (same index) and joins; unrecoverable exits stop that index', async () => {
    const workers = jobSpec(find(sources, 'Job', 'dtrain-worker'));
    const template = workers.template;
    // podFailurePolicy needs restartPolicy Never; the replacement is a new pod with the same index.
    expect(template.spec.restartPolicy).toBe('Never');
    expect(workers.backoffLimitPerIndex).toBeGreaterThanOrEqual(1);
    const rules = workers.podFailurePolicy!.rules;
    const failIndex = rules.find((r) => r.action === 'FailIndex')!;
    expect(failIndex.onExitCodes).toEqual({ containerName: 'worker', operator: 'In', values: [2, 3] });
    expect(rules.find((r) => r.action === 'Ignore')?.onPodConditions).toEqual([{ type: 'DisruptionTarget', status: 'True' }]);
    // The replacement re-joins a restarted coordinator too: its re-join deadline is set.
    const parsed = await parseWithCli(expandArgs(template.spec.containers[0].args ?? [], { JOB_COMPLETION_INDEX: '1' }));
    expect(parsed.flags.coordinatorTimeoutMs).toBe(120_000);
    // The coordinator is restarted in place (same pod, same emptyDir with its state file) and takes over.
    const coordinator = jobSpec(find(sources, 'Job', 'dtrain-coordinator'));
    expect(coordinator.template.spec.restartPolicy).toBe('OnFailure');
    expect(coordinator.backoffLimit).toBeGreaterThanOrEqual(1);
    // Exit code 3 is what `dtrain worker` uses for a refused join (checked in the CLI source).
    const workerCli = readFileSync(join(REPO, 'packages/cli/src/commands/worker.ts'), 'utf8');
    expect(workerCli).toMatch(/JoinRefusedError \? 3 : 1/);
  });

  it('ports and probes agree, and the checkpoint folder of the job file is on a writable volume', async () => {
    const template = jobSpec(find(sources, 'Job', 'dtrain-worker')).template;
    const container = template.spec.containers[0];
    const parsed = await parseWithCli(expandArgs(container.args ?? [], { JOB_COMPLETION_INDEX: '0' }));
    expect(portNumber(container, 'metrics')).toBe(parsed.flags.metricsPort);
    expect(container.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
    expect(container.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(container.startupProbe?.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(template.metadata.annotations?.['prometheus.io/port']).toBe(String(parsed.flags.metricsPort));
    const headless = serviceSpec(find(sources, 'Service', template.spec.subdomain!));
    expect(portNumber(container, headless.ports[0].targetPort)).toBe(parsed.flags.metricsPort);

    const spec = validateJobSpec(parseYaml(find(sources, 'ConfigMap', 'dtrain-job').data!['job.yaml']), 'dtrain-job ConfigMap');
    const dir = spec.checkpoint!.dir;
    expect(isAbsolute(dir)).toBe(true);
    const mount = container.volumeMounts?.find((m) => dir.startsWith(`${m.mountPath}/`));
    expect(mount, `a volume mounted above ${dir}`).toBeDefined();
  });
});

describe('the job file in the ConfigMap', () => {
  it('passes the real job-spec validation and is examples/mnist-mlp.yaml plus a checkpoint folder', () => {
    const text = find(sources, 'ConfigMap', 'dtrain-job').data!['job.yaml'];
    const spec = validateJobSpec(parseYaml(text), 'dtrain-job ConfigMap');
    expect(spec.name).toBe('mnist-mlp');
    expect(spec.dataset).toMatchObject({ kind: 'mnist', shape: 'flat', testFraction: 0.2 });
    const example = validateJobSpec(parseYaml(readFileSync(join(REPO, 'examples/mnist-mlp.yaml'), 'utf8')), 'examples/mnist-mlp.yaml');
    expect({ ...spec, checkpoint: undefined }).toEqual({ ...example, checkpoint: undefined });
    // And a broken copy is refused with the field named (the check can fail).
    expect(() => validateJobSpec(parseYaml(text.replace('batchSize: 64', 'batchSize: "64"')), 'cm'))
      .toThrow(/training\.batchSize/);
  });
});

describe('probes and scraping, every workload', () => {
  it('every httpGet probe targets a declared container port; dtrain pods expose a port named metrics', () => {
    for (const { where, template } of workloads(sources)) {
      for (const c of template.spec.containers) {
        for (const probe of [c.readinessProbe, c.livenessProbe, c.startupProbe]) {
          if (probe?.httpGet) expect(portNumber(c, probe.httpGet.port), `${where} ${c.name} probe port ${probe.httpGet.port}`).toBeDefined();
        }
      }
    }
  });

  it('the PodMonitor selects both dtrain pods, on their metrics port, keeping dtrain\'s job label', () => {
    const pm = find(sources, 'PodMonitor', 'dtrain');
    const spec = pm.spec as { selector: { matchLabels: Record<string, string> }; podMetricsEndpoints: { port: string; path: string; honorLabels?: boolean }[] };
    for (const name of ['dtrain-coordinator', 'dtrain-worker']) {
      const template = jobSpec(find(sources, 'Job', name)).template;
      expect(matches(spec.selector.matchLabels, template.metadata.labels), name).toBe(true);
      expect(portNumber(template.spec.containers[0], spec.podMetricsEndpoints[0].port), name).toBeDefined();
      // The scrape config in deploy/prometheus/prometheus.yml keeps part-of=dtrain pods.
      expect(template.metadata.labels?.['app.kubernetes.io/part-of']).toBe('dtrain');
    }
    expect(spec.podMetricsEndpoints[0]).toMatchObject({ path: '/metrics', honorLabels: true });
    // Nothing else is selected (the NATS pod has no /metrics on a `metrics` port).
    const nats = workloads(sources).find((w) => w.where.includes('dtrain-nats'))!;
    expect(matches(spec.selector.matchLabels, nats.template.metadata.labels)).toBe(false);
  });
});

const kubectl = ['/usr/bin/kubectl', '/usr/local/bin/kubectl'].find((p) => existsSync(p));

describe.skipIf(!kubectl)('kustomize rendering (kubectl kustomize, offline)', () => {
  let work = '';
  beforeAll(() => {
    // An overlay may not live inside its base: copy the set to a temp folder with an overlay next to it.
    // Same relative layout as the repository, so the overlay in docs/deploy.md resolves as written.
    work = mkdtempSync(join(tmpdir(), 'dtrain-kustomize-'));
    cpSync(K8S_DIR, join(work, 'deploy/kubernetes'), { recursive: true });
    writeFileSync(join(work, 'kustomization.yaml'), [
      'resources: [deploy/kubernetes]',
      'components: [deploy/kubernetes/components/nats, deploy/kubernetes/components/checkpoints-pvc]',
      '',
    ].join('\n'));
  });
  afterAll(() => { if (work) rmSync(work, { recursive: true, force: true }); });

  async function render(dir: string): Promise<K8sObject[]> {
    const { stdout } = await execFileAsync(kubectl!, ['kustomize', dir], { timeout: 30_000 });
    return parseObjects(stdout, dir);
  }

  it('the base renders to exactly the top-level objects', async () => {
    const rendered = await render(join(work, 'deploy/kubernetes'));
    const names = (objs: K8sObject[]) => objs.map((o) => `${o.kind}/${o.metadata.name}`).sort();
    const topLevel = sources.filter((s) => !s.file.includes('/components/') && !s.file.includes('/optional/')).map((s) => s.object);
    expect(names(rendered)).toEqual(names(topLevel));
    for (const o of rendered) validateObject(o, 'kustomize base');
  });

  it('with the nats and checkpoints-pvc components: valid objects, --nats points at the NATS Service, both Jobs mount the claim', async () => {
    const rendered = await render(work);
    for (const o of rendered) validateObject(o, 'kustomize base+components');
    const get = (kind: string, name: string) => rendered.find((o) => o.kind === kind && o.metadata.name === name)!;

    const coordinator = jobSpec(get('Job', 'dtrain-coordinator'));
    const parsed = await parseWithCli(coordinator.template.spec.containers[0].args ?? []);
    const natsSvc = serviceSpec(get('Service', 'dtrain-nats'));
    expect(parsed.flags.nats).toBe(`nats://dtrain-nats:${natsSvc.ports.find((p) => p.name === 'client')!.port}`);
    expect(flagValue(coordinator.template.spec.containers[0].args ?? [], '--workers')).toBe('1:2');

    const pvc = get('PersistentVolumeClaim', 'dtrain-checkpoints');
    expect((pvc.spec as { accessModes: string[] }).accessModes).toEqual(['ReadWriteMany']);
    for (const name of ['dtrain-coordinator', 'dtrain-worker']) {
      const volumes = jobSpec(get('Job', name)).template.spec.volumes!;
      const checkpoints = volumes.find((v) => v.name === 'checkpoints')!;
      expect(checkpoints, name).toEqual({ name: 'checkpoints', persistentVolumeClaim: { claimName: 'dtrain-checkpoints' } });
    }
  });
  it('the scaling overlay of docs/deploy.md renders: 4 workers everywhere, namespace and image set', async () => {
    const doc = readFileSync(join(REPO, 'docs/deploy.md'), 'utf8');
    const block = /<!-- scale-overlay[^\n]*-->\n```yaml\n([\s\S]*?)\n```/.exec(doc);
    expect(block, 'the scale-overlay block in docs/deploy.md').not.toBeNull();
    const dir = join(work, 'overlays/ml');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'kustomization.yaml'), block![1]);
    const rendered = await render(dir);
    for (const o of rendered) validateObject(o, 'docs/deploy.md overlay');
    expect(new Set(rendered.map((o) => (o.metadata as { namespace?: string }).namespace))).toEqual(new Set(['ml']));
    const get = (name: string) => jobSpec(rendered.find((o) => o.kind === 'Job' && o.metadata.name === name)!);
    const coordinator = get('dtrain-coordinator').template.spec.containers[0];
    const parsed = await parseWithCli(coordinator.args ?? []);
    expect(workerRange(parsed.flags.workers)).toEqual({ min: 4, max: 4 });
    expect(get('dtrain-worker').parallelism).toBe(4);
    expect(get('dtrain-worker').completions).toBe(4);
    expect(coordinator.image).toBe('registry.example.com/dtrain:0.1.0');
    expect(get('dtrain-worker').template.spec.containers[0].image).toBe('registry.example.com/dtrain:0.1.0');
    expect(parsed.flags.nats).toBe('nats://dtrain-nats:4222');
  });
});

describe('deploy/docker', () => {
  function instructions(file: string): { op: string; rest: string }[] {
    // Joins continuation lines, drops comments: enough of the Dockerfile grammar for these files.
    const text = readFileSync(join(REPO, file), 'utf8').split('\n').filter((l) => !/^\s*#/.test(l)).join('\n').replace(/\\\n/g, ' ');
    return text.split('\n').map((l) => l.trim()).filter(Boolean).map((l) => {
      const [op, ...rest] = l.split(/\s+/);
      return { op: op.toUpperCase(), rest: rest.join(' ') };
    });
  }
  const ignored = readFileSync(join(REPO, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));

  for (const file of ['deploy/docker/Dockerfile', 'deploy/docker/Dockerfile.gpu']) {
    it(`${file}: ENTRYPOINT runs a file of the repo, and every COPY source exists and is not ignored`, () => {
      const ops = instructions(file);
      const entrypoint = JSON.parse(ops.find((o) => o.op === 'ENTRYPOINT')!.rest) as string[];
      expect(entrypoint).toEqual(['node', 'packages/cli/bin/dtrain.js']);
      const workdir = ops.find((o) => o.op === 'WORKDIR')!.rest;
      expect(workdir).toBe('/app');
      expect(existsSync(join(REPO, entrypoint[1]))).toBe(true);
      // COPY --from=build takes the build stage's output (packages/cli/dist), not a file of the context.
      const copies = ops.filter((o) => o.op === 'COPY' && !o.rest.startsWith('--from='));
      expect(copies.length).toBeGreaterThanOrEqual(8);
      for (const { rest } of copies) {
        const parts = rest.split(/\s+/);
        for (const src of parts.slice(0, -1)) {
          expect(existsSync(join(REPO, src)), `${file}: COPY ${src}`).toBe(true);
          expect(ignored.some((p) => p.replace(/^\*\*\//, '') === src.split('/')[0]), `${file}: ${src} is in .dockerignore`).toBe(false);
        }
      }
      // The runtime needs proto/ (loaded at run time), the sources and the example data.
      const copied = new Set(copies.flatMap((c) => c.rest.split(/\s+/).slice(0, -1)));
      for (const needed of ['proto', 'packages', 'examples', 'package-lock.json', 'scripts']) expect(copied.has(needed), needed).toBe(true);
      // The runtime stage takes the compiled JavaScript from the build stage, which runs the build.
      expect(ops.some((o) => o.op === 'RUN' && o.rest.includes('npm run build'))).toBe(true);
      expect(ops.some((o) => o.op === 'COPY' && /^--from=build \/app\/packages\/cli\/dist /.test(o.rest))).toBe(true);
      // Workers started from the image get the allocator settings `dtrain launch` gives its workers.
      const envs = ops.filter((o) => o.op === 'ENV').flatMap((o) => o.rest.split(/\s+/));
      for (const [name, value] of Object.entries(ALLOCATOR_ENV)) expect(envs, name).toContain(`${name}=${value}`);
    });
  }

  it('`npm ci --omit=dev` keeps what runs: tsx (for TypeScript model modules) is a dependency of packages/shared', () => {
    const ops = instructions('deploy/docker/Dockerfile');
    // --ignore-scripts: `prepare` would run the build, whose esbuild is a dev dependency.
    expect(ops.some((o) => o.op === 'RUN' && o.rest.includes('npm ci --omit=dev --ignore-scripts'))).toBe(true);
    const shared = JSON.parse(readFileSync(join(REPO, 'packages/shared/package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(Object.keys(shared.dependencies)).toContain('tsx');
    // node_modules must stay out of the build context (it would overwrite the image's install).
    expect(ignored).toContain('**/node_modules');
  });

  it('.dockerignore drops no tracked source file the image copies', async () => {
    const { stdout } = await execFileAsync('git', ['ls-files', 'proto', 'packages', 'examples'], { cwd: REPO });
    const files = stdout.split('\n').filter(Boolean);
    expect(files.length).toBeGreaterThan(50);
    const dropped = files.filter((f) => {
      const parts = f.split('/');
      return ignored.some((p) => (p.startsWith('**/') ? parts.includes(p.slice(3)) : parts[0] === p));
    });
    expect(dropped).toEqual([]);
  });
});

// ---- security: TLS material and the join token come from Secrets (see the Security section of the README) ----
const TLS_ENV = ['DTRAIN_TLS_CA', 'DTRAIN_TLS_CERT', 'DTRAIN_TLS_KEY'] as const;

function tlsFiles(template: PodTemplate): { env: Record<string, EnvVar>; mountPath: string; volume: Volume } {
  const container = template.spec.containers[0];
  const env = Object.fromEntries((container.env ?? []).map((e) => [e.name, e]));
  const mount = container.volumeMounts!.find((m) => m.name === 'tls')!;
  const volume = template.spec.volumes!.find((v) => v.name === 'tls')!;
  return { env, mountPath: mount.mountPath, volume };
}

describe('security: mutual TLS and the join token from Secrets', () => {
  let certDir = '';
  beforeAll(async () => {
    certDir = mkdtempSync(join(tmpdir(), 'dtrain-k8s-certs-'));
    await execFileAsync(process.execPath, [DTRAIN_BIN, 'certs', 'create', '--out', certDir], { cwd: REPO, timeout: CLI_HELP_TIMEOUT_MS });
  }, CLI_HELP_TIMEOUT_MS);
  afterAll(() => { if (certDir) rmSync(certDir, { recursive: true, force: true }); });

  for (const [name, role] of [['dtrain-coordinator', 'coordinator'], ['dtrain-worker', 'worker']] as const) {
    it(`${name}: DTRAIN_TLS_* name the files the tls Secret volume holds (those of \`dtrain certs create\`), the token a Secret key`, async () => {
      const { CERT_FILES } = await import('../packages/cli/src/commands/certs');
      const { env, mountPath, volume } = tlsFiles(jobSpec(find(sources, 'Job', name)).template);
      const items = volume.projected!.sources.flatMap((s) => s.secret?.items ?? []);
      expect(volume.projected!.sources.map((s) => s.secret?.name)).toEqual(['dtrain-tls']);
      expect(items.map((i) => i.path).sort()).toEqual(['ca.pem', `${role}-key.pem`, `${role}.pem`].sort());
      for (const i of items) expect(CERT_FILES as readonly string[]).toContain(i.key);
      // fsGroup 1000 reads the files: group-readable, not world-readable.
      expect(volume.projected!.defaultMode).toBe(0o440);
      for (const v of TLS_ENV) {
        const path = env[v]?.value ?? '';
        expect(path.startsWith(`${mountPath}/`), `${v}=${path}`).toBe(true);
        expect(items.map((i) => i.path)).toContain(path.slice(mountPath.length + 1));
      }
      // Workers never get the coordinator's key, and the reverse.
      expect(items.some((i) => i.key.startsWith(role === 'worker' ? 'coordinator' : 'worker'))).toBe(false);
      expect(env.DTRAIN_JOIN_TOKEN?.valueFrom?.secretKeyRef).toEqual({ name: 'dtrain-join-token', key: 'token' });
    });

    it(`${name}: with those files the real CLI resolves mutual TLS and may listen on 0.0.0.0; without them it is refused`, async () => {
      const { resolveSecurity } = await import('../packages/cli/src/security-flags');
      const template = jobSpec(find(sources, 'Job', name)).template;
      const { env, mountPath } = tlsFiles(template);
      const args = expandArgs(template.spec.containers[0].args ?? [], { JOB_COMPLETION_INDEX: '0' });
      const parsed = await parseWithCli(args);
      const listen = role === 'coordinator' ? String(parsed.flags.listen) : `${String(parsed.flags.peerHost)}:0`;
      const mapped: NodeJS.ProcessEnv = { DTRAIN_JOIN_TOKEN: readFileSync(join(certDir, 'join-token'), 'utf8').trim() };
      for (const v of TLS_ENV) mapped[v] = join(certDir, env[v].value!.slice(mountPath.length + 1));
      const secure = resolveSecurity({}, mapped, () => undefined);
      expect(secure.mode).toBe('mtls');
      expect(secure.checkListen(listen)).toBeNull();
      expect(resolveSecurity({}, {}, () => undefined).checkListen(listen)?.message).toMatch(/--tls-ca, --tls-cert and --tls-key.*--join-token.*--insecure/);
    });
  }

  it('the cert-manager component: Issuers exist for every issuerRef, certificates do server + client auth in PKCS#8', () => {
    const inComponent = sources.filter((s) => s.file.includes('components/cert-manager/'));
    const issuers = new Set(inComponent.filter((s) => s.object.kind === 'Issuer').map((s) => s.object.metadata.name));
    const certs = inComponent.filter((s) => s.object.kind === 'Certificate').map((s) => s.object.spec as {
      secretName: string; isCA?: boolean; usages?: string[]; issuerRef: { name: string; kind: string }; privateKey: { encoding: string };
    });
    expect(certs.map((c) => c.secretName).sort()).toEqual(['dtrain-ca', 'dtrain-coordinator-tls', 'dtrain-worker-tls']);
    for (const c of certs) {
      expect(c.issuerRef.kind).toBe('Issuer');
      expect(issuers.has(c.issuerRef.name), c.issuerRef.name).toBe(true);
      expect(c.privateKey.encoding).toBe('PKCS8');
      if (!c.isCA) expect(c.usages).toEqual(expect.arrayContaining(['server auth', 'client auth']));
    }
  });

  it.skipIf(!kubectl)('rendered with the cert-manager component, both Jobs mount cert-manager\'s Secrets under the same file names', async () => {
    const work = mkdtempSync(join(tmpdir(), 'dtrain-kustomize-cm-'));
    try {
      cpSync(K8S_DIR, join(work, 'deploy/kubernetes'), { recursive: true });
      writeFileSync(join(work, 'kustomization.yaml'),
        'resources: [deploy/kubernetes]\ncomponents: [deploy/kubernetes/components/cert-manager, deploy/kubernetes/components/checkpoints-pvc]\n');
      const { stdout } = await execFileAsync(kubectl!, ['kustomize', work], { timeout: 30_000 });
      const rendered = parseObjects(stdout, 'cert-manager overlay');
      for (const o of rendered) if (!CRD_KINDS.has(`${o.apiVersion}/${o.kind}`)) validateObject(o, 'cert-manager overlay');
      for (const [name, role] of [['dtrain-coordinator', 'coordinator'], ['dtrain-worker', 'worker']] as const) {
        const job = rendered.find((o) => o.kind === 'Job' && o.metadata.name === name)!;
        const { volume } = tlsFiles(jobSpec(job).template);
        expect(volume.projected!.sources).toEqual([{ secret: { name: `dtrain-${role}-tls`, items: [
          { key: 'ca.crt', path: 'ca.pem' }, { key: 'tls.crt', path: `${role}.pem` }, { key: 'tls.key', path: `${role}-key.pem` },
        ] } }]);
        // The other component's volume is untouched by this one.
        expect(jobSpec(job).template.spec.volumes!.find((v) => v.name === 'checkpoints')?.persistentVolumeClaim?.claimName).toBe('dtrain-checkpoints');
      }
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});
