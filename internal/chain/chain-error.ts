import { AppError } from "../errors/app-error.js";

/** Something about the chain or the escrow contract, said so that an operator or a renter can act on it. */
export class ChainError extends AppError {
  override readonly name = "ChainError";
  override readonly shownToUser = true;
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}
