/** What a database URL may show in logs and errors: everything but its secrets. */

const REDACTED = "***";
/** Query parameters node-postgres reads as secrets (it copies every parameter into its config). */
const SECRET_PARAMS = ["password", "sslpassword", "sslkey"];

/**
 * The URL with its password (userinfo or `?password=`) replaced by `***`. A string that does
 * not parse as a URL is not echoed at all: it may be a password pasted into the wrong flag.
 */
export function redactDatabaseUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return "<unparsable database URL>";
  }
  if (url.password !== "") url.password = REDACTED;
  for (const name of SECRET_PARAMS) {
    if (url.searchParams.has(name)) url.searchParams.set(name, REDACTED);
  }
  return url.toString();
}
