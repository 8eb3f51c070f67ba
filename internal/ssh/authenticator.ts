import type { AuthContext } from "ssh2";
import type { Logger } from "../log/logger.js";
import { verifyPassword } from "./password-hash.js";
import type { ResolvedAccess } from "./ssh-access.js";

/** Like sshd's MaxAuthTries: a client that keeps guessing is disconnected. */
export const MAX_AUTH_FAILURES = 6;

type Method = "publickey" | "password";

/**
 * Decides the login requests of one connection: public keys from the rental's authorized keys
 * (signature checked), a password only when the rental has a hash, the rental's login name only.
 * Everything else (keyboard-interactive, hostbased, other names) is refused.
 */
export class ConnectionAuthenticator {
  private failures = 0;

  constructor(
    /** Read on every attempt, so an updated access applies to the next login. */
    private readonly access: () => ResolvedAccess,
    private readonly log: Logger,
    /** Called when the client used up its attempts; the caller disconnects it. */
    private readonly onTooManyFailures: () => void,
  ) {}

  handle(ctx: AuthContext): void {
    const access = this.access();
    const methods: Method[] = access.passwordHash === undefined ? ["publickey"] : ["publickey", "password"];
    const refuse = (why: string): void => {
      this.failures++;
      this.log.info({ user: ctx.username, method: ctx.method, why, failures: this.failures }, "SSH login refused");
      ctx.reject(methods);
      if (this.failures >= MAX_AUTH_FAILURES) this.onTooManyFailures();
    };
    // "none" is how every client asks which methods exist: not a failure.
    if (ctx.method === "none") return ctx.reject(methods);
    if (ctx.username !== access.user) return refuse("unknown user");

    switch (ctx.method) {
      case "publickey": {
        const key = access.keys.find((k) => k.blob.equals(ctx.key.data));
        if (!key) return refuse("key not authorized");
        // Without a signature the client only asks whether this key would do (no proof yet).
        if (!ctx.signature || !ctx.blob) return ctx.accept();
        if (!key.verify(ctx.blob, ctx.signature, ctx.hashAlgo)) return refuse("bad signature");
        this.log.info({ user: ctx.username, method: "publickey", key: key.fingerprint }, "SSH login accepted");
        return ctx.accept();
      }
      case "password": {
        const hash = access.passwordHash;
        if (hash === undefined) return refuse("password login not enabled");
        // ctx.password is never logged, not even on failure.
        verifyPassword(ctx.password, hash).then(
          (ok) => {
            if (!ok) return refuse("wrong password");
            this.log.info({ user: ctx.username, method: "password" }, "SSH login accepted");
            ctx.accept();
          },
          (err: unknown) => {
            this.log.error({ err }, "password hash unusable");
            refuse("password hash unusable");
          },
        );
        return;
      }
      default:
        return refuse("method not offered");
    }
  }
}
