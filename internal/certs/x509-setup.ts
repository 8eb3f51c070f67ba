// @peculiar/x509 needs Reflect metadata and a WebCrypto provider before its first use. Every module
// in this folder takes `x509` from here, so the setup runs once and never depends on import order.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(globalThis.crypto);

export { x509 };
