import { createPrivateKey, createPublicKey, webcrypto, type KeyObject } from "node:crypto";
import { CertificateError } from "./errors.js";

type CryptoKeyPair = webcrypto.CryptoKeyPair;

export interface NodeKey {
  /** PKCS#8 PEM, the form node:tls and the key files take. */
  privateKeyPem: string;
  keys: CryptoKeyPair;
}

export const P256_ALGORITHM = { name: "ECDSA", namedCurve: "P-256" } as const;
/** Every signature we make (CSRs, certificates) is ECDSA over SHA-256. */
export const SIGNING_ALGORITHM = { name: "ECDSA", hash: "SHA-256" } as const;

export async function generateP256Key(): Promise<NodeKey> {
  const keys = await webcrypto.subtle.generateKey(P256_ALGORITHM, true, ["sign", "verify"]);
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey));
  return { privateKeyPem: toPem("PRIVATE KEY", pkcs8), keys };
}

/**
 * Accepts PKCS#8 or SEC1 ("EC PRIVATE KEY") PEM. The public half is derived from the private key,
 * so a key file alone is enough to sign. The imported private key is not extractable: the PEM
 * the caller already holds is the only copy we hand out.
 */
export async function importP256PrivateKey(pem: string): Promise<CryptoKeyPair> {
  const key = parseP256PrivateKey(pem);
  const pkcs8 = key.export({ type: "pkcs8", format: "der" });
  const spki = createPublicKey(key).export({ type: "spki", format: "der" });
  const [privateKey, publicKey] = await Promise.all([
    webcrypto.subtle.importKey("pkcs8", pkcs8, P256_ALGORITHM, false, ["sign"]),
    webcrypto.subtle.importKey("spki", spki, P256_ALGORITHM, true, ["verify"]),
  ]);
  return { privateKey, publicKey };
}

/** DER SubjectPublicKeyInfo of a private key's public half: what certificates must carry. */
export function publicKeyDerOf(privateKeyPem: string): Buffer {
  return createPublicKey(parseP256PrivateKey(privateKeyPem)).export({ type: "spki", format: "der" });
}

function parseP256PrivateKey(pem: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: "pem" });
  } catch {
    // The library's message is dropped on purpose: we never risk echoing key text.
    throw new CertificateError("invalid_key", "not a PEM private key (expected PKCS#8 or EC PRIVATE KEY)");
  }
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (key.asymmetricKeyType !== "ec" || curve !== "prime256v1") {
    const what = key.asymmetricKeyType === "ec" ? `EC curve ${curve ?? "unknown"}` : (key.asymmetricKeyType ?? "unknown");
    throw new CertificateError("unsupported_key", `private key is ${what}; only ECDSA P-256 is supported`);
  }
  return key;
}

export function toPem(label: string, der: Uint8Array): string {
  const lines = Buffer.from(der).toString("base64").match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}
