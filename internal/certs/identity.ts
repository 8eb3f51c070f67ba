import type { PeerCertificate } from "node:tls";
import { CertificateError } from "./errors.js";

/**
 * Who a certificate speaks for. The hub writes these names when it signs; both ends read them back
 * from the TLS peer, so the encoding lives in one place. The wallet's name, which needs ethers for
 * its checksum, is in wallet-identity.ts: the daemon reads peers' names without loading ethers.
 */
export const HUB_COMMON_NAME = "rental-hub";
export const HUB_URI = "urn:gpunode:hub";
const NODE_URI_PREFIX = "urn:gpunode:node:";

/** Node ids go into CNs and URIs: a plain charset keeps them unambiguous in both. */
const NODE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function isValidNodeId(nodeId: string): boolean {
  return NODE_ID_PATTERN.test(nodeId) && nodeId !== HUB_COMMON_NAME;
}

export function assertValidNodeId(nodeId: string): void {
  if (!isValidNodeId(nodeId)) {
    throw new CertificateError(
      "invalid_node_id",
      `node id ${JSON.stringify(nodeId.slice(0, 140))} is invalid: use 1-128 of A-Z a-z 0-9 . _ - starting with a letter or digit, and not "${HUB_COMMON_NAME}"`,
    );
  }
}

export function nodeUri(nodeId: string): string {
  assertValidNodeId(nodeId);
  return NODE_URI_PREFIX + nodeId;
}

export type Peer = PeerCertificate | undefined;

/** The node id of a node's certificate: the CN must match the one node URI SAN. */
export function nodeIdOfPeer(peer: Peer): string | undefined {
  const uris = peerUris(peer).filter((u) => u.startsWith(NODE_URI_PREFIX));
  const [uri] = uris;
  if (uris.length !== 1 || uri === undefined) return undefined;
  const nodeId = uri.slice(NODE_URI_PREFIX.length);
  return isValidNodeId(nodeId) && commonNameOf(peer) === nodeId ? nodeId : undefined;
}

export function isHubPeer(peer: Peer): boolean {
  return commonNameOf(peer) === HUB_COMMON_NAME && peerUris(peer).includes(HUB_URI);
}

/** Node gives an array when a subject repeats CN; such a subject names nobody. */
export function commonNameOf(peer: Peer): string | undefined {
  const cn: unknown = peer?.subject?.CN;
  return typeof cn === "string" ? cn : undefined;
}

/** The URI names of a TLS peer's subjectAltName. */
export function peerUris(peer: Peer): string[] {
  const san = peer?.subjectaltname;
  if (typeof san !== "string") return [];
  return parseSubjectAltName(san)
    .filter((e) => e.type === "URI")
    .map((e) => e.value);
}

/**
 * Parses node:tls's `subjectaltname` ("URI:a, DNS:b, IP Address:c"). Node writes a value holding
 * a comma or quote as a JSON string (URI:"a\u002cb"), so a naive split on ", " could be fooled.
 */
export function parseSubjectAltName(san: string): { type: string; value: string }[] {
  const entries: { type: string; value: string }[] = [];
  const entry = /([A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)(?:, |$)/y;
  while (entry.lastIndex < san.length) {
    const m = entry.exec(san);
    if (!m || m[1] === undefined || m[2] === undefined) return []; // unknown shape: trust nothing in it
    let value = m[2];
    if (value.startsWith('"')) {
      try {
        value = JSON.parse(value) as string;
      } catch {
        return [];
      }
    }
    entries.push({ type: m[1], value });
  }
  return entries;
}
