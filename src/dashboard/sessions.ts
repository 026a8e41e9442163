import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

// Who may act. Without PGMILL_DASHBOARD_TOKEN the dashboard is read-only.
// With it, a browser logs in once with the token and gets a session: a random
// id in an HttpOnly, SameSite=Strict cookie, and a per-session CSRF token that
// every action form carries. Scripts send the token as a Bearer header instead.
// Sessions live in memory: a restart logs everyone out, which is fine for an
// admin page.

export interface Session {
  readonly id: string;
  readonly csrf: string;
  readonly expiresAt: number;
}

const SESSION_MS = 12 * 3600_000;
const MAX_SESSIONS = 1000;

export class Sessions {
  readonly #sessions = new Map<string, Session>();

  constructor(private readonly now: () => number = Date.now) {}

  create(): Session {
    this.#forgetExpired();
    // Oldest first in a Map: the bound keeps memory flat whatever logs in.
    while (this.#sessions.size >= MAX_SESSIONS) this.#sessions.delete(this.#sessions.keys().next().value!);
    const session = { id: randomToken(), csrf: randomToken(), expiresAt: this.now() + SESSION_MS };
    this.#sessions.set(session.id, session);
    return session;
  }

  get(id: string | undefined): Session | null {
    if (!id) return null;
    const session = this.#sessions.get(id);
    if (!session || session.expiresAt <= this.now()) return null;
    return session;
  }

  end(id: string | undefined): void {
    if (id) this.#sessions.delete(id);
  }

  #forgetExpired(): void {
    const now = this.now();
    for (const [id, session] of this.#sessions) if (session.expiresAt <= now) this.#sessions.delete(id);
  }
}

function randomToken(): string {
  return randomBytes(24).toString("base64url");
}

/** Constant-time comparison of two secrets of any length (hashed first, so lengths leak nothing either). */
export function sameSecret(given: string, expected: string): boolean {
  const digest = (text: string) => createHash("sha256").update(text).digest();
  return timingSafeEqual(digest(given), digest(expected));
}
