/**
 * The daemon's sign-in in a short-lived helper process (sign-in-process.ts): siwe builds the message
 * and ethers signs it here, so neither stays in the long-running daemon's memory.
 */
import { Wallet } from "ethers";
import { createSignIn } from "../auth/siwe-signer.js";
import type { SignedSignIn, SignInFields } from "../auth/sign-in-request.js";
import { serveHelperRequest } from "../helper-process/serve.js";

export interface SignInChildInput {
  privateKey: string;
  fields: SignInFields;
}

await serveHelperRequest<SignInChildInput, SignedSignIn>(({ privateKey, fields }) => createSignIn({ ...fields, signer: new Wallet(privateKey) }));
