import type { IncomingMessage, ServerResponse } from "node:http";
import { SESSION_COOKIE } from "../../hubapi/common.js";

/** Browsers keep the sign-in as a cookie JavaScript cannot read; API clients send the same token as a bearer. */
export function setSessionCookie(res: ServerResponse, token: string, maxAgeSeconds: number): void {
  res.setHeader("set-cookie", `${SESSION_COOKIE}=${token}; Path=/; Max-Age=${maxAgeSeconds}; Secure; HttpOnly; SameSite=Lax`);
}

export function clearSessionCookie(res: ServerResponse): void {
  res.setHeader("set-cookie", `${SESSION_COOKIE}=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Lax`);
}

/** The session token from the Authorization header, else from the cookie. */
export function sessionToken(req: IncomingMessage): string | undefined {
  const bearer = /^Bearer (\S+)$/.exec(req.headers.authorization ?? "")?.[1];
  if (bearer) return bearer;
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const [name, ...value] = part.trim().split("=");
    if (name === SESSION_COOKIE) return value.join("=") || undefined;
  }
  return undefined;
}

