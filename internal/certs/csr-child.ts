/**
 * A fresh node key and its CSR, made in a short-lived helper process (csr-process.ts) so the daemon
 * never loads @peculiar/x509, which writes the CSR. Answers `{ keyPem, csrPem }`.
 */
import { serveHelperRequest } from "../helper-process/serve.js";
import { createCsr } from "./csr.js";
import { generateP256Key } from "./keys.js";
import type { KeyAndCsr } from "./csr-process.js";

await serveHelperRequest<{ commonName: string }, KeyAndCsr>(async ({ commonName }) => {
  const key = await generateP256Key();
  return { keyPem: key.privateKeyPem, csrPem: await createCsr(key, commonName) };
});
