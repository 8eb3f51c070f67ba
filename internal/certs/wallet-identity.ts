import { getAddress } from "ethers";
import { CertificateError } from "./errors.js";
import { type Peer, peerUris } from "./identity.js";

/**
 * The wallet a node certificate speaks for, as an ethereum: URI SAN. Apart from identity.ts
 * because the EIP-55 checksum loads ethers, which the daemon (reading its peers' names) does not need.
 */
const WALLET_URI_PREFIX = "ethereum:";

/** EIP-55 checksummed, so one wallet always has exactly one URI. */
export function walletUri(address: string): string {
  return WALLET_URI_PREFIX + checksummed(address);
}

export function checksummed(address: string): string {
  try {
    return getAddress(address);
  } catch {
    throw new CertificateError("invalid_wallet", `${JSON.stringify(address.slice(0, 60))} is not an Ethereum address`);
  }
}

/** The checksummed wallet address a node certificate was issued for. */
export function walletOfPeer(peer: Peer): string | undefined {
  const uris = peerUris(peer).filter((u) => u.startsWith(WALLET_URI_PREFIX));
  const [uri] = uris;
  if (uris.length !== 1 || uri === undefined) return undefined;
  try {
    return getAddress(uri.slice(WALLET_URI_PREFIX.length));
  } catch {
    return undefined;
  }
}
