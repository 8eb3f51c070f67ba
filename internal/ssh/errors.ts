import { AppError } from "../errors/app-error.js";
export type SshGatewayErrorCode =
  /** A port range that is not "first-last" within 1-65535. */
  | "invalid_port_range"
  /** Every port of the range is in use on the host. */
  | "ports_exhausted"
  /** An SshAccess the gateway cannot serve (bad key line, malformed password hash, no login name). */
  | "invalid_access"
  /** The host key file cannot be read, parsed or created. */
  | "host_key"
  /** No OpenSSH sftp-server on the host, or its bundle cannot be built or read. */
  | "sftp_helper"
  /** The gateway was closed while the call was in progress. */
  | "closed"
  /** -ssh-gateway external: node-ssh-gateway does not answer on its socket. */
  | "gateway_unavailable"
  /** node-daemon and node-ssh-gateway speak different versions of their protocol. */
  | "protocol"
  /** node-ssh-gateway failed in a way it did not expect (its journal has the stack). */
  | "internal";

/** Callers branch on `code`; messages are for operators and never carry a password. */
export class SshGatewayError extends AppError {
  override readonly name = "SshGatewayError";

  constructor(
    readonly code: SshGatewayErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
