import { execFile } from "node:child_process";
import { accessSync, constants, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { settingsSchema } from "../../src/config/schema.js";
import { parseCrontabFile } from "../../src/crontab/parse-crontab.js";
import { tasks } from "../../src/tasks/index.js";

// The production deployment files under deploy/: the Prometheus rules (checked
// and unit-tested with promtool) and the Kubernetes manifests (parsed and held
// to what the daemon needs: probes, shutdown budget, secrets, crontab reloads).

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const KUBERNETES_DIR = path.join(ROOT, "deploy/kubernetes");
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

function loadManifests(): { file: string; manifest: Manifest }[] {
  const files = readdirSync(KUBERNETES_DIR).filter((file) => /\.ya?ml$/.test(file));
  return files.flatMap((file) =>
    parseAllDocuments(readFileSync(path.join(KUBERNETES_DIR, file), "utf8")).map((doc) => {
      expect(doc.errors, `${file}: ${doc.errors.join("; ")}`).toEqual([]);
      return { file, manifest: doc.toJS() as Manifest };
    }),
  );
}

const manifests = loadManifests();

function theOne(kind: string, name?: string): { file: string; manifest: Manifest } {
  const found = manifests.filter((m) => m.manifest.kind === kind && (name === undefined || m.manifest.metadata.name === name));
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
    expect(manifests.length).toBeGreaterThan(0);
    for (const { file, manifest } of manifests) {
      expect(manifest.kind, file).toBeTruthy();
      expect(manifest.apiVersion, file).toBeTruthy();
      if (manifest.kind !== "Kustomization") expect(manifest.metadata?.name, file).toBeTruthy();
    }
  });

  it("lists every manifest in kustomization.yaml, except the placeholder Secret", () => {
    const kustomization = theOne("Kustomization").manifest;
    const listed = [...(kustomization.resources ?? [])].sort();
    const expected = [...new Set(manifests.map((m) => m.file))]
      .filter((file) => file !== "kustomization.yaml" && !manifests.some((m) => m.file === file && m.manifest.kind === "Secret"))
      .sort();
    expect(listed).toEqual(expected);
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
    expect(daemon.image).toBe("ghcr.io/your-org/pgmill:latest");
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
