import { createHash } from "node:crypto";
import { readFile, realpath } from "node:fs/promises";
import { hostname } from "node:os";

/**
 * Tells this machine (and cert dir) apart from the wallet's other machines without revealing
 * /etc/machine-id itself: a re-registration after a lost certificate keeps its node id, while a
 * second machine of the same wallet becomes a second node.
 */
export async function machineFingerprint(certDir: string): Promise<string> {
  const machine = (await readFile("/etc/machine-id", "utf8").catch(() => hostname())).trim();
  const dir = await realpath(certDir).catch(() => certDir);
  return createHash("sha256").update(`gpunode-machine\0${machine}\0${dir}`).digest("hex");
}
