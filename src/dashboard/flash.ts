import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { View } from "./layout.js";

// What an action did, shown once on the page it redirects to: a short-lived
// HttpOnly cookie, not a query parameter a link could forge.

const FLASH_COOKIE = "pgmill_flash";

/** Back to a page (303, so a reload does not post again) that shows what happened, failures included. */
export function flashAndGo(c: Context, to: string, text: string, error: boolean) {
  setCookie(c, FLASH_COOKIE, JSON.stringify({ text: text.slice(0, 500), error }), { httpOnly: true, sameSite: "Strict", path: "/", maxAge: 60 });
  return c.redirect(to, 303);
}

/** The message waiting for this page, if any; read once (the refresh poll leaves it for the page it refreshes). */
export function takeFlash(c: Context): View["flash"] {
  const value = getCookie(c, FLASH_COOKIE);
  if (!value) return null;
  if (!c.req.header("x-pgmill-refresh")) deleteCookie(c, FLASH_COOKIE, { path: "/" });
  return parseFlash(value);
}

function parseFlash(value: string): View["flash"] {
  try {
    const parsed = JSON.parse(value) as { text?: unknown; error?: unknown };
    return typeof parsed.text === "string" ? { text: parsed.text, error: parsed.error === true } : null;
  } catch {
    return null;
  }
}
