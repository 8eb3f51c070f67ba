import { helperScript, runHelperProcess } from "../helper-process/run.js";

export interface KeyAndCsr {
  /** PKCS#8 PEM of a new P-256 key: it stays on this machine. */
  keyPem: string;
  csrPem: string;
}

/** A new P-256 key and a CSR for it, made by csr-child.ts in its own process. */
export function newKeyAndCsr(commonName: string, signal?: AbortSignal): Promise<KeyAndCsr> {
  return runHelperProcess<KeyAndCsr>(helperScript(import.meta.url, "csr-child.js"), { commonName }, { what: "the CSR maker", signal });
}
