/**
 * The daemon's sign-in, run as a short-lived child process (sign-in-process.ts): reads
 * `{ privateKey, fields }` as JSON on stdin, writes `{ message, signature }` or `{ error: { code, message } }`
 * as JSON on stdout. siwe and ethers load here, so they never stay in the long-running daemon's memory.
 */
import { text } from "node:stream/consumers";
import { Wallet } from "ethers";
import { createSignIn } from "../auth/siwe-signer.js";
import { SignInRequestError, type SignInFields } from "../auth/sign-in-request.js";

export interface SignInChildInput {
  privateKey: string;
  fields: SignInFields;
}

export type SignInChildOutput = { message: string; signature: string } | { error: { code: string; message: string } };

const reply = (out: SignInChildOutput): void => void process.stdout.write(JSON.stringify(out));

try {
  const { privateKey, fields } = JSON.parse(await text(process.stdin)) as SignInChildInput;
  reply(await createSignIn({ ...fields, signer: new Wallet(privateKey) }));
} catch (err) {
  // Only our own errors' messages: a library's could quote its input, and the input holds the key.
  reply({ error: err instanceof SignInRequestError ? { code: err.code, message: err.message } : { code: "signer_failed", message: `signing failed (${(err as Error).name})` } });
  process.exitCode = 1;
}
