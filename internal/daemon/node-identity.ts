import type { CertDir, NodeCredentials } from "../certs/cert-dir.js";
import { describeCertificate } from "../certs/certificate-info.js";

export interface Validity {
  notBefore: Date;
  notAfter: Date;
  serial: string;
}

/** The node's current credentials: read by the link and the API server, replaced by enrolment and rotation. */
export class NodeIdentity {
  private validity: Validity;

  constructor(
    private creds: NodeCredentials,
    private readonly certDir: CertDir,
  ) {
    this.validity = validityOf(creds);
  }

  get credentials(): NodeCredentials {
    return this.creds;
  }

  get nodeId(): string {
    return this.creds.nodeId;
  }

  get current(): Validity {
    return this.validity;
  }

  expired(now = Date.now()): boolean {
    return this.validity.notAfter.getTime() <= now;
  }

  /** Saves first: a replacement the disk does not hold would be lost at the next restart. */
  async replace(creds: NodeCredentials): Promise<void> {
    const validity = validityOf(creds);
    await this.certDir.save(creds);
    this.creds = creds;
    this.validity = validity;
  }
}

export function validityOf(creds: NodeCredentials): Validity {
  const info = describeCertificate(creds.clientCertPem);
  return { notBefore: info.notBefore, notAfter: info.notAfter, serial: info.serial };
}
