export interface HostPort {
  host: string;
  port: number;
}

/** Parses "host:port", "[::1]:port" or ":port" (all interfaces); the port must be given. */
export function parseHostPort(text: string, what: string): HostPort {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text.trim());
  const port = Number(m?.[3]);
  if (!m || !Number.isInteger(port) || port > 65535) {
    throw new Error(`${what} "${text}" is not host:port (e.g. hub.example.com:8443, [::1]:8443, :8443)`);
  }
  return { host: m[1] ?? m[2] ?? "", port };
}

/** The form gRPC and URLs accept: IPv6 literals in brackets. */
export function formatHostPort({ host, port }: HostPort): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
