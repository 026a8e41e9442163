import pg from "pg";

/** LISTEN holds one connection; the rest of the daemon needs at least one more. */
const MIN_CONNECTIONS = 2;
const PROBE_EVERY_MS = 10_000;
const TOO_MANY_CONNECTIONS = "53300";

export interface CapChange {
  /** The most connections the pool now opens. */
  readonly cap: number;
  /** What it was configured to open (PGMILL_DB_POOL_SIZE). */
  readonly size: number;
  /** The refusal that lowered the cap; null when a probe found room to raise it. */
  readonly refusal: Error | null;
}

/**
 * Fits a pg pool under a connection limit lower than its size (a role's or
 * database's CONNECTION LIMIT, or max_connections). Left alone, the pool
 * opens a new connection whenever all are busy, the server refuses it
 * (53300), and whatever asked fails: fetches, completions, history writes,
 * over and over. Instead the first refusal caps the pool at the connections
 * it has, so callers wait for one of those; a probe connection every 10 s
 * (only while the pool uses all it may) raises the cap again when the limit
 * has room, up to the configured size.
 */
export class ConnectionCap {
  private pool: pg.Pool | null = null;
  private probeTimer: NodeJS.Timeout | null = null;
  /** Connections open now (the pool counts those still connecting too). */
  private connected = 0;

  constructor(
    private readonly size: number,
    private readonly connectionString: string,
    private readonly onChange: (change: CapChange) => void,
  ) {}

  /** The client class for the pool: reports refused connections before the pool sees them. */
  clientClass(): typeof pg.Client {
    const refused = (error: Error | null) => {
      if (error) this.refused(error);
    };
    class CappedClient extends pg.Client {}
    const connect = pg.Client.prototype.connect as (this: pg.Client, callback?: (error: Error) => void) => Promise<void> | void;
    // pg-pool connects with a callback; keep both of pg's call styles.
    CappedClient.prototype.connect = function (this: pg.Client, callback?: (error: Error) => void) {
      if (callback) return connect.call(this, (error: Error) => (refused(error), callback(error)));
      return (connect.call(this) as Promise<void>).catch((error: Error) => {
        refused(error);
        throw error;
      });
    } as typeof pg.Client.prototype.connect;
    return CappedClient;
  }

  attach(pool: pg.Pool): void {
    this.pool = pool;
    pool.on("connect", () => this.connected++);
    pool.on("remove", () => this.connected--);
  }

  stop(): void {
    if (this.probeTimer) clearInterval(this.probeTimer);
    this.probeTimer = null;
  }

  private refused(error: Error): void {
    const pool = this.pool;
    if (!pool || (error as { code?: string }).code !== TOO_MANY_CONNECTIONS) return;
    const cap = Math.max(MIN_CONNECTIONS, this.connected);
    if (cap >= pool.options.max) return;
    pool.options.max = cap;
    this.onChange({ cap, size: this.size, refusal: error });
    this.probeTimer ??= setInterval(() => void this.probe(), PROBE_EVERY_MS);
    this.probeTimer.unref();
  }

  private async probe(): Promise<void> {
    const pool = this.pool;
    if (!pool || pool.options.max >= this.size) return this.stop();
    // Only a pool that uses every connection it may has learnt anything from a probe.
    if (this.connected < pool.options.max) return;
    const client = new pg.Client({ connectionString: this.connectionString, connectionTimeoutMillis: 5_000, application_name: "pgmill" });
    client.on("error", () => undefined);
    try {
      await client.connect();
    } catch {
      return;
    } finally {
      await client.end().catch(() => undefined);
    }
    pool.options.max = Math.min(this.size, pool.options.max + 1);
    this.onChange({ cap: pool.options.max, size: this.size, refusal: null });
  }
}
