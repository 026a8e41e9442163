import { Hono, type Context } from "hono";
import { z } from "zod";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { PayloadMode } from "../config/config.js";
import type { Db } from "../db/database.js";
import { PgmillError } from "../errors.js";
import type { Logger } from "../logging/logger.js";
import type { TaskCatalog } from "../tasks/task-catalog.js";
import { bigintId } from "../cli/arguments.js";
import { ACTIONS, isActionName } from "./actions.js";
import { SCRIPT, STYLESHEET } from "./assets.js";
import { BadRequest, parseQuery } from "./filters.js";
import { html, type Html } from "./html.js";
import { layout, type View } from "./layout.js";
import { cronPage } from "./pages/cron.js";
import { daemonsPage } from "./pages/daemons.js";
import { deadLettersPage } from "./pages/dead-letters.js";
import { jobPage } from "./pages/job.js";
import { jobsPage } from "./pages/jobs.js";
import { overviewPage } from "./pages/overview.js";
import { runsPage } from "./pages/runs.js";
import type { PageDeps } from "./pages/deps.js";
import { flashAndGo, takeFlash } from "./flash.js";
import { SESSION_COOKIE, visitorGuard, writeGuard, type Env } from "./guard.js";
import { sameSecret, Sessions } from "./sessions.js";

export interface DashboardOptions {
  readonly db: Db;
  readonly logger: Logger;
  readonly tasks: TaskCatalog;
  readonly crontabPath: string;
  readonly payloadMode: PayloadMode;
  /** PGMILL_DASHBOARD_TOKEN; null: read-only. */
  readonly token: string | null;
  /** The address it listens on: on loopback, only loopback Host headers are served (against DNS rebinding). */
  readonly host: string;
}

/**
 * The dashboard as a Hono app (served on node's http by server.ts; tests call
 * `app.request` or a real socket). Pages are GETs and only read; actions are
 * POSTs to /actions/<name>, refused unless a token is configured, the request
 * is same-origin, and it carries a session with its CSRF token or the token itself.
 */
export function dashboardApp(options: DashboardOptions): Hono<Env> {
  const { db, logger, token } = options;
  const log = logger.child({ component: "dashboard" });
  const sessions = new Sessions();
  const deps: PageDeps = { db, tasks: options.tasks, crontabPath: options.crontabPath };
  const app = new Hono<Env>();

  app.use(visitorGuard({ host: options.host, token, sessions }));
  app.use(writeGuard(token));

  const render = async (c: Context<Env>, title: string, body: (view: View) => Promise<Html | null>, options: { refresh?: boolean } = {}) => {
    const view = viewOf(c);
    const content = await body(view);
    if (content === null) return c.html(layout(view, "Not found", html`<p>Nothing here: ${c.req.path}</p>`, { refresh: false }), 404);
    return c.html(layout(view, title, content, options));
  };
  const viewOf = (c: Context<Env>): View => {
    const url = new URL(c.req.url);
    return {
      path: url.pathname + url.search,
      access: c.get("access"),
      csrf: c.get("session")?.csrf ?? null,
      flash: takeFlash(c),
      payloadMode: options.payloadMode,
    };
  };

  app.get("/assets/dashboard.css", (c) => c.body(STYLESHEET, 200, { "content-type": "text/css; charset=utf-8" }));
  app.get("/assets/dashboard.js", (c) => c.body(SCRIPT, 200, { "content-type": "text/javascript; charset=utf-8" }));
  app.get("/", (c) => render(c, "Overview", (view) => overviewPage(deps, view)));
  app.get("/jobs", (c) => render(c, "Jobs", (view) => jobsPage(deps, view, c.req.query())));
  app.get("/jobs/:id", (c) => {
    const { id } = parseQuery(z.object({ id: bigintId }), { id: c.req.param("id") });
    return render(c, `Job ${id}`, (view) => jobPage(deps, view, id));
  });
  app.get("/runs", (c) => render(c, "History", (view) => runsPage(deps, view, c.req.query())));
  app.get("/dead-letters", (c) => render(c, "Dead letters", (view) => deadLettersPage(deps, view, c.req.query())));
  app.get("/cron", (c) => render(c, "Cron", (view) => cronPage(deps, view)));
  app.get("/daemons", (c) => render(c, "Daemons", (view) => daemonsPage(deps, view)));

  app.get("/login", (c) => {
    const view = viewOf(c);
    const body = !token
      ? html`<p>This dashboard is read-only: start it with PGMILL_DASHBOARD_TOKEN set to enable actions.</p>`
      : view.access === "unlocked"
        ? html`<p>Logged in: actions are enabled. <a href="/">Overview</a></p>`
        : loginForm();
    return c.html(layout(view, "Log in", body, { refresh: false }));
  });
  app.post("/login", async (c) => {
    const form = await c.req.parseBody();
    const view = viewOf(c);
    if (typeof form.token !== "string" || !sameSecret(form.token, token!)) {
      log.warn({ remote: remoteOf(c) }, "dashboard login refused: wrong token");
      return c.html(layout({ ...view, flash: { text: "Wrong token.", error: true } }, "Log in", loginForm(), { refresh: false }), 403);
    }
    const session = sessions.create();
    setCookie(c, SESSION_COOKIE, session.id, { httpOnly: true, sameSite: "Strict", path: "/", maxAge: 12 * 3600 });
    log.info({ remote: remoteOf(c) }, "dashboard login");
    return c.redirect("/", 303);
  });
  app.post("/logout", (c) => {
    sessions.end(getCookie(c, SESSION_COOKIE));
    deleteCookie(c, SESSION_COOKIE, { path: "/" });
    return c.redirect("/", 303);
  });

  app.post("/actions/:name", async (c) => {
    const name = c.req.param("name");
    if (!isActionName(name)) return c.text(`no such action: ${name}\n`, 404);
    const form = await c.req.parseBody();
    const fields = Object.fromEntries(Object.entries(form).filter(([key, value]) => typeof value === "string" && key !== "_csrf" && key !== "back")) as Record<string, string>;
    const action = ACTIONS[name];
    const back = typeof form.back === "string" && /^\/(?![/\\])/.test(form.back) ? form.back : "/";
    let input: unknown;
    try {
      input = parseQuery(action.input, fields);
    } catch (error) {
      if (!(error instanceof BadRequest)) throw error;
      return flashAndGo(c, back, `${name}: ${error.problems.join("; ")}`, true);
    }
    const who = { remote: remoteOf(c), via: c.get("session") ? "session" : "bearer token" };
    try {
      // Each action's input type is its own; the union of them is what run() accepts here.
      const result = await (action.run as (db: Db, input: unknown) => ReturnType<typeof action.run>)(db, input);
      log[result.refused ? "warn" : "info"]({ action: name, input, result: result.details, ...who }, `dashboard action ${name}: ${result.message}`);
      return flashAndGo(c, result.redirect ?? back, result.message, result.refused === true);
    } catch (error) {
      if (!(error instanceof PgmillError)) throw error;
      log.warn({ action: name, input, problem: error.message, ...who }, `dashboard action ${name} failed`);
      return flashAndGo(c, back, error.message, true);
    }
  });

  app.notFound((c) => c.html(layout(viewOf(c), "Not found", html`<p>Nothing here: ${c.req.path}</p>`, { refresh: false }), 404));
  app.onError((error, c) => {
    if (error instanceof BadRequest) {
      return c.html(layout(viewOf(c), "Bad request", html`<ul class="problems">${error.problems.map((p) => html`<li>${p}</li>`)}</ul>`, { refresh: false }), 400);
    }
    log.error({ err: error, path: c.req.path }, "dashboard request failed");
    return c.html(layout(viewOf(c), "Error", html`<p>This page failed; the dashboard's log says why.</p>`, { refresh: false }), 500);
  });
  return app;
}

function loginForm(): Html {
  return html`<form method="post" action="/login" class="filters">
  <label>token (PGMILL_DASHBOARD_TOKEN) <input type="password" name="token" autocomplete="current-password" required></label>
  <button>log in</button></form>`;
}






function remoteOf(c: Context): string | undefined {
  // @hono/node-server hands node's IncomingMessage over as env.incoming.
  return (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming?.socket?.remoteAddress;
}
