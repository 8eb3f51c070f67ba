// The EIP-4361 (Sign-In with Ethereum) text, built exactly as the hub's verifier parses it.
import { keccak256 } from "./keccak.js";

const toHex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

/** EIP-55 mixed-case checksum form of a 0x-prefixed 20-byte address (wallets may return it lower-case). */
export function checksumAddress(address) {
  if (!/^0x[0-9a-fA-F]{40}$/.test(address)) throw new Error(`not an Ethereum address: ${address}`);
  const lower = address.slice(2).toLowerCase();
  const hash = toHex(keccak256(new TextEncoder().encode(lower)));
  let out = "0x";
  for (let i = 0; i < 40; i++) out += parseInt(hash[i], 16) >= 8 ? lower[i].toUpperCase() : lower[i];
  return out;
}

/**
 * @param {{domain: string, address: string, statement?: string, uri: string, chainId: number,
 *          nonce: string, issuedAt: string, expirationTime?: string}} f
 */
export function siweMessage(f) {
  const lines = [`${f.domain} wants you to sign in with your Ethereum account:`, checksumAddress(f.address), ""];
  if (f.statement) lines.push(f.statement, "");
  lines.push(`URI: ${f.uri}`, "Version: 1", `Chain ID: ${f.chainId}`, `Nonce: ${f.nonce}`, `Issued At: ${f.issuedAt}`);
  if (f.expirationTime) lines.push(`Expiration Time: ${f.expirationTime}`);
  return lines.join("\n");
}

/** What `personal_sign` takes: the message's UTF-8 bytes as 0x-hex. */
export function utf8Hex(text) {
  return `0x${toHex(new TextEncoder().encode(text))}`;
}
