import type { SshAccess } from "./ssh-access.js";

/** The gateway's host key as renters pin it. */
export interface HostKeyPin {
  /** SHA256:… as OpenSSH prints it. */
  fingerprint: string;
  /** "ssh-ed25519 AAAA…": the key field of a known_hosts line. */
  publicKey: string;
}

/**
 * Rentals' SSH listeners as the rental service uses them: in the daemon's own process (SshGateway,
 * -ssh-gateway embedded) or in node-ssh-gateway, which a daemon restart does not end (GatewayClient,
 * -ssh-gateway external).
 */
export interface SshListeners {
  /** Idempotent by rental id: a second call keeps the port and applies the new access to later logins. */
  open(access: SshAccess, preferredPort?: number): Promise<{ port: number }>;
  /** Closes the rental's listener and its sessions; an unknown rental succeeds. */
  close(rentalId: string): Promise<void>;
  hostKeyPin(): Promise<HostKeyPin>;
}
