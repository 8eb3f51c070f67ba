import type { PeerCertificate } from "node:tls";
import { describe, expect, it } from "vitest";
import {
  HUB_COMMON_NAME,
  HUB_URI,
  isHubPeer,
  nodeIdOfPeer,
  nodeUri,
  parseSubjectAltName,
} from "./identity.js";
import { walletOfPeer, walletUri } from "./wallet-identity.js";

// EIP-55's own test vector.
const CHECKSUMMED = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";

/** The two fields of tls.PeerCertificate these functions read, as node:tls fills them. */
function peer(cn: string | string[], san: string | undefined): PeerCertificate {
  return { subject: { CN: cn }, subjectaltname: san } as unknown as PeerCertificate;
}

describe("identity encoding", () => {
  it("writes node and wallet URIs", () => {
    expect(nodeUri("node-1")).toBe("urn:gpunode:node:node-1");
    expect(walletUri(CHECKSUMMED.toLowerCase())).toBe(`ethereum:${CHECKSUMMED}`);
  });

  it.each(["", "has space", "a/b", "-lead", "x".repeat(129), HUB_COMMON_NAME, "a,URI:urn:gpunode:hub"])(
    "refuses node id %j",
    (id) => {
      expect(() => nodeUri(id)).toThrow(expect.objectContaining({ code: "invalid_node_id" }));
    },
  );

  it("refuses a wallet that is not an address or has a wrong checksum", () => {
    expect(() => walletUri("0x1234")).toThrow(expect.objectContaining({ code: "invalid_wallet" }));
    const badChecksum = CHECKSUMMED.replace("aA", "Aa");
    expect(() => walletUri(badChecksum)).toThrow(expect.objectContaining({ code: "invalid_wallet" }));
  });
});

describe("reading identities from a TLS peer", () => {
  const nodeSan = `URI:urn:gpunode:node:abc, URI:ethereum:${CHECKSUMMED.toLowerCase()}`;

  it("reads the node id and checksummed wallet when CN and URI agree", () => {
    const p = peer("abc", nodeSan);
    expect(nodeIdOfPeer(p)).toBe("abc");
    expect(walletOfPeer(p)).toBe(CHECKSUMMED);
    expect(isHubPeer(p)).toBe(false);
  });

  it("finds no node id when CN and URI disagree, repeat, or are absent", () => {
    expect(nodeIdOfPeer(peer("other", nodeSan))).toBeUndefined();
    expect(nodeIdOfPeer(peer(["abc", "abc"], nodeSan))).toBeUndefined();
    expect(nodeIdOfPeer(peer("abc", "URI:urn:gpunode:node:abc, URI:urn:gpunode:node:xyz"))).toBeUndefined();
    expect(nodeIdOfPeer(peer("abc", undefined))).toBeUndefined();
    expect(nodeIdOfPeer(undefined)).toBeUndefined();
    expect(nodeIdOfPeer({} as PeerCertificate)).toBeUndefined();
  });

  it("recognises the hub only by CN and URI together", () => {
    expect(isHubPeer(peer(HUB_COMMON_NAME, `DNS:hub.example, URI:${HUB_URI}`))).toBe(true);
    expect(isHubPeer(peer(HUB_COMMON_NAME, "URI:urn:gpunode:node:rental-hub"))).toBe(false);
    expect(isHubPeer(peer("abc", `URI:${HUB_URI}`))).toBe(false);
  });

  it("is not fooled by a comma smuggled into a quoted SAN value", () => {
    // node:tls writes a URI holding ", " as a JSON string; a plain split would see a hub URI here.
    const san = String.raw`URI:"urn:x\u002c URI:urn:gpunode:hub", DNS:a.example, IP Address:10.0.0.1`;
    expect(parseSubjectAltName(san)).toEqual([
      { type: "URI", value: "urn:x, URI:urn:gpunode:hub" },
      { type: "DNS", value: "a.example" },
      { type: "IP Address", value: "10.0.0.1" },
    ]);
    expect(isHubPeer(peer(HUB_COMMON_NAME, san))).toBe(false);
  });
});
