import { join } from "node:path";
import { CertificateError } from "./errors.js";
import { findCredentialProblem, invalidCredentials, NODE_FILES, type NodeCredentials } from "./credentials.js";
import { recoverFileSet, writeFileSet } from "./file-set.js";
import { parseCertificate } from "./parse.js";
import { assertPrivateFile, readOptional } from "./read-file.js";

export type { NodeCredentials } from "./credentials.js";

const ALL_FILES = Object.keys(NODE_FILES) as (keyof NodeCredentials)[];
/** ca.crt alone is the state between trusting the hub and enrolling: no credentials yet. */
const NODE_OWN_FILES = ALL_FILES.filter((f) => f !== "caCertPem");

/** The daemon's certificate folder: its key, its two certificates, its node id and the hub's CA. */
export class CertDir {
  constructor(readonly dir: string) {}

  /** The hub CA the daemon trusts; saved on its own at first contact, before any credentials. */
  async loadCa(): Promise<string | undefined> {
    return this.read("caCertPem");
  }

  async saveCa(pem: string): Promise<void> {
    parseCertificate(pem, "CA certificate");
    await writeFileSet(this.dir, [{ name: NODE_FILES.caCertPem, content: pem, mode: 0o644 }]);
  }

  async loadNodeId(): Promise<string | undefined> {
    const text = (await this.read("nodeId"))?.trim();
    return text === "" ? undefined : text;
  }

  async load(): Promise<NodeCredentials | undefined> {
    await recoverFileSet(this.dir);
    const found: Partial<Record<keyof NodeCredentials, string>> = {};
    for (const field of ALL_FILES) found[field] = await readOptional(this.path(field));
    if (NODE_OWN_FILES.every((f) => found[f] === undefined)) return undefined;
    const missing = ALL_FILES.find((f) => found[f] === undefined);
    if (missing !== undefined) {
      throw this.corrupt(missing, "missing while the other credential files exist; enroll the node again");
    }
    await assertPrivateFile(this.path("keyPem"));
    const creds: NodeCredentials = {
      nodeId: (found.nodeId ?? "").trim(),
      keyPem: found.keyPem ?? "",
      clientCertPem: found.clientCertPem ?? "",
      serverCertPem: found.serverCertPem ?? "",
      caCertPem: found.caCertPem ?? "",
    };
    const problem = findCredentialProblem(creds);
    if (problem) throw new CertificateError("corrupt_cert_dir", `${join(this.dir, problem.file)}: ${problem.message}`);
    return creds;
  }

  /** Refuses a set that does not belong together, then replaces all files as one unit. */
  async save(creds: NodeCredentials): Promise<void> {
    const problem = findCredentialProblem(creds);
    if (problem) throw invalidCredentials(problem);
    await writeFileSet(this.dir, [
      { name: NODE_FILES.keyPem, content: creds.keyPem, mode: 0o600 },
      { name: NODE_FILES.nodeId, content: `${creds.nodeId}\n`, mode: 0o644 },
      { name: NODE_FILES.clientCertPem, content: creds.clientCertPem, mode: 0o644 },
      { name: NODE_FILES.serverCertPem, content: creds.serverCertPem, mode: 0o644 },
      { name: NODE_FILES.caCertPem, content: creds.caCertPem, mode: 0o644 },
    ]);
  }

  private async read(field: keyof NodeCredentials): Promise<string | undefined> {
    await recoverFileSet(this.dir);
    return readOptional(this.path(field));
  }

  private path(field: keyof NodeCredentials): string {
    return join(this.dir, NODE_FILES[field]);
  }

  private corrupt(field: keyof NodeCredentials, message: string): CertificateError {
    return new CertificateError("corrupt_cert_dir", `${this.path(field)} is ${message}`);
  }
}
