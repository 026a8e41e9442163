import { execFile } from "node:child_process";
import { accessSync, constants, existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { settingsSchema } from "../../src/config/schema.js";
import { parseCrontabFile } from "../../src/crontab/parse-crontab.js";
import { builtInTasks as tasks } from "../../src/tasks/index.js";

// The production deployment files under deploy/: the Prometheus rules (checked
// and unit-tested with promtool) and the Kubernetes manifests (parsed and held
// to what the daemon needs: probes, shutdown budget, secrets, crontab reloads),
// and the example overlay with deploy/README.md's release steps: one image for
// the daemons and the migration Job, and no step that re-applies a Job.

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const KUBERNETES_DIR = path.join(ROOT, "deploy/kubernetes");
/** The two bases, each a kustomization: the daemons, and the migration Job apart from them. */
const BASES = ["daemons", "migrate"];
/** The image the bases name; only an overlay's `images:` entry turns it into a real one. */
const BASE_IMAGE = "pgmill";
/** The overlay users copy; its migrate/ builds the Job. */
const OVERLAY = "overlays/example";
const OVERLAY_MIGRATE = `${OVERLAY}/migrate`;
const DEPLOY_README = "deploy/README.md";
const ALERTS = "deploy/prometheus/alerts.yaml";
const ALERT_TESTS = "deploy/prometheus/alerts.test.yaml";

const PROMTOOL_INSTALL = [
  "promtool is not on PATH; tests/deploy needs it to check deploy/prometheus/*.yaml.",
  "On Debian/Ubuntu (root), without installing or starting a Prometheus service:",
  "  apt-get update && cd /tmp && apt-get download prometheus \\",
  "    && dpkg -x prometheus_*.deb /tmp/prometheus-deb && install -m 0755 /tmp/prometheus-deb/usr/bin/promtool /usr/local/bin/",
  "Elsewhere: take promtool from a Prometheus release archive (https://prometheus.io/download/).",
].join("\n");

/** Every metric name the daemon exposes (histograms by their base name). */
const DAEMON_METRICS = new Set([
  "pgmill_attempts_started_total",
  "pgmill_attempts_finished_total",
  "pgmill_attempt_duration_seconds",
  "pgmill_jobs_in_flight",
  "pgmill_pool_concurrency",
  "pgmill_queue_jobs",
  "pgmill_queue_oldest_ready_age_seconds",
  "pgmill_dead_letters",
  "pgmill_dead_letters_moved_total",
  "pgmill_cron_last_enqueue_timestamp_seconds",
  "pgmill_ledger_batch_rows",
  "pgmill_ledger_batch_duration_seconds",
  "pgmill_pool_restarts_total",
  "pgmill_daemons_live",
  "pgmill_lost_jobs_recovered_total",
  "pgmill_database_up",
  "pgmill_jobs_without_handler",
  "pgmill_db_pool_waits_total",
  "pgmill_db_pool_wait_seconds_total",
  "pgmill_db_pool_waiting_clients",
]);

const REQUIRED_ALERTS = [
  "PgmillJobsFailing",
  "PgmillDeadLettersGrowing",
  "PgmillQueueLag",
  "PgmillJobsWithoutHandler",
  "PgmillNoLiveDaemon",
  "PgmillCronLineStopped",
  "PgmillDatabasePoolStarved",
];

function findOnPath(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

interface RunResult {
  code: number;
  output: string;
}

async function run(file: string, args: string[]): Promise<RunResult> {
  try {
    const { stdout, stderr } = await promisify(execFile)(file, args, { cwd: ROOT, timeout: 60_000 });
    return { code: 0, output: `${stdout}${stderr}` };
  } catch (error) {
    const e = error as { code?: number | string; stdout?: string; stderr?: string; message: string };
    return { code: typeof e.code === "number" ? e.code : 1, output: `${e.stdout ?? ""}${e.stderr ?? ""}${e.message}` };
  }
}

function promtool(): string {
  const found = findOnPath("promtool");
  if (!found) throw new Error(PROMTOOL_INSTALL);
  return found;
}

// ---------------------------------------------------------------- Prometheus

interface AlertRule {
  alert?: string;
  record?: string;
  expr: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

interface AlertTestCase {
  alertname: string;
  exp_alerts?: unknown[] | null;
}

function readYaml(relative: string): unknown {
  return parse(readFileSync(path.join(ROOT, relative), "utf8"));
}

describe("deploy/prometheus", () => {
  it("passes `promtool check rules`", async () => {
    const result = await run(promtool(), ["check", "rules", ALERTS]);
    expect(result.code, result.output).toBe(0);
    expect(result.output).toContain("SUCCESS");
  });

  it("passes its unit tests, `promtool test rules`", async () => {
    const result = await run(promtool(), ["test", "rules", ALERT_TESTS]);
    expect(result.code, result.output).toBe(0);
    expect(result.output).toContain("SUCCESS");
  });

  const groups = (readYaml(ALERTS) as { groups: { name: string; rules: AlertRule[] }[] }).groups;
  const rules = groups.flatMap((group) => group.rules);

  it("has every alert in group pgmill, each with a severity, a summary and a description", () => {
    expect(groups.map((group) => group.name)).toEqual(["pgmill"]);
    expect([...new Set(rules.map((rule) => rule.alert))].sort()).toEqual([...REQUIRED_ALERTS].sort());
    for (const rule of rules) {
      expect(["critical", "warning", "info"], rule.alert).toContain(rule.labels?.severity);
      expect(rule.annotations?.summary, rule.alert).toBeTruthy();
      expect(rule.annotations?.description, rule.alert).toBeTruthy();
    }
  });

  it("uses only metric names the daemon exposes", () => {
    for (const rule of rules) {
      for (const [name] of rule.expr.matchAll(/\bpgmill_[a-z_]+/g)) {
        const base = name.replace(/_(bucket|sum|count)$/, "");
        expect(DAEMON_METRICS.has(name) || DAEMON_METRICS.has(base), `${rule.alert}: ${name}`).toBe(true);
      }
    }
  });

  it("unit-tests every alert both firing and not firing", () => {
    const testFile = readYaml(ALERT_TESTS) as { tests: { alert_rule_test?: AlertTestCase[] }[] };
    const cases = testFile.tests.flatMap((test) => test.alert_rule_test ?? []);
    for (const alert of REQUIRED_ALERTS) {
      const mine = cases.filter((c) => c.alertname === alert);
      expect(mine.some((c) => (c.exp_alerts ?? []).length > 0), `${alert} firing`).toBe(true);
      expect(mine.some((c) => (c.exp_alerts ?? []).length === 0), `${alert} not firing`).toBe(true);
    }
  });
});

// ---------------------------------------------------------------- Kubernetes

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean } };
}
interface Probe {
  httpGet?: { path: string; port: number | string };
  initialDelaySeconds?: number;
  periodSeconds?: number;
  failureThreshold?: number;
}
interface SecurityContext {
  runAsNonRoot?: boolean;
  runAsUser?: number;
  allowPrivilegeEscalation?: boolean;
  readOnlyRootFilesystem?: boolean;
  capabilities?: { drop?: string[] };
}
interface Container {
  name: string;
  image: string;
  args?: string[];
  ports?: { name?: string; containerPort: number }[];
  env?: EnvVar[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: SecurityContext;
  volumeMounts?: { name: string; mountPath: string; subPath?: string; readOnly?: boolean }[];
}
interface PodSpec {
  containers: Container[];
  terminationGracePeriodSeconds?: number;
  enableServiceLinks?: boolean;
  securityContext?: SecurityContext;
  restartPolicy?: string;
  volumes?: { name: string; configMap?: { name: string; items?: { key: string; path: string }[] } }[];
}
interface PodTemplate {
  metadata: { labels: Record<string, string>; annotations?: Record<string, string> };
  spec: PodSpec;
}
interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec?: {
    replicas?: number;
    selector?: { matchLabels?: Record<string, string> } & Record<string, unknown>;
    template?: PodTemplate;
    minAvailable?: number | string;
    ports?: { name?: string; port: number; targetPort?: number | string }[];
  };
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  resources?: string[];
}

/** Every YAML document under deploy/kubernetes, by its path relative to that directory. */
function loadManifests(): { file: string; manifest: Manifest }[] {
  const files = readdirSync(KUBERNETES_DIR, { recursive: true, encoding: "utf8" })
    .filter((file) => /\.ya?ml$/.test(file))
    .map((file) => file.split(path.sep).join("/"));
  return files.flatMap((file) =>
    parseAllDocuments(readFileSync(path.join(KUBERNETES_DIR, file), "utf8")).map((doc) => {
      expect(doc.errors, `${file}: ${doc.errors.join("; ")}`).toEqual([]);
      return { file, manifest: doc.toJS() as Manifest };
    }),
  );
}

const manifests = loadManifests();
/** The Kubernetes objects, without kustomize's own files. */
const objects = manifests.filter((m) => !m.manifest.apiVersion.startsWith("kustomize.config.k8s.io/"));

function theOne(kind: string, name?: string): { file: string; manifest: Manifest } {
  const found = objects.filter((m) => m.manifest.kind === kind && (name === undefined || m.manifest.metadata.name === name));
  expect(found, `exactly one ${kind}${name ? ` ${name}` : ""} under deploy/kubernetes`).toHaveLength(1);
  return found[0]!;
}

function podTemplate(manifest: Manifest): PodTemplate {
  const template = manifest.spec?.template;
  if (!template) throw new Error(`${manifest.kind} ${manifest.metadata.name} has no pod template`);
  return template;
}

function onlyContainer(template: PodTemplate): Container {
  expect(template.spec.containers).toHaveLength(1);
  return template.spec.containers[0]!;
}

function env(container: Container, name: string): EnvVar | undefined {
  return container.env?.find((variable) => variable.name === name);
}

function expectDatabaseUrlFromSecret(container: Container): void {
  const databaseUrl = env(container, "DATABASE_URL");
  expect(databaseUrl?.value, "DATABASE_URL must not be written in the manifest").toBeUndefined();
  expect(databaseUrl?.valueFrom?.secretKeyRef).toEqual({ name: "pgmill-database", key: "url" });
  // Behind a transaction pooler, `url` is the pooler and the optional `direct-url` the server itself.
  const directUrl = env(container, "PGMILL_DIRECT_URL");
  expect(directUrl?.value, "PGMILL_DIRECT_URL must not be written in the manifest").toBeUndefined();
  expect(directUrl?.valueFrom?.secretKeyRef).toEqual({ name: "pgmill-database", key: "direct-url", optional: true });
}

function expectLockedDown(template: PodTemplate, container: Container): void {
  const pod = template.spec.securityContext ?? {};
  const own = container.securityContext ?? {};
  expect(own.runAsNonRoot ?? pod.runAsNonRoot).toBe(true);
  const uid = own.runAsUser ?? pod.runAsUser;
  if (uid !== undefined) expect(uid).not.toBe(0);
  expect(own.allowPrivilegeEscalation).toBe(false);
  expect(own.readOnlyRootFilesystem).toBe(true);
  expect(own.capabilities?.drop).toContain("ALL");
  // A Service named pgmill would otherwise inject PGMILL_PORT, PGMILL_SERVICE_HOST, ...
  expect(template.spec.enableServiceLinks).toBe(false);
}

interface Kustomization {
  kind: string;
  resources?: string[];
  components?: string[];
  images?: { name: string; newName?: string; newTag?: string; digest?: string }[];
  configMapGenerator?: { name: string; behavior?: string; files?: string[]; options?: { disableNameSuffixHash?: boolean } }[];
  patches?: { patch?: string; path?: string }[];
}

/** The kustomization.yaml of a directory under deploy/kubernetes. */
function kustomizationAt(dir: string): Kustomization {
  const found = manifests.find((m) => m.file === path.posix.join(dir, "kustomization.yaml"));
  expect(found, `${dir}/kustomization.yaml`).toBeDefined();
  return found!.manifest as unknown as Kustomization;
}

/** Every kustomization a build of `dir` reads (its resources and components, recursively), `dir` first. */
function kustomizationDirs(dir: string): string[] {
  const kustomization = kustomizationAt(dir);
  const nested = [...(kustomization.resources ?? []), ...(kustomization.components ?? [])]
    .map((entry) => path.posix.normalize(path.posix.join(dir, entry)))
    .filter((target) => statSync(path.join(KUBERNETES_DIR, target)).isDirectory());
  return [dir, ...nested.flatMap(kustomizationDirs)];
}

/** The objects a build of `dir` contains, before kustomize's transformers and patches. */
function built(dir: string): { file: string; manifest: Manifest }[] {
  return kustomizationDirs(dir).flatMap((kustomizationDir) =>
    (kustomizationAt(kustomizationDir).resources ?? [])
      .map((entry) => path.posix.normalize(path.posix.join(kustomizationDir, entry)))
      .flatMap((target) => objects.filter((m) => m.file === target)),
  );
}

/** The names of the Secrets a value (an object, a patch) reads through secretKeyRef, at any depth. */
function secretRefs(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(secretRefs);
  if (value === null || typeof value !== "object") return [];
  return Object.entries(value).flatMap(([key, inner]) =>
    key === "secretKeyRef" ? [(inner as { name: string }).name] : secretRefs(inner),
  );
}

/** The shell commands of a deploy/README.md section's ```sh blocks, continuation lines joined, comments dropped. */
function readmeCommands(section: string): string[] {
  const text = readFileSync(path.join(ROOT, DEPLOY_README), "utf8");
  const start = text.indexOf(`\n## ${section}\n`);
  expect(start, `${DEPLOY_README} has a section ${section}`).toBeGreaterThanOrEqual(0);
  const end = text.indexOf("\n## ", start + 1);
  const body = text.slice(start, end === -1 ? undefined : end);
  return [...body.matchAll(/```sh\n([\s\S]*?)```/g)]
    .map((block) => block[1]!.replace(/\\\n\s*/g, ""))
    .flatMap((block) => block.split("\n"))
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"));
}

/** The path after -k, relative to deploy/kubernetes. */
function kustomizeTarget(command: string): string | undefined {
  const target = /\s-k\s+(\S+)/.exec(command)?.[1];
  return target === undefined ? undefined : path.posix.relative("deploy/kubernetes", target);
}

/** A selector matches the pod template when every one of its labels is on the pods. */
function selects(matchLabels: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  if (!matchLabels || Object.keys(matchLabels).length === 0) return false;
  return Object.entries(matchLabels).every(([key, value]) => labels[key] === value);
}

describe("deploy/kubernetes", () => {
  const deployment = theOne("Deployment").manifest;
  const template = podTemplate(deployment);
  const daemon = onlyContainer(template);
  const job = theOne("Job").manifest;
  const jobTemplate = podTemplate(job);
  const migrate = onlyContainer(jobTemplate);

  it("parses as Kubernetes objects", () => {
    expect(objects.length).toBeGreaterThan(0);
    for (const { file, manifest } of manifests) {
      expect(manifest.kind, file).toBeTruthy();
      expect(manifest.apiVersion, file).toBeTruthy();
      if (!["Kustomization", "Component"].includes(manifest.kind)) expect(manifest.metadata?.name, file).toBeTruthy();
    }
  });

  it("lists every manifest of daemons/ and migrate/ in its kustomization, and the placeholder Secret in none", () => {
    for (const base of BASES) {
      const listed = [...(kustomizationAt(base).resources ?? [])].sort();
      const inDir = objects.filter((m) => path.posix.dirname(m.file) === base).map((m) => m.file.slice(base.length + 1));
      expect(listed, base).toEqual([...new Set(inDir)].sort());
    }
    const secret = theOne("Secret", "pgmill-database");
    expect(path.posix.dirname(secret.file)).toBe(".");
    // Nothing at the top to `apply -k`: the bases' placeholder image would not pull.
    expect(existsSync(path.join(KUBERNETES_DIR, "kustomization.yaml"))).toBe(false);
  });

  it("runs two daemons with the http port the daemon serves", () => {
    expect(deployment.spec?.replicas).toBe(2);
    expect(selects(deployment.spec?.selector?.matchLabels, template.metadata.labels)).toBe(true);
    const http = daemon.ports?.find((port) => port.name === "http");
    expect(http).toBeDefined();
    const configured = env(daemon, "PGMILL_HTTP_PORT")?.value;
    const defaultPort = settingsSchema.shape.PGMILL_HTTP_PORT.parse(undefined);
    expect(http!.containerPort).toBe(configured === undefined ? defaultPort : Number(configured));
    expect(template.metadata.annotations?.["prometheus.io/scrape"]).toBe("true");
    expect(template.metadata.annotations?.["prometheus.io/port"]).toBe(String(http!.containerPort));
    expect(template.metadata.annotations?.["prometheus.io/path"]).toBe("/metrics");
    expect(daemon.image).toBe(BASE_IMAGE);
    expect(daemon.args ?? ["run"]).toEqual(["run"]);
  });

  it("probes /livez for liveness and /readyz for readiness, on the named http port", () => {
    expect(daemon.livenessProbe?.httpGet).toEqual({ path: "/livez", port: "http" });
    expect(daemon.readinessProbe?.httpGet).toEqual({ path: "/readyz", port: "http" });
    const startup = daemon.startupProbe;
    expect(startup?.httpGet?.port).toBe("http");
    expect(["/livez", "/readyz"]).toContain(startup?.httpGet?.path);
    // Start-up (first connection, migrations) gets about two minutes.
    const budget = (startup?.initialDelaySeconds ?? 0) + (startup?.periodSeconds ?? 10) * (startup?.failureThreshold ?? 3);
    expect(budget).toBeGreaterThanOrEqual(100);
    expect(budget).toBeLessThanOrEqual(180);
  });

  it("gives shutdown more than the drain budget + 5 s for handlers + 10 s to release jobs and flush", () => {
    const defaultDrain = settingsSchema.shape.PGMILL_SHUTDOWN_TIMEOUT.parse(undefined);
    expect(defaultDrain).toBe(30);
    const configured = env(daemon, "PGMILL_SHUTDOWN_TIMEOUT")?.value;
    const drain = configured === undefined ? defaultDrain : Number(configured);
    const grace = template.spec.terminationGracePeriodSeconds;
    expect(grace).toBeDefined();
    expect(grace!).toBeGreaterThan(defaultDrain + 15);
    expect(grace!).toBeGreaterThan(drain + 15);
  });

  it("runs the daemon non-root, read-only, without privilege escalation or capabilities", () => {
    expectLockedDown(template, daemon);
    expect(daemon.resources?.requests?.cpu).toBeTruthy();
    expect(daemon.resources?.requests?.memory).toBeTruthy();
    expect(daemon.resources?.limits?.memory).toBeTruthy();
  });

  it("takes DATABASE_URL from the pgmill-database Secret, whose example has the key", () => {
    expectDatabaseUrlFromSecret(daemon);
    const secret = theOne("Secret", "pgmill-database").manifest;
    expect(Object.keys({ ...secret.data, ...secret.stringData })).toEqual(["url"]);
  });

  it("mounts the crontab ConfigMap as a directory, with PGMILL_CRONTAB inside it", () => {
    const volume = template.spec.volumes?.find((v) => v.configMap?.name === "pgmill-crontab");
    expect(volume, "a configMap volume of pgmill-crontab").toBeDefined();
    const mounts = daemon.volumeMounts?.filter((mount) => mount.name === volume!.name) ?? [];
    expect(mounts).toHaveLength(1);
    const mount = mounts[0]!;
    expect(mount.subPath, "a subPath mount never receives ConfigMap updates").toBeUndefined();

    const crontabPath = env(daemon, "PGMILL_CRONTAB")?.value;
    expect(crontabPath).toBeDefined();
    expect(path.posix.isAbsolute(crontabPath!)).toBe(true);
    const inside = path.posix.relative(mount.mountPath, crontabPath!);
    expect(inside.startsWith("..") || path.posix.isAbsolute(inside) || inside === "").toBe(false);
    // The directory is watched for the ConfigMap's symlink swap: the file must sit directly in it.
    expect(inside).not.toContain("/");

    const configMap = theOne("ConfigMap", "pgmill-crontab").manifest;
    const items = volume!.configMap!.items;
    const key = items ? items.find((item) => item.path === inside)?.key : inside;
    expect(key, `a ConfigMap key for ${crontabPath}`).toBeDefined();
    const text = configMap.data?.[key!];
    expect(text, `pgmill-crontab has the key ${key}`).toBeDefined();
    // The example crontab is valid for the daemon's own tasks.
    const entries = parseCrontabFile(text!, tasks, key!);
    expect(entries.map((entry) => entry.identifier)).toContain("heartbeat");
  });

  it("has a migration Job running `pgmill migrate` with the same image and database", () => {
    expect(migrate.args).toEqual(["migrate"]);
    expect(migrate.image).toBe(daemon.image);
    expectDatabaseUrlFromSecret(migrate);
    expectLockedDown(jobTemplate, migrate);
    expect(["Never", "OnFailure"]).toContain(jobTemplate.spec.restartPolicy);
    // Its pods must not count as daemons (Deployment, Service, PDB).
    expect(selects(deployment.spec?.selector?.matchLabels, jobTemplate.metadata.labels)).toBe(false);
  });

  it("has a PodDisruptionBudget keeping one daemon, selecting the Deployment's pods only", () => {
    const pdb = theOne("PodDisruptionBudget").manifest;
    expect(pdb.spec?.minAvailable).toBe(1);
    expect(selects(pdb.spec?.selector?.matchLabels, template.metadata.labels)).toBe(true);
    expect(selects(pdb.spec?.selector?.matchLabels, jobTemplate.metadata.labels)).toBe(false);
  });

  it("has a Service exposing the http port of the daemons", () => {
    const service = theOne("Service").manifest;
    const selector = service.spec?.selector as Record<string, string> | undefined;
    expect(selects(selector, template.metadata.labels)).toBe(true);
    expect(selects(selector, jobTemplate.metadata.labels)).toBe(false);
    expect(service.spec?.ports).toContainEqual(expect.objectContaining({ name: "http", targetPort: "http" }));
  });
});

// ------------------------------------------------- your image, through the overlay

/** The image an `images:` entry makes of BASE_IMAGE. */
function imageOf(entry: { name: string; newName?: string; newTag?: string; digest?: string }): string {
  const name = entry.newName ?? entry.name;
  return entry.digest ? `${name}@${entry.digest}` : `${name}:${entry.newTag}`;
}

describe("deploy/kubernetes/overlays/example", () => {
  const daemonBuild = built(OVERLAY);
  const jobBuild = built(OVERLAY_MIGRATE);
  const job = theOne("Job").manifest;

  it("builds the daemons without the Job, and the Job alone", () => {
    const daemonKinds = daemonBuild.map((m) => m.manifest.kind);
    expect(daemonKinds).toContain("Deployment");
    // A Job in what `kubectl apply -k` applies would make the next release fail: its pod template is immutable.
    expect(daemonKinds).not.toContain("Job");
    expect(jobBuild.map((m) => m.manifest.kind)).toEqual(["Job"]);
  });

  it("names the image once, in a component both builds include, replacing the bases' image", () => {
    const daemonDirs = kustomizationDirs(OVERLAY);
    const jobDirs = kustomizationDirs(OVERLAY_MIGRATE);
    const withImages = [...new Set([...daemonDirs, ...jobDirs])].filter((dir) => kustomizationAt(dir).images);
    expect(withImages, "exactly one kustomization sets images:").toHaveLength(1);
    const [imageDir] = withImages;
    expect(daemonDirs).toContain(imageDir);
    expect(jobDirs).toContain(imageDir);
    const component = kustomizationAt(imageDir!);
    expect(component.kind).toBe("Component");
    expect(component.images).toHaveLength(1);
    const entry = component.images![0]!;
    // The entry must match the image both bases use, or kustomize leaves the placeholder in place.
    for (const { manifest } of [...daemonBuild, ...jobBuild]) {
      for (const container of manifest.spec?.template?.spec.containers ?? []) {
        expect(container.image, `${manifest.kind} ${manifest.metadata.name}`).toBe(entry.name);
      }
    }
    expect(entry.newName).toBeTruthy();
    expect(entry.digest ?? entry.newTag).toBeTruthy();
    expect(entry.newTag, "pin a tag or digest").not.toBe("latest");
  });

  it("turns its crontab file into the ConfigMap the daemons mount, kept under one name for reloads", () => {
    const deployment = theOne("Deployment").manifest;
    const daemon = onlyContainer(podTemplate(deployment));
    const volume = podTemplate(deployment).spec.volumes?.find((v) => v.configMap);
    const generators = kustomizationAt(OVERLAY).configMapGenerator ?? [];
    const generator = generators.find((g) => g.name === volume?.configMap?.name);
    expect(generator, `a configMapGenerator for ${volume?.configMap?.name}`).toBeDefined();
    expect(generator!.behavior).toBe("replace");
    // A hash suffix would rename the ConfigMap on every edit and restart the daemons instead of reloading.
    expect(generator!.options?.disableNameSuffixHash).toBe(true);
    const key = path.posix.basename(env(daemon, "PGMILL_CRONTAB")!.value!);
    const source = generator!.files?.find((file) => file === key || file.startsWith(`${key}=`));
    expect(source, `a file under the key ${key}`).toBeDefined();
    const file = path.join(KUBERNETES_DIR, OVERLAY, source!.split("=").at(-1)!);
    const entries = parseCrontabFile(readFileSync(file, "utf8"), tasks, key);
    expect(entries.map((entry) => entry.identifier)).toContain("heartbeat");
  });

  it("has release steps that replace the Job, wait for it, then apply the daemons, all from the overlay", () => {
    const commands = readmeCommands("Applying");
    for (const command of commands.filter((c) => kustomizeTarget(c) !== undefined)) {
      expect(existsSync(path.join(KUBERNETES_DIR, kustomizeTarget(command)!, "kustomization.yaml")), command).toBe(true);
    }
    const name = job.metadata.name;
    const remove = commands.findIndex((c) => c.startsWith(`kubectl delete job ${name} `) && c.includes("--ignore-not-found"));
    const create = commands.findIndex((c) => c.startsWith("kubectl create -k ") && kustomizeTarget(c) === OVERLAY_MIGRATE);
    const wait = commands.findIndex((c) => c.startsWith("kubectl wait --for=condition=complete") && c.includes(`job/${name}`));
    const apply = commands.findIndex((c) => c.startsWith("kubectl apply -k ") && kustomizeTarget(c) === OVERLAY);
    expect([remove, create, wait, apply].every((index) => index >= 0), commands.join("\n")).toBe(true);
    expect(remove).toBeLessThan(create);
    expect(create).toBeLessThan(wait);
    expect(wait).toBeLessThan(apply);
    // Nothing applies a Job: neither a kustomization that builds one nor a Job's file.
    for (const command of commands.filter((c) => c.startsWith("kubectl apply"))) {
      const target = kustomizeTarget(command);
      if (target !== undefined) expect(built(target).map((m) => m.manifest.kind), command).not.toContain("Job");
      expect(command).not.toMatch(/migrate-job\.yaml/);
    }
  });

  it("has release steps that create every Secret the daemons and the Job read", () => {
    const created = readmeCommands("Applying").flatMap((c) => /^kubectl create secret generic (\S+)/.exec(c)?.[1] ?? []);
    const patches = kustomizationDirs(OVERLAY_MIGRATE).flatMap((dir) =>
      (kustomizationAt(dir).patches ?? []).map((patch) => (patch.patch ? parse(patch.patch) : readYaml(path.join("deploy/kubernetes", dir, patch.path!)))),
    );
    const read = new Set(secretRefs([...daemonBuild, ...jobBuild].map((m) => m.manifest)).concat(secretRefs(patches)));
    expect(read.size).toBeGreaterThan(0);
    for (const secret of read) expect(created, secret).toContain(secret);
  });
});

/** kubectl (with its built-in kustomize): on this workplace's machines from the image's `kubectl` package. */
function kubectl(): string {
  const found = findOnPath("kubectl");
  if (!found) {
    throw new Error(
      "kubectl is not on PATH; tests/deploy needs it to build deploy/kubernetes with `kubectl kustomize` " +
        "(https://kubernetes.io/docs/tasks/tools/; any kubectl 1.27 or newer has kustomize built in)",
    );
  }
  return found;
}

// The same promises on what kustomize really builds.
describe("deploy/kubernetes/overlays/example, built by `kubectl kustomize`", () => {
  async function build(dir: string): Promise<Manifest[]> {
    const result = await run(kubectl(), ["kustomize", path.join("deploy/kubernetes", dir)]);
    expect(result.code, result.output).toBe(0);
    return parseAllDocuments(result.output).map((doc) => doc.toJS() as Manifest);
  }
  const component = kustomizationAt(`${OVERLAY}/image`);

  it("gives the Deployment and the migration Job the overlay's one image", async () => {
    const [daemons, jobs] = await Promise.all([build(OVERLAY), build(OVERLAY_MIGRATE)]);
    const image = imageOf(component.images![0]!);
    expect(daemons.map((m) => m.kind).sort()).toEqual(["ConfigMap", "Deployment", "PodDisruptionBudget", "Service"]);
    expect(jobs.map((m) => m.kind)).toEqual(["Job"]);
    const deployment = daemons.find((m) => m.kind === "Deployment")!;
    expect(onlyContainer(podTemplate(deployment)).image).toBe(image);
    expect(onlyContainer(podTemplate(jobs[0]!)).image).toBe(image);
  });

  it("migrates as the owner role, granting the role the daemons use, with Secrets the steps create", async () => {
    const [daemons, jobs] = await Promise.all([build(OVERLAY), build(OVERLAY_MIGRATE)]);
    const migrate = onlyContainer(podTemplate(jobs[0]!));
    expect(migrate.args?.slice(0, 2)).toEqual(["migrate", "--grant-runtime"]);
    const daemonSecrets = secretRefs(daemons);
    const jobSecrets = secretRefs(jobs);
    expect(daemonSecrets.length).toBeGreaterThan(0);
    expect(jobSecrets.length).toBeGreaterThan(0);
    expect(jobSecrets.filter((secret) => daemonSecrets.includes(secret))).toEqual([]);
    const created = readmeCommands("Applying").flatMap((c) => /^kubectl create secret generic (\S+)/.exec(c)?.[1] ?? []);
    for (const secret of [...daemonSecrets, ...jobSecrets]) expect(created, secret).toContain(secret);
  });

  it("mounts the overlay's crontab as the ConfigMap the Deployment names", async () => {
    const daemons = await build(OVERLAY);
    const configMap = daemons.find((m) => m.kind === "ConfigMap")!;
    const volume = podTemplate(daemons.find((m) => m.kind === "Deployment")!).spec.volumes?.find((v) => v.configMap);
    expect(volume?.configMap?.name).toBe(configMap.metadata.name);
    expect(configMap.data?.crontab).toBe(readFileSync(path.join(KUBERNETES_DIR, OVERLAY, "crontab"), "utf8"));
  });
});
