import net from "node:net";
import { onFileCleanup } from "./file-cleanup.js";

export interface TcpProxy {
  readonly port: number;
  /** Drops every connection and refuses new ones: the database "goes away". */
  cut(): void;
  /** Keeps connections open but lets nothing through: a black-holed network. */
  freeze(): void;
  /** Back to normal; frozen traffic flows on. */
  restore(): void;
  close(): Promise<void>;
}

/** A loopback proxy to `target`, to take the database away from a daemon without stopping the shared server. */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  const held: net.Socket[] = [];
  let mode: "open" | "cut" | "frozen" = "open";

  const track = (socket: net.Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
  };
  const connect = (client: net.Socket) => {
    const upstream = net.connect(target.port, target.host);
    track(upstream);
    client.pipe(upstream).pipe(client);
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  };
  const server = net.createServer((client) => {
    if (mode === "cut") return client.destroy();
    track(client);
    if (mode === "frozen") {
      client.pause();
      held.push(client);
      return;
    }
    connect(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    cut() {
      mode = "cut";
      for (const s of sockets) s.destroy();
    },
    freeze() {
      mode = "frozen";
      for (const s of sockets) s.pause();
    },
    restore() {
      mode = "open";
      for (const s of sockets) s.resume();
      for (const client of held.splice(0)) connect(client);
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** `databaseUrl` through a new proxy (closed after the file): the URL to give a daemon, and the proxy to cut. */
export async function proxiedDatabase(databaseUrl: string): Promise<{ url: string; proxy: TcpProxy }> {
  const url = new URL(databaseUrl);
  const proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port || 5432) });
  onFileCleanup(() => proxy.close());
  url.host = `127.0.0.1:${proxy.port}`;
  return { url: url.toString(), proxy };
}
