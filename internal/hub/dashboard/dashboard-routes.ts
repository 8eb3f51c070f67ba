import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { extname, join } from "node:path";
import type { IncomingMessage, ServerResponse } from "node:http";
import { signOut } from "../../hubapi/auth.js";
import { dashboard, dashboardFile } from "../../hubapi/hub.js";
import { notFound } from "../http/api-error.js";
import type { Router } from "../http/router.js";
import { clearSessionCookie, sessionToken } from "../http/session-cookie.js";
import { packageFile } from "./package-files.js";

/** The page loads only its own files and talks only to its own origin; no inline script or style. */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
};

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

/**
 * Files the page loads from npm packages, served as /dashboard/{name} from the installed package
 * (node_modules, a dependency): the charts' library, uPlot, as an ES module and its style sheet.
 */
const PACKAGE_ASSETS: Record<string, string> = {
  "uPlot.esm.js": "uplot/dist/uPlot.esm.js",
  "uPlot.min.css": "uplot/dist/uPlot.min.css",
};

/** Reads internal/hub/dashboard/static/ and the package files once, at start: a missing file fails the hub's start, not a later request. */
export function loadDashboardAssets(dir = packageFile(import.meta.url, join("internal", "hub", "dashboard", "static"))): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  const add = (name: string, file: string): void => {
    const type = TYPES[extname(name)];
    if (!type) return;
    const body = readFileSync(file);
    assets.set(name, { body, type, etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"` });
  };
  for (const name of readdirSync(dir)) add(name, join(dir, name));
  const require = createRequire(import.meta.url);
  for (const [name, specifier] of Object.entries(PACKAGE_ASSETS)) add(name, require.resolve(specifier));
  if (!assets.has("index.html")) throw new Error(`dashboard assets incomplete: no index.html in ${dir}`);
  return assets;
}

export interface DashboardRouteDeps {
  /** Ends the session on every hub (the token is refused, not just forgotten). */
  signOut: (token: string) => Promise<void>;
}

/** GET / (the page), GET /dashboard/{file} (its module and style sheet), POST /v1/auth/signout. */
export function addDashboardRoutes(router: Router, deps: DashboardRouteDeps, assets = loadDashboardAssets()): void {
  router.on(dashboard, async ({ req, res }) => serve(req, res, assets.get("index.html")));
  router.on(dashboardFile, async ({ req, res, params }) => {
    const asset = params.file === "index.html" ? undefined : assets.get(params.file);
    if (!asset) throw notFound("not_found", `no dashboard file ${params.file}`);
    return serve(req, res, asset);
  });

  // The session cookie is HttpOnly, so only the hub can end it: the token is revoked, not just forgotten.
  router.on(signOut, async ({ req, res }) => {
    const token = sessionToken(req);
    if (token) await deps.signOut(token);
    clearSessionCookie(res);
    res.writeHead(204);
    res.end();
    return undefined;
  });
}

function serve(req: IncomingMessage, res: ServerResponse, asset: Asset | undefined): undefined {
  if (!asset) throw notFound("not_found", "dashboard page missing");
  const headers = {
    "content-type": asset.type,
    "cache-control": "no-cache",
    etag: asset.etag,
    "content-security-policy": DASHBOARD_CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
  };
  if (req.headers["if-none-match"] === asset.etag) {
    res.writeHead(304, headers);
    res.end();
    return undefined;
  }
  res.writeHead(200, { ...headers, "content-length": asset.body.length });
  res.end(asset.body);
  return undefined;
}
