import { hkdfSync, type X509Certificate } from "node:crypto";
import { join } from "node:path";
import { CertificateError } from "./errors.js";
import { recoverFileSet, writeFileSet } from "./file-set.js";
import { certificateFingerprint } from "./fingerprint.js";
import { HUB_COMMON_NAME, HUB_URI, assertValidNodeId, nodeUri } from "./identity.js";
import { walletUri } from "./wallet-identity.js";
import { issueLeaf, randomSerial, type Issuer } from "./issue.js";
import { sanHosts } from "./san-hosts.js";
import { CLOCK_SKEW_MS } from "./validity.js";
import { generateP256Key, importP256PrivateKey, publicKeyDerOf, SIGNING_ALGORITHM } from "./keys.js";
import { verifiedCsrPublicKey } from "./csr.js";
import { hasPublicKey, messageOf, parseCertificate } from "./parse.js";
import { assertPrivateFile, readOptional } from "./read-file.js";
import { x509 } from "./x509-setup.js";

export interface AuthorityOptions {
  dir: string;
  commonName?: string;
  validityDays?: number;
}

export const defaultAuthorityOptions = { commonName: "rental-hub CA", validityDays: 3650 } as const;

export const CA_KEY_FILE = "ca.key";
export const CA_CERT_FILE = "ca.crt";
const DAY_MS = 86_400_000;

export interface SignedNodeCertificates {
  clientCertPem: string;
  serverCertPem: string;
  /** Of the client certificate: the one the hub sees on every call. */
  serial: string;
  notBefore: Date;
  notAfter: Date;
}

export interface HubIdentity {
  keyPem: string;
  serverCertPem: string;
  clientCertPem: string;
  notAfter: Date;
}

export interface NodeCertificateRequest {
  csrPem: string;
  nodeId: string;
  wallet: string;
  lifetimeMs: number;
  hosts: string[];
}

/** The hub's CA: the root every node and the hub itself trust, kept as ca.key + ca.crt in one folder. */
export class CertificateAuthority {
  readonly fingerprint: string;

  private constructor(
    readonly certPem: string,
    private readonly issuer: Issuer,
    /** Derived from the CA key: the same on every hub that shares the CA, and nothing without it. */
    private readonly secretSeed: Buffer,
  ) {
    this.fingerprint = certificateFingerprint(certPem);
  }

  /**
   * A 32-byte key for `purpose`, derived (HKDF-SHA256) from the CA's private key: hubs that share the
   * CA (replicas, a restarted hub) derive the same one, and it never needs storing anywhere.
   */
  deriveKey(purpose: string): Buffer {
    return Buffer.from(hkdfSync("sha256", this.secretSeed, "rental-hub", purpose, 32));
  }

  /**
   * Loads the CA, or creates it on first start. A folder holding only one of the two files is an
   * error: regenerating would silently orphan every certificate already issued.
   */
  static async openOrCreate(opts: AuthorityOptions): Promise<CertificateAuthority> {
    const keyPath = join(opts.dir, CA_KEY_FILE);
    const certPath = join(opts.dir, CA_CERT_FILE);
    await recoverFileSet(opts.dir);
    const [keyPem, certPem] = await Promise.all([readOptional(keyPath), readOptional(certPath)]);
    if (keyPem === undefined && certPem === undefined) return CertificateAuthority.create(opts);
    if (keyPem === undefined || certPem === undefined) {
      const [missing, present] = keyPem === undefined ? [keyPath, certPath] : [certPath, keyPath];
      throw new CertificateError(
        "incomplete_ca",
        `${missing} is missing but ${present} exists; restore the missing file, or move both away to create a new CA (every issued certificate then stops working)`,
      );
    }
    await assertPrivateFile(keyPath);
    return CertificateAuthority.load(keyPath, keyPem, certPath, certPem);
  }

  /**
   * Certifies a node's key. The CSR only proves the node holds the key; the identity (node id,
   * wallet, hosts) comes from the hub, whatever the CSR's subject and SANs claim.
   */
  async signNodeCertificates(req: NodeCertificateRequest): Promise<SignedNodeCertificates> {
    assertValidNodeId(req.nodeId);
    const wallet = walletUri(req.wallet);
    sanHosts(req.hosts); // refuse bad hosts before signing anything
    const validity = this.validity(req.lifetimeMs);
    const publicKey = await verifiedCsrPublicKey(req.csrPem);
    const common = { publicKey, commonName: req.nodeId, ...validity };
    const client = await issueLeaf(this.issuer, { ...common, uris: [nodeUri(req.nodeId), wallet], usage: "client" });
    const server = await issueLeaf(this.issuer, { ...common, uris: [nodeUri(req.nodeId)], hosts: req.hosts, usage: "server" });
    return {
      clientCertPem: client.toString("pem"),
      serverCertPem: server.toString("pem"),
      serial: client.serialNumber.toLowerCase(),
      notBefore: client.notBefore,
      notAfter: client.notAfter,
    };
  }

  /** A fresh hub key with a server certificate for `hosts` and a client certificate for calling nodes. */
  async issueHubIdentity(hosts: string[], lifetimeMs: number): Promise<HubIdentity> {
    sanHosts(hosts);
    const validity = this.validity(lifetimeMs);
    const key = await generateP256Key();
    const common = { publicKey: key.keys.publicKey, commonName: HUB_COMMON_NAME, uris: [HUB_URI], ...validity };
    const server = await issueLeaf(this.issuer, { ...common, hosts, usage: "server" });
    const client = await issueLeaf(this.issuer, { ...common, usage: "client" });
    return {
      keyPem: key.privateKeyPem,
      serverCertPem: server.toString("pem"),
      clientCertPem: client.toString("pem"),
      notAfter: client.notAfter,
    };
  }

  /** No certificate may outlive the CA: a chain with an expired root fails anyway, later and less clearly. */
  private validity(lifetimeMs: number): { notBefore: Date; notAfter: Date } {
    if (!Number.isFinite(lifetimeMs) || lifetimeMs <= 0) {
      throw new CertificateError("invalid_lifetime", `certificate lifetime must be a positive number of milliseconds, got ${lifetimeMs}`);
    }
    const now = Date.now();
    const caNotAfter = this.issuer.cert.notAfter.getTime();
    if (caNotAfter <= now) {
      throw new CertificateError("invalid_ca", `the CA certificate expired on ${this.issuer.cert.notAfter.toISOString()}`);
    }
    return { notBefore: new Date(now - CLOCK_SKEW_MS), notAfter: new Date(Math.min(now + lifetimeMs, caNotAfter)) };
  }

  private static async create(opts: AuthorityOptions): Promise<CertificateAuthority> {
    const commonName = opts.commonName ?? defaultAuthorityOptions.commonName;
    const validityDays = opts.validityDays ?? defaultAuthorityOptions.validityDays;
    if (!Number.isFinite(validityDays) || validityDays <= 0) {
      throw new CertificateError("invalid_lifetime", `CA validity must be a positive number of days, got ${validityDays}`);
    }
    const key = await generateP256Key();
    const now = Date.now();
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: randomSerial(),
      name: [{ CN: [commonName] }],
      notBefore: new Date(now - CLOCK_SKEW_MS),
      notAfter: new Date(now + validityDays * DAY_MS),
      keys: key.keys,
      signingAlgorithm: SIGNING_ALGORITHM,
      extensions: [
        // pathLength 0: this CA signs end-entity certificates only, never another CA.
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(key.keys.publicKey),
      ],
    });
    const certPem = cert.toString("pem");
    await writeFileSet(opts.dir, [
      { name: CA_KEY_FILE, content: key.privateKeyPem, mode: 0o600 },
      { name: CA_CERT_FILE, content: certPem, mode: 0o644 },
    ]);
    // Reload what was written: the signing key in memory is then the non-extractable import.
    return CertificateAuthority.load(join(opts.dir, CA_KEY_FILE), key.privateKeyPem, join(opts.dir, CA_CERT_FILE), certPem);
  }

  /** Every failure names the file, so an operator knows which one to restore. */
  private static async load(keyPath: string, keyPem: string, certPath: string, certPem: string): Promise<CertificateAuthority> {
    let cert: X509Certificate;
    let keys: Awaited<ReturnType<typeof importP256PrivateKey>>;
    try {
      cert = parseCertificate(certPem, certPath);
    } catch (err) {
      throw new CertificateError("invalid_ca", messageOf(err));
    }
    try {
      keys = await importP256PrivateKey(keyPem);
    } catch (err) {
      throw new CertificateError("invalid_ca", `${keyPath}: ${messageOf(err)}`);
    }
    if (!hasPublicKey(cert, publicKeyDerOf(keyPem))) {
      throw new CertificateError("invalid_ca", `${keyPath} is not the key of ${certPath}`);
    }
    if (!cert.ca) {
      throw new CertificateError("invalid_ca", `${certPath} is not a CA certificate (basicConstraints CA:TRUE missing)`);
    }
    // Issuing takes the subject from @peculiar/x509's view of the same certificate.
    return new CertificateAuthority(certPem, { cert: new x509.X509Certificate(certPem), signingKey: keys.privateKey }, Buffer.from(keyPem, "utf8"));
  }
}
