/**
 * Keccak-256 (the pre-standard padding Ethereum uses, not SHA3-256), for wallet addresses only.
 *
 * Why it is here: node:crypto has no Keccak on the OpenSSL of Node 20, and the daemon derives its
 * wallet address at every start; doing that with ethers keeps ~10 MB of modules resident in a
 * daemon that signs nothing until its certificate needs renewing (see bench/daemon-memory.ts).
 * Speed does not matter (a few hashes per start), so it is the plain textbook permutation on
 * BigInt lanes, with the round constants and rotation offsets generated as FIPS 202 defines them
 * rather than typed in. keccak.test.ts checks it against ethers' keccak256.
 */

const MASK = (1n << 64n) - 1n;
/** Bytes absorbed per permutation for a 256-bit output: (1600 - 2 * 256) / 8. */
const RATE = 136;

/** r[x + 5y]: FIPS 202 3.2.2, (t+1)(t+2)/2 mod 64 along the walk (x, y) -> (y, 2x + 3y). */
const ROTATION: bigint[] = (() => {
  const r = new Array<bigint>(25).fill(0n);
  let x = 1;
  let y = 0;
  for (let t = 0; t < 24; t++) {
    r[x + 5 * y] = BigInt((((t + 1) * (t + 2)) / 2) % 64);
    [x, y] = [y, (2 * x + 3 * y) % 5];
  }
  return r;
})();

/** The 24 iota constants from the reference code's LFSR (x^8 + x^6 + x^5 + x^4 + 1). */
const ROUND_CONSTANTS: bigint[] = (() => {
  const out: bigint[] = [];
  let lfsr = 1;
  for (let round = 0; round < 24; round++) {
    let rc = 0n;
    for (let j = 0; j < 7; j++) {
      if (lfsr & 1) rc ^= 1n << BigInt((1 << j) - 1);
      lfsr = lfsr & 0x80 ? ((lfsr << 1) ^ 0x71) & 0xff : (lfsr << 1) & 0xff;
    }
    out.push(rc);
  }
  return out;
})();

const rotl = (v: bigint, n: bigint): bigint => (n === 0n ? v : ((v << n) | (v >> (64n - n))) & MASK);
const at = (lanes: bigint[], i: number): bigint => lanes[i] ?? 0n;

function keccakF1600(a: bigint[]): void {
  const c = new Array<bigint>(5);
  const b = new Array<bigint>(25);
  for (let round = 0; round < 24; round++) {
    // theta
    for (let x = 0; x < 5; x++) c[x] = at(a, x) ^ at(a, x + 5) ^ at(a, x + 10) ^ at(a, x + 15) ^ at(a, x + 20);
    for (let x = 0; x < 5; x++) {
      const d = at(c, (x + 4) % 5) ^ rotl(at(c, (x + 1) % 5), 1n);
      for (let y = 0; y < 25; y += 5) a[x + y] = at(a, x + y) ^ d;
    }
    // rho and pi: B[y, 2x + 3y] = rot(A[x, y], r[x, y])
    for (let x = 0; x < 5; x++) {
      for (let y = 0; y < 5; y++) b[y + 5 * ((2 * x + 3 * y) % 5)] = rotl(at(a, x + 5 * y), at(ROTATION, x + 5 * y));
    }
    // chi
    for (let y = 0; y < 25; y += 5) {
      for (let x = 0; x < 5; x++) a[x + y] = at(b, x + y) ^ (~at(b, ((x + 1) % 5) + y) & MASK & at(b, ((x + 2) % 5) + y));
    }
    // iota
    a[0] = at(a, 0) ^ at(ROUND_CONSTANTS, round);
  }
}

export function keccak256(data: Uint8Array): Uint8Array {
  // Keccak padding: 0x01 after the message, 0x80 in the last byte of the block (0x81 when they meet).
  const padded = new Uint8Array((Math.floor(data.length / RATE) + 1) * RATE);
  padded.set(data);
  padded[data.length] = 0x01;
  padded[padded.length - 1] = (padded[padded.length - 1] ?? 0) | 0x80;
  const view = new DataView(padded.buffer);
  const state = new Array<bigint>(25).fill(0n);
  for (let offset = 0; offset < padded.length; offset += RATE) {
    for (let i = 0; i < RATE / 8; i++) state[i] = at(state, i) ^ view.getBigUint64(offset + 8 * i, true);
    keccakF1600(state);
  }
  const out = new Uint8Array(32);
  const outView = new DataView(out.buffer);
  for (let i = 0; i < 4; i++) outView.setBigUint64(8 * i, at(state, i), true);
  return out;
}
