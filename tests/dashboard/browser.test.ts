import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDashboardServer, type DashboardServer } from "../../src/dashboard/server.js";
import { loadTasks } from "../../src/tasks/task-catalog.js";
import { ROOT } from "../support/built-dist.js";
import { captureLogs } from "../support/log-capture.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";
import { insertDeadLetter, limitedTask, liveJobIds, publishCrontab, seed, seedHistory, TOKEN, writeCrontab, type Seeded } from "./fixtures.js";

// The dashboard in a real browser: Debian's chromium (`apt-get install chromium`;
// .ci/run installs it), driven by playwright-core. The screenshots it takes are
// the README's: with PGMILL_UPDATE_SCREENSHOTS=1 they go to docs/screenshots
// (to commit), otherwise to tests/.tmp, so a test run leaves the tree clean.

const CHROMIUM = process.env.PGMILL_CHROMIUM ?? "/usr/bin/chromium";
const SCREENSHOTS = path.join(ROOT, process.env.PGMILL_UPDATE_SCREENSHOTS === "1" ? "docs/screenshots" : "tests/.tmp/screenshots");

let db: TestDatabase;
let seeded: Seeded;
let browser: Browser;
let readOnly: DashboardServer;
let withToken: DashboardServer;

beforeAll(async () => {
  db = await createTestDatabase();
  seeded = await seed(db.handle.db);
  await seedHistory(db.handle.db);
  const tasks = await loadTasks({ tasksDir: null, tasks: [limitedTask] });
  const crontabPath = writeCrontab();
  // As a daemon would on start: the cron page's controls act on the published lines.
  await publishCrontab(db.handle.db, crontabPath, tasks);
  // And as its ticks would: the last five-minute tick was enqueued.
  await db.handle.db
    .updateTable("pgmill.cron_lines")
    .set({ last_tick_at: new Date(Math.floor(Date.now() / 300_000) * 300_000) })
    .where("identifier", "=", "every-five")
    .execute();
  const common = {
    db: db.handle.db,
    logger: captureLogs().logger,
    tasks,
    crontabPath,
    payloadMode: "stored" as const,
    host: "127.0.0.1",
    port: 0,
  };
  readOnly = await startDashboardServer({ ...common, token: null });
  withToken = await startDashboardServer({ ...common, token: TOKEN });
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no chromium at ${CHROMIUM}: install Debian's (apt-get install -y chromium; .ci/run does) or set PGMILL_CHROMIUM to another build`);
  }
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-dev-shm-usage"] });
  mkdirSync(SCREENSHOTS, { recursive: true });
});

afterAll(async () => {
  await browser?.close();
  await readOnly?.close();
  await withToken?.close();
});

/** A page that records every console error and uncaught exception. */
async function openPage(): Promise<{ page: Page; errors: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(`${page.url()}: ${message.text()}`);
  });
  page.on("pageerror", (error) => errors.push(`${page.url()}: ${error.message}`));
  page.on("dialog", (dialog) => void dialog.accept());
  return { page, errors };
}

/** Logs in with the token from a page of the dashboard with actions; lands on the overview. */
async function logIn(page: Page, server: DashboardServer): Promise<void> {
  await page.click("text=log in to act");
  await page.fill('input[name="token"]', TOKEN);
  await Promise.all([page.waitForURL(server.url + "/"), page.click('button:has-text("log in")')]);
}

describe("dashboard in chromium", { timeout: 90_000 }, () => {
  it("loads every page without console errors, refreshes live, and screenshots each", async () => {
    const { page, errors } = await openPage();
    const pages: [string, string][] = [
      ["overview", "/"],
      ["jobs", "/jobs"],
      ["history", "/runs"],
      ["job", `/jobs/${seeded.failedRunJobId}`],
      ["dead-letters", "/dead-letters"],
      // The README's cron.png shows the page with its actions: taken below, logged in.
      ["cron-read-only", "/cron"],
      ["daemons", "/daemons"],
      ["login", "/login"],
    ];
    for (const [name, url] of pages) {
      const response = await page.goto(readOnly.url + url);
      expect(response?.status(), url).toBe(200);
      await page.waitForLoadState("load");
      expect(await page.locator("main h1").count(), url).toBe(1);
      if (name !== "cron-read-only") await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
    }
    // The poll swaps in a fresh <main> every 5 seconds.
    await page.goto(readOnly.url + "/");
    await expect.poll(() => page.locator("#updated").textContent(), { timeout: 20_000 }).toMatch(/^updated/);
    expect(await page.locator("#tasks").count()).toBe(1);
    expect(errors).toEqual([]);
  });

  it("read-only mode shows no actions and refuses a forged one", async () => {
    const { page, errors } = await openPage();
    const letter = await insertDeadLetter(db.handle.db, "read-only-task");
    await page.goto(readOnly.url + "/dead-letters");
    expect(await page.locator(`tr[data-letter="${letter.id}"]`).count()).toBe(1);
    expect(await page.locator("button[data-action]").count()).toBe(0);
    expect(await page.locator("header .badge").first().textContent()).toBe("read-only");
    const status = await page.evaluate(async (id) => {
      const response = await fetch("/actions/retry-dead-letter", { method: "POST", body: new URLSearchParams({ id }) });
      return response.status;
    }, letter.id);
    expect(status).toBe(403);
    expect(await liveJobIds(db.handle.db, "read-only-task")).toEqual([]);
    // The refused fetch logs a 403 in the console; nothing else may.
    expect(errors.filter((e) => !e.includes("403"))).toEqual([]);
  });

  it("with the token, logging in and retrying a dead letter from the page re-enqueues it", async () => {
    const { page, errors } = await openPage();
    const letter = await insertDeadLetter(db.handle.db, "browser-retry-task", "SMTP 550: mailbox unavailable");
    await page.goto(withToken.url + "/dead-letters");
    expect(await page.locator("button[data-action]").count()).toBe(0);
    await logIn(page, withToken);
    await page.goto(withToken.url + "/dead-letters");
    await page.screenshot({ path: path.join(SCREENSHOTS, "dead-letters-actions.png"), fullPage: true });
    const row = page.locator(`tr[data-letter="${letter.id}"]`);
    await Promise.all([page.waitForURL(withToken.url + "/dead-letters"), row.locator('button[data-action="retry-dead-letter"]').click()]);
    const [jobId] = await liveJobIds(db.handle.db, "browser-retry-task");
    expect(jobId).toBeTruthy();
    await expect.poll(() => page.locator(".flash").textContent()).toContain(`re-enqueued as job ${jobId}`);
    await page.screenshot({ path: path.join(SCREENSHOTS, "retried.png"), fullPage: true });
    expect(await page.locator(`tr[data-letter="${letter.id}"]`).count()).toBe(0);
    await page.goto(`${withToken.url}/jobs/${jobId}`);
    expect(await page.locator("main").textContent()).toContain("browser-retry-task");
    expect(errors).toEqual([]);
  });

  it("with the token, pausing a crontab line from the cron page shows it paused, and run now creates a job", async () => {
    const { page, errors } = await openPage();
    await page.goto(withToken.url + "/cron");
    await logIn(page, withToken);
    await page.goto(withToken.url + "/cron");
    const row = page.locator('tr[data-cron="every-five"]');
    expect(await row.locator("[data-state]").getAttribute("data-state")).toBe("active");
    await Promise.all([page.waitForURL(withToken.url + "/cron"), row.locator('button[data-action="pause-cron"]').click()]);
    await expect.poll(() => page.locator(".flash").textContent()).toContain("Crontab line every-five paused since");
    expect(await row.locator("[data-state]").getAttribute("data-state")).toBe("paused");
    expect(await row.locator('button[data-action="resume-cron"]').count()).toBe(1);
    const windows = await db.handle.db.selectFrom("pgmill.cron_pauses").select(["identifier", "resumed_at"]).execute();
    expect(windows).toEqual([{ identifier: "every-five", resumed_at: null }]);

    const before = await liveJobIds(db.handle.db, "log-message");
    await Promise.all([page.waitForURL(/\/jobs\/\d+$/), page.locator('tr[data-cron="paris-morning"] button[data-action="run-cron-now"]').click()]);
    const jobId = page.url().match(/\/jobs\/(\d+)$/)![1]!;
    expect(before).not.toContain(jobId);
    expect(await liveJobIds(db.handle.db, "log-message")).toContain(jobId);
    expect(await page.locator(".flash").textContent()).toContain(`Crontab line paris-morning run now: job ${jobId}.`);
    expect(await page.locator("main").textContent()).toContain("log-message");
    await page.goto(withToken.url + "/cron");
    expect(await page.locator('tr[data-cron="paris-morning"]').textContent()).toContain("by hand");
    await page.screenshot({ path: path.join(SCREENSHOTS, "cron.png"), fullPage: true });
    expect(errors).toEqual([]);
  });
});
