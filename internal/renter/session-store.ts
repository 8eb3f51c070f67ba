import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { CliError } from "./cli-error.js";
import { useCurrency } from "./output.js";

/** What `gpu-rent login` keeps: the hub, the CA it pinned, and the session token. */
const sessionSchema = z.object({
  hubHttp: z.string(),
  caCertPem: z.string(),
  caFingerprint: z.string(),
  address: z.string(),
  token: z.string(),
  expiresAt: z.string(),
  /** Where login read the wallet from (paths only, never the key): rent, withdraw and topup pay with it. */
  keyFile: z.string().optional(),
  keystore: z.string().optional(),
  /** What the hub's amounts are in, when it takes payments (its chain's currency, or its escrow's token). */
  currency: z.object({ symbol: z.string(), decimals: z.number().int().min(0).max(77) }).optional(),
});
export type Session = z.infer<typeof sessionSchema>;

/** $GPU_RENT_CONFIG_DIR, else $XDG_CONFIG_HOME/gpu-rent, else ~/.config/gpu-rent. */
export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.GPU_RENT_CONFIG_DIR || join(env.XDG_CONFIG_HOME || join(homedir(), ".config"), "gpu-rent");
}

/** The session file (0600 in a 0700 folder): the token in it is as good as the wallet until it expires. */
export class SessionStore {
  readonly file: string;

  constructor(readonly dir: string = configDir()) {
    this.file = join(dir, "session.json");
  }

  async load(): Promise<Session | undefined> {
    let text: string;
    try {
      text = await readFile(this.file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
    const parsed = sessionSchema.safeParse(JSON.parse(text));
    if (!parsed.success) throw new CliError("session_unreadable", `${this.file} is not a gpu-rent session; run gpu-rent login again`);
    return parsed.data;
  }

  /** The session, or a clear refusal that says how to get one. */
  async require(): Promise<Session> {
    const s = await this.load();
    if (!s) throw new CliError("not_logged_in", "not logged in: run gpu-rent login --hub-http https://HUB:8080 --key-file KEY (or --keystore FILE)");
    if (Date.parse(s.expiresAt) <= Date.now()) throw new CliError("session_expired", `the session for ${s.address} expired at ${s.expiresAt}: run gpu-rent login again`);
    if (s.currency) useCurrency(s.currency);
    return s;
  }

  async save(s: Session): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.tmp`;
    await writeFile(tmp, `${JSON.stringify(s, null, 2)}\n`, { mode: 0o600 });
    await rename(tmp, this.file);
  }

  async remove(): Promise<void> {
    await rm(this.file, { force: true });
  }
}
