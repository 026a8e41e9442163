import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { pauseCron } from "../../src/controls/cron-operator.js";
import { pauseTask, resumeTask } from "../../src/controls/pause-queries.js";
import { dashboardApp } from "../../src/dashboard/app.js";
import { loadTasks, type TaskCatalog } from "../../src/tasks/task-catalog.js";
import { captureLogs } from "../support/log-capture.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";
import { addJobWithSql } from "../support/sql-jobs.js";
import { limitedTask, liveJobIds, publishCrontab, seed, TOKEN, writeCrontab, type Seeded } from "./fixtures.js";

let db: TestDatabase;
let seeded: Seeded;
let crontabPath: string;

beforeAll(async () => {
  db = await createTestDatabase();
  seeded = await seed(db.handle.db);
  crontabPath = writeCrontab();
});

const ORIGIN = "http://localhost:8081";
/** pino's numeric levels. */
const LEVEL_WARN = 40;
const LEVEL_ERROR = 50;

async function appWith(token: string | null, payloadMode: "stored" | "redacted" | "omitted" = "stored", tasks?: TaskCatalog) {
  const logs = captureLogs();
  const app = dashboardApp({
    db: db.handle.db,
    logger: logs.logger,
    tasks: tasks ?? (await loadTasks({ tasksDir: null })),
    crontabPath,
    payloadMode,
    token,
    host: "127.0.0.1",
  });
  const request = (path: string, init: RequestInit = {}) =>
    app.request(`${ORIGIN}${path}`, { ...init, headers: { host: "localhost:8081", ...(init.headers as Record<string, string>) } });
  return { app, logs, request };
}

/** A browser's same-origin form post. */
function formPost(fields: Record<string, string>, headers: Record<string, string> = {}): RequestInit {
  return {
    method: "POST",
    body: new URLSearchParams(fields),
    headers: { "content-type": "application/x-www-form-urlencoded", origin: ORIGIN, "sec-fetch-site": "same-origin", ...headers },
  };
}

async function login(request: Awaited<ReturnType<typeof appWith>>["request"]): Promise<{ cookie: string; csrf: string }> {
  const response = await request("/login", formPost({ token: TOKEN }));
  expect(response.status).toBe(303);
  const cookie = response.headers.get("set-cookie")!;
  expect(cookie).toMatch(/pgmill_session=[^;]+;.*HttpOnly/i);
  expect(cookie).toMatch(/SameSite=Strict/i);
  const session = cookie.split(";")[0]!;
  const page = await (await request("/dead-letters", { headers: { cookie: session } })).text();
  const csrf = page.match(/name="_csrf" value="([^"]+)"/)?.[1];
  expect(csrf).toBeTruthy();
  return { cookie: session, csrf: csrf! };
}

describe("dashboard pages", () => {
  it("serves every page with 200 and what it lists", async () => {
    const { request } = await appWith(null);
    const pages: Record<string, RegExp[]> = {
      "/": [/<table id="tasks">/, /send-email/, /<svg class="chart"/, /Attempts per minute, last hour \(12;/],
      "/jobs": [new RegExp(`href="/jobs/${seeded.queuedId}"`), new RegExp(`href="/jobs/${seeded.scheduledId}"`)],
      "/runs": [/<table id="runs">/, /boom &lt;script&gt;alert\(1\)&lt;\/script&gt;/],
      [`/jobs/${seeded.failedRunJobId}`]: [/<table id="attempts">/, /1\/3/, /2\/3/, /test-host:42/, /&quot;account&quot;: 7/],
      [`/jobs/${seeded.letter.jobId}`]: [/Dead letter/, /max attempts used/],
      "/dead-letters": [/<table id="dead-letters">/, /max attempts used/],
      "/cron": [/every-five/, /paris-morning/, /Europe\/Paris/, /09:00 \+0[12]:00/],
      "/daemons": [/test-host:42/, /badge running/],
      "/assets/dashboard.css": [/--accent/],
      "/assets/dashboard.js": [/DOMParser/],
    };
    for (const [path, patterns] of Object.entries(pages)) {
      const response = await request(path);
      expect(response.status, path).toBe(200);
      const body = await response.text();
      for (const pattern of patterns) expect(body, `${path} shows ${pattern}`).toMatch(pattern);
      expect(body, `${path} never shows the raw error`).not.toContain("<script>alert(1)");
    }
  });

  it("sends a strict content security policy and no caching", async () => {
    const { request } = await appWith(null);
    const response = await request("/");
    expect(response.headers.get("content-security-policy")).toContain("default-src 'self'");
    expect(response.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    expect(response.headers.get("cache-control")).toBe("no-store");
  });

  it("filters jobs by state, task and queue, and history by status and task", async () => {
    const { request } = await appWith(null);
    const queued = await (await request("/jobs?state=queued")).text();
    expect(queued).toContain(`href="/jobs/${seeded.queuedId}"`);
    expect(queued).not.toContain(`href="/jobs/${seeded.scheduledId}"`);
    const scheduled = await (await request("/jobs?state=scheduled&task=report")).text();
    expect(scheduled).toContain(`href="/jobs/${seeded.scheduledId}"`);
    expect(scheduled).not.toContain(`href="/jobs/${seeded.queuedId}"`);
    const byQueue = await (await request("/jobs?queue=mail")).text();
    expect(byQueue).toContain(`href="/jobs/${seeded.queuedId}"`);
    expect(byQueue).not.toContain(`href="/jobs/${seeded.scheduledId}"`);
    const failed = await (await request("/runs?status=failed")).text();
    expect(failed).toContain(`href="/jobs/${seeded.failedRunJobId}"`);
    expect(failed).not.toContain('href="/jobs/80000"');
    const old = await (await request("/runs?task=send-email&since=5m")).text();
    expect(old).toContain('href="/jobs/80000"'); // started 2 minutes ago
    expect(old).not.toContain('href="/jobs/80005"'); // 12 minutes ago
  });

  it("pages history with a cursor, without repeating or skipping rows", async () => {
    const { request } = await appWith(null);
    const seen: string[] = [];
    let path: string | null = "/runs?task=send-email";
    while (path) {
      const page: string = await (await request(path)).text();
      seen.push(...[...page.matchAll(/<tr><td><a href="\/jobs\/(\d+)">/g)].map((m) => m[1]!));
      path = page.match(/rel="next" href="([^"]+)"/)?.[1]?.replaceAll("&amp;", "&") ?? null;
    }
    expect(seen).toHaveLength(10);
    expect(new Set(seen).size).toBe(10);
  });

  it("answers a bad filter with 400 naming it, and an unknown job with 404", async () => {
    const { request } = await appWith(null);
    const bad = await request("/jobs?state=bogus&from=yesterday");
    expect(bad.status).toBe(400);
    const text = await bad.text();
    expect(text).toContain("state:");
    expect(text).toContain("from: expected a time like");
    expect((await request("/jobs/abc")).status).toBe(400);
    expect((await request("/jobs/987654321")).status).toBe(404);
  });

  it("shows payloads as PGMILL_HISTORY_PAYLOAD allows", async () => {
    const path = `/jobs/${seeded.letter.jobId}`;
    expect(await (await (await appWith(null, "stored")).request(path)).text()).toContain("s3cr3t-value");
    const redacted = await (await (await appWith(null, "redacted")).request(path)).text();
    expect(redacted).not.toContain("s3cr3t-value");
    expect(redacted).toContain("&quot;secret&quot;: &quot;[redacted]&quot;");
    const omitted = await (await (await appWith(null, "omitted")).request(path)).text();
    expect(omitted).not.toContain("s3cr3t-value");
    expect(omitted).toContain("PGMILL_HISTORY_PAYLOAD=omitted");
  });

  it("answers only to loopback host names when bound to loopback (DNS rebinding)", async () => {
    const { request } = await appWith(null);
    expect((await request("/", { headers: { host: "attacker.example:8081" } })).status).toBe(421);
    expect((await request("/", { headers: { host: "127.0.0.1:8081" } })).status).toBe(200);
  });
});

describe("dashboard actions", () => {
  it("refuses every POST with 403 when no token is configured, and shows no action buttons", async () => {
    const { request } = await appWith(null);
    const page = await (await request("/dead-letters")).text();
    expect(page).not.toContain('action="/actions/');
    expect(page).toContain("read-only");
    const response = await request("/actions/retry-dead-letter", formPost({ id: seeded.letter.id }));
    expect(response.status).toBe(403);
    expect(await response.text()).toContain("read-only");
    expect((await request("/login", formPost({ token: TOKEN }))).status).toBe(403);
    expect(await liveJobIds(db.handle.db, "log-message")).toEqual([]);
  });

  it("refuses a wrong token at login, and actions without a session", async () => {
    const { request, logs } = await appWith(TOKEN);
    expect((await request("/login", formPost({ token: "not-the-token-at-all" }))).status).toBe(403);
    expect(logs.text()).toContain("dashboard login refused");
    const response = await request("/actions/retry-dead-letter", formPost({ id: seeded.letter.id }));
    expect(response.status).toBe(403);
    expect(await response.text()).toContain("log in first");
  });

  it("refuses cross-site posts and posts without the session's CSRF token", async () => {
    const { request } = await appWith(TOKEN);
    const { cookie, csrf } = await login(request);
    const attempts: [string, RequestInit][] = [
      ["no CSRF token", formPost({ id: seeded.letter.id }, { cookie })],
      ["a wrong CSRF token", formPost({ id: seeded.letter.id, _csrf: "forged" }, { cookie })],
      ["another origin", formPost({ id: seeded.letter.id, _csrf: csrf }, { cookie, origin: "https://evil.example", "sec-fetch-site": "same-origin" })],
      ["a cross-site fetch", formPost({ id: seeded.letter.id, _csrf: csrf }, { cookie, "sec-fetch-site": "cross-site" })],
      ["Origin null", formPost({ id: seeded.letter.id, _csrf: csrf }, { cookie, origin: "null" })],
    ];
    for (const [what, init] of attempts) {
      const response = await request("/actions/retry-dead-letter", init);
      expect(response.status, what).toBe(403);
    }
    expect(await liveJobIds(db.handle.db, "log-message")).toEqual([]);
  });

  it("with the token, retrying a dead letter from the page re-enqueues it, says so and logs it", async () => {
    const { request, logs } = await appWith(TOKEN);
    const { cookie, csrf } = await login(request);
    const letter = seeded.letter;
    const page = await (await request("/dead-letters", { headers: { cookie } })).text();
    expect(page).toContain(`action="/actions/retry-dead-letter"`);
    const response = await request("/actions/retry-dead-letter", formPost({ id: letter.id, _csrf: csrf, back: "/dead-letters" }, { cookie }));
    expect(response.status).toBe(303);
    expect(response.headers.get("location")).toBe("/dead-letters");
    const [newJob] = await liveJobIds(db.handle.db, "log-message");
    expect(newJob).toBeTruthy();
    const row = await db.handle.db.selectFrom("pgmill.dead_letters").selectAll().where("id", "=", letter.id).executeTakeFirstOrThrow();
    expect(row.retried_as_job_id).toBe(newJob);
    const flash = response.headers.get("set-cookie")!.match(/pgmill_flash=[^;]+/)![0];
    const after = await (await request("/dead-letters?all=1", { headers: { cookie: `${cookie}; ${flash}` } })).text();
    expect(after).toContain(`re-enqueued as job ${newJob}`);
    const line = logs.lines.find((l) => l.action === "retry-dead-letter");
    expect(line).toMatchObject({ msg: expect.stringContaining(`as job ${newJob}`), result: { deadLetterId: letter.id, newJobId: newJob } });
    expect(logs.text()).not.toContain(TOKEN);
    expect(after).not.toContain(TOKEN);
    // Retrying it again is refused with a message, not a crash.
    const again = await request("/actions/retry-dead-letter", formPost({ id: letter.id, _csrf: csrf, back: "/dead-letters" }, { cookie }));
    expect(again.status).toBe(303);
    expect(decodeURIComponent(again.headers.get("set-cookie")!)).toContain('"error":true');
  });

  it("cancels a queued job from its page (pgmill.cancel_job), and says when there is nothing to cancel", async () => {
    const { request, logs } = await appWith(TOKEN);
    const { cookie, csrf } = await login(request);
    const jobId = await addJobWithSql(db.handle.db, "cancel-me", { n: 1 });
    const page = await (await request(`/jobs/${jobId}`, { headers: { cookie } })).text();
    expect(page).toContain('action="/actions/cancel-job"');
    const response = await request("/actions/cancel-job", formPost({ id: jobId, _csrf: csrf, back: `/jobs/${jobId}` }, { cookie }));
    expect(response.status).toBe(303);
    expect(await liveJobIds(db.handle.db, "cancel-me")).toEqual([]);
    const runs = await db.handle.db.selectFrom("pgmill.job_runs").select("status").where("job_id", "=", jobId).execute();
    expect(runs).toEqual([{ status: "cancelled" }]);
    expect(decodeURIComponent(response.headers.get("set-cookie")!)).toContain(`Job ${jobId}: cancelled (it was queued`);
    const again = await request("/actions/cancel-job", formPost({ id: jobId, _csrf: csrf, back: `/jobs/${jobId}` }, { cookie }));
    const flash = decodeURIComponent(again.headers.get("set-cookie")!);
    expect(flash).toContain("not cancelled: it has already finished");
    expect(flash).toContain('"error":true');
    expect(logs.lines.filter((l) => l.action === "cancel-job").map((l) => (l.result as { result: string }).result)).toEqual(["cancelled", "finished"]);
  });

  it("pauses and resumes a task from the overview (pgmill.pause_task, resume_task)", async () => {
    const { request } = await appWith(TOKEN);
    const { cookie, csrf } = await login(request);
    const jobId = await addJobWithSql(db.handle.db, "pause-me", {});
    const before = await (await request("/", { headers: { cookie } })).text();
    expect(before).toContain('action="/actions/pause-task"');
    expect((await request("/actions/pause-task", formPost({ task: "pause-me", _csrf: csrf, back: "/" }, { cookie }))).status).toBe(303);
    expect(await db.handle.db.selectFrom("pgmill.paused_tasks").select("task").execute()).toEqual([{ task: "pause-me" }]);
    // Held: run_at infinity, shown as such.
    const held = await (await request("/jobs?state=scheduled&task=pause-me")).text();
    expect(held).toContain("<td>infinity</td>");
    expect(held).toContain(`href="/jobs/${jobId}"`);
    const paused = await (await request("/", { headers: { cookie } })).text();
    expect(paused).toMatch(/pause-me<\/a> <span class="badge warn"[^>]*>paused<\/span>/);
    expect(paused).toContain('action="/actions/resume-task"');
    expect((await request("/actions/resume-task", formPost({ task: "pause-me", _csrf: csrf, back: "/" }, { cookie }))).status).toBe(303);
    expect(await db.handle.db.selectFrom("pgmill.paused_tasks").select("task").execute()).toEqual([]);
    const queued = await (await request("/jobs?state=queued&task=pause-me")).text();
    expect(queued).toContain(`href="/jobs/${jobId}"`);
  });

  it("shows a cancel in progress on the job's page instead of the cancel button", async () => {
    const { request } = await appWith(TOKEN);
    const { cookie } = await login(request);
    const jobId = await addJobWithSql(db.handle.db, "being-cancelled", {});
    // What pgmill.cancel_job leaves for a running job, for the daemon running it to act on.
    await db.handle.db.insertInto("pgmill.cancel_requests").values({ job_id: jobId, task: "being-cancelled", state: "requested" }).execute();
    const page = await (await request(`/jobs/${jobId}`, { headers: { cookie } })).text();
    expect(page).toContain("badge cancelled");
    expect(page).not.toContain('action="/actions/cancel-job"');
  });

  it("accepts the token as a Bearer header for scripts, and purges", async () => {
    const { request, logs } = await appWith(TOKEN);
    const wrong = await request("/actions/purge-dead-letters", formPost({ olderThan: "1s" }, { authorization: "Bearer nope" }));
    expect(wrong.status).toBe(403);
    const bad = await request("/actions/purge-dead-letters", formPost({ olderThan: "soon" }, { authorization: `Bearer ${TOKEN}` }));
    expect(decodeURIComponent(bad.headers.get("set-cookie")!)).toContain("olderThan: expected a duration");
    await db.handle.db.updateTable("pgmill.dead_letters").set({ died_at: new Date(Date.now() - 86_400_000) }).execute();
    const response = await request("/actions/purge-dead-letters", formPost({ olderThan: "1h" }, { authorization: `Bearer ${TOKEN}` }));
    expect(response.status).toBe(303);
    expect(await db.handle.db.selectFrom("pgmill.dead_letters").select("id").execute()).toEqual([]);
    expect(logs.lines.find((l) => l.action === "purge-dead-letters")).toMatchObject({ via: "bearer token", result: { purged: 1 } });
    expect((await request("/actions/no-such-thing", formPost({}, { authorization: `Bearer ${TOKEN}` }))).status).toBe(404);
  });
});

describe("dashboard crontab controls and task limits", () => {
  const cronPauses = () => db.handle.db.selectFrom("pgmill.cron_pauses").select(["identifier", "paused_at", "resumed_at"]).orderBy("id").execute();
  const flashOf = (response: Response) => decodeURIComponent(response.headers.get("set-cookie") ?? "");

  beforeAll(async () => {
    await publishCrontab(db.handle.db, crontabPath, await loadTasks({ tasksDir: null }));
    await db.handle.db.updateTable("pgmill.cron_lines").set({ last_tick_at: new Date("2026-11-30T08:00:00Z") }).where("identifier", "=", "paris-morning").execute();
  });

  it("shows each line's schedule, overlap, state, next runs (with seconds for @every) and last runs, without actions when read-only", async () => {
    const { request } = await appWith(null);
    const page = await (await request("/cron")).text();
    expect(page).toMatch(/<tr data-cron="heartbeat">[\s\S]*?<code[^>]*>@every 30s<\/code><br><span[^>]*>overlap skip<\/span>[\s\S]*?data-state="active"[\s\S]*?\d\d:\d\d:\d\d \+00:00/);
    expect(page).toMatch(/<tr data-cron="paris-morning">[\s\S]*?<code[^>]*>0 9 \* \* 1-5<\/code>[\s\S]*?Europe\/Paris[\s\S]*?2026-11-30 08:00:00/);
    expect(page).not.toContain('action="/actions/');
    for (const action of ["pause-cron", "resume-cron", "run-cron-now"]) {
      const response = await request(`/actions/${action}`, formPost({ id: "every-five" }));
      expect(response.status, action).toBe(403);
    }
    expect(await cronPauses()).toEqual([]);
  });

  it("pauses and resumes a line from the cron page (pgmill.pause_cron, resume_cron), with the session and its CSRF token", async () => {
    const { request, logs } = await appWith(TOKEN);
    const { cookie, csrf } = await login(request);
    const before = await (await request("/cron", { headers: { cookie } })).text();
    expect(before).toMatch(/<tr data-cron="every-five">[\s\S]*?action="\/actions\/pause-cron"[\s\S]*?action="\/actions\/run-cron-now"/);
    expect((await request("/actions/pause-cron", formPost({ id: "every-five", back: "/cron" }, { cookie }))).status, "no CSRF token").toBe(403);
    expect(await cronPauses()).toEqual([]);

    const paused = await request("/actions/pause-cron", formPost({ id: "every-five", _csrf: csrf, back: "/cron" }, { cookie }));
    expect(paused.status).toBe(303);
    expect(paused.headers.get("location")).toBe("/cron");
    expect(flashOf(paused)).toContain("Crontab line every-five paused since");
    const [window] = await cronPauses();
    expect(window).toMatchObject({ identifier: "every-five", resumed_at: null });
    const page = await (await request("/cron", { headers: { cookie } })).text();
    expect(page).toMatch(new RegExp(`<tr data-cron="every-five">[\\s\\S]*?data-state="paused"[\\s\\S]*?since <time datetime="${window!.paused_at.toISOString()}"[\\s\\S]*?action="/actions/resume-cron"`));
    expect(logs.lines.find((l) => l.action === "pause-cron")).toMatchObject({ via: "session", result: { cron: "every-five", pausedSince: window!.paused_at.toISOString() } });

    const resumed = await request("/actions/resume-cron", formPost({ id: "every-five", _csrf: csrf, back: "/cron" }, { cookie }));
    expect(flashOf(resumed)).toContain("Crontab line every-five resumed");
    expect((await cronPauses())[0]!.resumed_at).toBeInstanceOf(Date);
    const again = await request("/actions/resume-cron", formPost({ id: "every-five", _csrf: csrf, back: "/cron" }, { cookie }));
    expect(flashOf(again)).toContain("was not paused");
  });

  it("runs a line now and goes to the new job's page (pgmill.run_cron_now)", async () => {
    const { request, logs } = await appWith(TOKEN);
    const { cookie, csrf } = await login(request);
    const response = await request("/actions/run-cron-now", formPost({ id: "paris-morning", _csrf: csrf, back: "/cron" }, { cookie }));
    expect(response.status).toBe(303);
    const jobId = response.headers.get("location")!.match(/^\/jobs\/(\d+)$/)?.[1];
    expect(jobId).toBeTruthy();
    expect(await liveJobIds(db.handle.db, "log-message")).toContain(jobId);
    expect(flashOf(response)).toContain(`Crontab line paris-morning run now: job ${jobId}.`);
    const jobPage = await (await request(`/jobs/${jobId}`, { headers: { cookie } })).text();
    expect(jobPage).toContain("<dt>task</dt><dd>log-message</dd>");
    expect(jobPage).toContain("in the queue");
    const line = await db.handle.db.selectFrom("pgmill.cron_lines").select("last_manual_run_at").where("identifier", "=", "paris-morning").executeTakeFirstOrThrow();
    expect(line.last_manual_run_at).toBeInstanceOf(Date);
    const cron = await (await request("/cron", { headers: { cookie } })).text();
    expect(cron).toContain(`<time datetime="${line.last_manual_run_at!.toISOString()}"`);
    // Bearer works for scripts too.
    const scripted = await request("/actions/run-cron-now", formPost({ id: "heartbeat" }, { authorization: `Bearer ${TOKEN}` }));
    const heartbeatJob = scripted.headers.get("location")!.match(/^\/jobs\/(\d+)$/)?.[1];
    expect(heartbeatJob).toBeTruthy();
    expect(flashOf(scripted)).toContain(`Crontab line heartbeat run now: job ${heartbeatJob}.`);
    // overlap=skip: while that run is queued, run now hands it back and says so.
    const again = await request("/actions/run-cron-now", formPost({ id: "heartbeat" }, { authorization: `Bearer ${TOKEN}` }));
    expect(again.headers.get("location")).toBe(`/jobs/${heartbeatJob}`);
    expect(flashOf(again)).toContain(`Crontab line heartbeat: job ${heartbeatJob} was already queued or running under the line's job key (overlap=skip or jobKey); run now added no other.`);
    expect(logs.lines.filter((l) => l.action === "run-cron-now").map((l) => [l.via, (l.result as { existing: boolean }).existing])).toEqual([
      ["session", false],
      ["bearer token", false],
      ["bearer token", true],
    ]);
  });

  it("refuses an unknown line id with a message naming the known ones, not a 500", async () => {
    const { request, logs } = await appWith(TOKEN);
    const { cookie, csrf } = await login(request);
    for (const action of ["pause-cron", "resume-cron", "run-cron-now"]) {
      const response = await request(`/actions/${action}`, formPost({ id: "no-such-line", _csrf: csrf, back: "/cron" }, { cookie }));
      expect(response.status, action).toBe(303);
      expect(response.headers.get("location"), action).toBe("/cron");
      const flash = flashOf(response);
      expect(flash, action).toContain('unknown crontab line id \\"no-such-line\\" (known: every-five, heartbeat, paris-morning)');
      expect(flash, action).toContain('"error":true');
    }
    expect(logs.lines.filter((l) => l.level === LEVEL_WARN && String(l.problem).includes("no-such-line")).map((l) => l.action)).toEqual(["pause-cron", "resume-cron", "run-cron-now"]);
    expect(logs.lines.filter((l) => l.level === LEVEL_ERROR)).toEqual([]);
    const empty = await request("/actions/pause-cron", formPost({ id: "", _csrf: csrf, back: "/cron" }, { cookie }));
    expect(flashOf(empty)).toContain("pause-cron: id:");
    expect(await db.handle.db.selectFrom("pgmill.cron_pauses").select("identifier").where("identifier", "=", "no-such-line").execute()).toEqual([]);
  });

  it("shows the daemons' schedule where this crontab differs, and a paused line no daemon publishes (with resume)", async () => {
    const tasks = await loadTasks({ tasksDir: null });
    const other = path.join(mkdtempSync(path.join(tmpdir(), "pgmill-dashboard-")), "crontab");
    // The daemons run another version: every-five every ten minutes, and a line since retired, paused.
    writeFileSync(other, '*/10 * * * * log-message ?id=every-five {message: "tick"}\n0 3 * * * log-message ?id=retired {message: "old"}\n');
    await publishCrontab(db.handle.db, other, tasks);
    await pauseCron(db.handle.db, "retired");
    writeFileSync(other, '*/10 * * * * log-message ?id=every-five {message: "tick"}\n');
    await publishCrontab(db.handle.db, other, tasks);
    try {
      const { request } = await appWith(TOKEN);
      const { cookie, csrf } = await login(request);
      const page = await (await request("/cron", { headers: { cookie } })).text();
      expect(page).toMatch(/<tr data-cron="every-five">[\s\S]*?<code[^>]*>\*\/10 \* \* \* \*<\/code>[\s\S]*?this dashboard&#39;s crontab: \*\/5 \* \* \* \* \(UTC\)/);
      expect(page).toMatch(/<tr data-cron="paris-morning">[\s\S]*?data-state="unpublished"/);
      expect(page).not.toMatch(/<tr data-cron="paris-morning">(?:(?!<\/tr>)[\s\S])*?action="\/actions\//);
      expect(page).toMatch(/<tr data-cron="retired">[\s\S]*?in no daemon&#39;s crontab now[\s\S]*?data-state="paused"[\s\S]*?action="\/actions\/resume-cron"/);
      const resumed = await request("/actions/resume-cron", formPost({ id: "retired", _csrf: csrf, back: "/cron" }, { cookie }));
      expect(flashOf(resumed)).toContain("Crontab line retired resumed");
      expect(await (await request("/cron")).text()).not.toContain('data-cron="retired"');
    } finally {
      await publishCrontab(db.handle.db, crontabPath, tasks);
    }
  });

  it("lists the limited tasks the catalog declares with their use, and the paused tasks", async () => {
    const plain = await (await (await appWith(null)).request("/")).text();
    expect(plain).not.toContain('id="limited-tasks"');
    const { request } = await appWith(null, "stored", await loadTasks({ tasksDir: null, tasks: [limitedTask] }));
    const page = await (await request("/")).text();
    expect(page).toMatch(/<tr data-task="send-email">[\s\S]*?<td class="num">2<\/td><td class="num">0<\/td><td class="num">0<\/td>\s*<td>10 per 60s<\/td><td class="num">0<\/td>/);
    await pauseTask(db.handle.db, "report");
    try {
      const paused = await (await request("/")).text();
      // seed()'s scheduled report job is held.
      expect(paused).toMatch(/<table id="paused-tasks">[\s\S]*?report<\/a><\/td><td><time[^>]*>[^<]+<\/time><\/td><td>[^<]+<\/td><td class="num">1<\/td>/);
    } finally {
      await resumeTask(db.handle.db, "report");
    }
  });
});
