import { AppError } from "../errors/app-error.js";

/**
 * A release that cannot be published, fetched or installed, and why. The message is the whole
 * story (shown as is); `code` says which refusal it is, for scripts and tests.
 */
export class ReleaseError extends AppError {
  override readonly shownToUser = true;
  override readonly name = "ReleaseError";
  constructor(
    readonly code: ReleaseErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export type ReleaseErrorCode =
  /** The archive or the key is not what a release needs (not an npm pack tgz, not an Ed25519 key). */
  | "bad_archive"
  | "bad_key"
  /** The signature does not verify against the trusted key: another key signed it, or the manifest was changed. */
  | "bad_signature"
  /** The archive's bytes are not the ones the signed manifest names. */
  | "tampered"
  /** Not newer than the running version. */
  | "not_newer"
  /** No such release, or no recommended one. */
  | "unknown_release"
  /** The install root is not laid out for updates, or the new version cannot run offline there. */
  | "install"
  /** The new version did not reach the hub in time and the previous one was put back. */
  | "rolled_back";
