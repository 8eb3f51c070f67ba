import { createServer, type Server, type Socket } from "node:net";
import ssh2, { type ClientInfo, type Connection, type Server as Ssh2Server } from "ssh2";
import type { ContainerEngine } from "../container/engine.js";
import type { Logger } from "../log/logger.js";
import { ConnectionAuthenticator } from "./authenticator.js";
import { SshGatewayError } from "./errors.js";
import type { HostKey } from "./host-key.js";
import { listenInRange, type PortRange } from "./port-range.js";
import { handleSession } from "./session-bridge.js";
import type { ResolvedAccess } from "./ssh-access.js";
import { handleDirectTcpip } from "./tcp-forward.js";

/** Like sshd's LoginGraceTime: a connection that has not logged in by then is dropped. */
export const LOGIN_GRACE_MS = 60_000;
/** Connections one rental's listener holds at once (renters open a few; more is abuse). */
export const MAX_CONNECTIONS_PER_RENTAL = 32;
/** Server-side keepalive: a client silent for interval × count is disconnected. */
const KEEPALIVE_INTERVAL_MS = 15_000;
const KEEPALIVE_COUNT_MAX = 4;
/** On close, connections get this long to say goodbye before their sockets are destroyed. */
const CLOSE_GRACE_MS = 2_000;
const IDENT = "gpunode";
/** Shown at login while the container has no address (OpenSSH prints it at LogLevel INFO and above). */
export const NO_FORWARD_BANNER = "Note: port forwarding (ssh -L) is unavailable: this rental's container has no network address.\n";

export interface RentalListenerDeps {
  engine: ContainerEngine;
  logger: Logger;
  hostKey: HostKey;
  sftpCommand(): Promise<string[]>;
  /** The bundled scp, for legacy `scp -O` (undefined when the host has none). */
  scpCommand(): Promise<string[] | undefined>;
}

interface Tracked {
  socket: Socket;
  loginTimer: NodeJS.Timeout;
  closed: Promise<void>;
  conn?: Connection;
}

/**
 * One rental's SSH listener: its own TCP port, ssh2 protocol handling over sockets we accept
 * ourselves (so sockets that never finish the handshake are tracked, timed out and destroyed on
 * close), login via ConnectionAuthenticator, sessions bridged into the container.
 */
export class RentalListener {
  private readonly server: Server;
  /** Protocol handling for new sockets; rebuilt when the banner must change (see update). */
  private ssh: Ssh2Server;
  /** Keyed by remote address and port: unique among live sockets of one listening port. */
  private readonly tracked = new Map<string, Tracked>();
  private readonly stop = new AbortController();
  /** Hang-ups of abandoned sessions still running; close() waits for them. */
  private readonly cleanups = new Set<Promise<void>>();
  private closing: Promise<void> | undefined;
  private access: ResolvedAccess;
  private listeningPort = 0;

  constructor(
    access: ResolvedAccess,
    private readonly deps: RentalListenerDeps,
  ) {
    this.access = access;
    this.ssh = this.protocol(access);
    this.server = createServer({ noDelay: true }, (socket) => this.onSocket(socket));
    this.server.maxConnections = MAX_CONNECTIONS_PER_RENTAL;
    this.server.on("error", (err) => deps.logger.error({ err }, "SSH listener error"));
  }

  get port(): number {
    return this.listeningPort;
  }

  async listen(host: string, range: PortRange, preferredPort: number | undefined, signal?: AbortSignal): Promise<number> {
    this.listeningPort = await listenInRange(this.server, host, range, preferredPort, signal);
    return this.listeningPort;
  }

  /** New logins and sessions use `access`; live sessions keep running. */
  update(access: ResolvedAccess): void {
    // ssh2 fixes the banner per Server: new connections get a new one (live ones keep theirs).
    if ((access.containerIp === undefined) !== (this.access.containerIp === undefined)) this.ssh = this.protocol(access);
    this.access = access;
  }

  /** Stops listening and ends every connection and session; idempotent. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.stop.abort(new SshGatewayError("closed", `SSH access to rental ${this.access.rentalId} closed`));
    const serverClosed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const all = [...this.tracked.values()];
    for (const t of all) {
      if (t.conn) t.conn.end(); // sends a disconnect message, then ends the socket
      else t.socket.destroy();
    }
    let grace: NodeJS.Timeout | undefined;
    const graceOver = new Promise<void>((resolve) => (grace = setTimeout(resolve, CLOSE_GRACE_MS)));
    await Promise.race([Promise.all(all.map((t) => t.closed)), graceOver]);
    clearTimeout(grace);
    for (const t of all) t.socket.destroy();
    await serverClosed;
    await Promise.all([...this.cleanups]);
  }

  /** ssh2 protocol handling only: sockets are accepted by our own server and injected. */
  private protocol(access: ResolvedAccess): Ssh2Server {
    return new ssh2.Server(
      {
        hostKeys: [this.deps.hostKey.privateKey],
        ident: IDENT,
        keepaliveInterval: KEEPALIVE_INTERVAL_MS,
        keepaliveCountMax: KEEPALIVE_COUNT_MAX,
        // The only way to tell a renter why -L is refused: channel-open failures carry no text in ssh2.
        ...(access.containerIp === undefined && { banner: NO_FORWARD_BANNER }),
      },
      (conn, info) => this.onConnection(conn, info),
    );
  }

  private background(work: Promise<void>): void {
    this.cleanups.add(work);
    void work.finally(() => this.cleanups.delete(work));
  }

  private onSocket(socket: Socket): void {
    if (this.stop.signal.aborted) return void socket.destroy();
    const key = `${socket.remoteAddress}|${socket.remotePort}`;
    const t: Tracked = {
      socket,
      loginTimer: setTimeout(() => {
        this.deps.logger.info({ remote: socket.remoteAddress }, "SSH connection did not log in in time; dropped");
        socket.destroy();
      }, LOGIN_GRACE_MS),
      closed: new Promise((resolve) => socket.once("close", () => resolve())),
    };
    this.tracked.set(key, t);
    void t.closed.then(() => {
      clearTimeout(t.loginTimer);
      this.tracked.delete(key);
    });
    this.ssh.injectSocket(socket);
  }

  private onConnection(conn: Connection, info: ClientInfo): void {
    const t = this.tracked.get(`${info.ip}|${info.port}`);
    if (t) t.conn = conn;
    const log = this.deps.logger.child({ remote: info.ip });
    const gone = new AbortController();
    const signal = AbortSignal.any([this.stop.signal, gone.signal]);
    conn.on("error", (err: Error) => log.debug({ err: err.message }, "SSH connection error"));
    conn.once("close", () => gone.abort());

    const auth = new ConnectionAuthenticator(() => this.access, log, () => conn.end());
    conn.on("authentication", (ctx) => auth.handle(ctx));
    conn.once("ready", () => {
      if (t) clearTimeout(t.loginTimer);
    });
    conn.on("session", (accept) => {
      const { containerId, execUser } = this.access;
      handleSession(accept(), {
        containerId,
        execUser,
        engine: this.deps.engine,
        log,
        signal,
        sftpCommand: this.deps.sftpCommand,
        scpCommand: this.deps.scpCommand,
        background: (work) => this.background(work),
      });
    });
    conn.on("tcpip", (accept, reject, req) => handleDirectTcpip(accept, reject, req, { containerIp: this.access.containerIp, log, signal }));
  }
}
