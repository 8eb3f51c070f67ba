import { existsSync, statSync } from "node:fs";
import { copyFile, mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, posix, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { run } from "./unit-file.js";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const DEPLOY = join(REPO, "deploy");
const DOCKERFILES = { hub: "Dockerfile.hub", daemon: "Dockerfile.daemon" } as const;
const BINS = { hub: "rental-hub", daemon: "node-daemon" } as const;
type Image = keyof typeof DOCKERFILES;

interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  from: string;
  name?: string;
  workdir: string;
  instructions: Instruction[];
}

/** Dockerfile instructions by stage: comments dropped, backslash continuations joined. */
function parseDockerfile(text: string): Stage[] {
  const logical: string[] = [];
  let acc = "";
  for (const raw of text.split("\n")) {
    if (/^\s*#/.test(raw)) continue;
    const cont = /\\\s*$/.test(raw);
    acc += `${cont ? raw.replace(/\\\s*$/, "") : raw} `;
    if (!cont) {
      if (acc.trim()) logical.push(acc.trim());
      acc = "";
    }
  }
  const stages: Stage[] = [];
  for (const line of logical) {
    const m = /^(\w+)\s+(.*)$/s.exec(line);
    if (!m) throw new Error(`not an instruction: ${line}`);
    const op = (m[1] ?? "").toUpperCase();
    const args = (m[2] ?? "").trim();
    if (op === "FROM") {
      const [from = "", as, name] = args.split(/\s+/);
      stages.push({ from, name: as?.toUpperCase() === "AS" ? name : undefined, workdir: "/", instructions: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (!stage) throw new Error(`${op} before FROM`);
    if (op === "WORKDIR") stage.workdir = posix.resolve(stage.workdir, args);
    stage.instructions.push({ op, args });
  }
  return stages;
}

/** COPY's flags, sources and destination (shell form; none of ours has spaces in paths). */
function copyParts(args: string): { from?: string; sources: string[]; dest: string } {
  const words = args.split(/\s+/);
  const flags = words.filter((w) => w.startsWith("--"));
  const rest = words.filter((w) => !w.startsWith("--"));
  const from = flags.find((f) => f.startsWith("--from="))?.slice("--from=".length);
  return { from, sources: rest.slice(0, -1), dest: rest.at(-1) ?? "" };
}

/** The exec-form (JSON) argument list of ENTRYPOINT/CMD/HEALTHCHECK CMD. */
function execForm(args: string): string[] {
  const parsed: unknown = JSON.parse(args);
  if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === "string")) throw new Error(`not exec form: ${args}`);
  return parsed as string[];
}

/** compose.yaml as JSON, through Python's yaml (Debian: python3-yaml); a missing parser fails, never skips. */
async function loadCompose(): Promise<Record<string, unknown>> {
  const script = "import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)";
  let r: Awaited<ReturnType<typeof run>>;
  try {
    r = await run("python3", ["-c", script, join(DEPLOY, "compose.yaml")]);
  } catch (err) {
    throw new Error("python3 not found: install Debian's python3 and python3-yaml", { cause: err });
  }
  if (/No module named '?yaml/.test(r.stderr)) throw new Error("Python's yaml module is missing: apt-get install -y python3-yaml");
  expect(r.code, `compose.yaml does not parse:\n${r.stderr}`).toBe(0);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

const obj = (v: unknown, what: string): Record<string, unknown> => {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error(`${what} is not a mapping`);
  return v as Record<string, unknown>;
};

describe("container deploy files", () => {
  const stages = {} as Record<Image, Stage[]>;
  const texts = {} as Record<Image, string>;
  let bin: Record<string, string>;

  beforeAll(async () => {
    for (const [image, file] of Object.entries(DOCKERFILES) as [Image, string][]) {
      texts[image] = await readFile(join(DEPLOY, file), "utf8");
      stages[image] = parseDockerfile(texts[image]);
    }
    bin = (JSON.parse(await readFile(join(REPO, "package.json"), "utf8")) as { bin: Record<string, string> }).bin;
  });

  it("build in two stages on node:20-bookworm-slim, npm ci then a runtime with dist/ and production node_modules", () => {
    for (const image of Object.keys(DOCKERFILES) as Image[]) {
      const s = stages[image];
      expect(s.map((x) => x.from), image).toEqual(["node:20-bookworm-slim", "node:20-bookworm-slim"]);
      expect(s[0]?.name, image).toBe("build");
      const runs = s[0]?.instructions.filter((i) => i.op === "RUN").map((i) => i.args) ?? [];
      expect(runs.some((r) => /\bnpm ci\b/.test(r)), image).toBe(true);
      expect(runs.some((r) => /npm prune --omit=dev/.test(r)), image).toBe(true);
      const copied = s[1]?.instructions.filter((i) => i.op === "COPY").flatMap((i) => copyParts(i.args).sources) ?? [];
      expect(copied, image).toEqual(expect.arrayContaining(["/src/node_modules", "/src/package.json"]));
      expect(copied.some((c) => c.startsWith("/src/dist")), image).toBe(true);
    }
  });

  it("copy only files that exist in the repository, and that the ignore files let through", async () => {
    for (const [image, file] of Object.entries(DOCKERFILES) as [Image, string][]) {
      const ignore = (await readFile(join(DEPLOY, `${file}.dockerignore`), "utf8"))
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => l && !l.startsWith("#"));
      expect(ignore, `${file}.dockerignore`).toEqual(expect.arrayContaining([".git", "node_modules", "dist", ".local-stack"]));
      for (const stage of stages[image]) {
        for (const c of stage.instructions.filter((i) => i.op === "COPY" || i.op === "ADD")) {
          const { from, sources } = copyParts(c.args);
          if (from) continue; // checked against the build stage below
          for (const src of sources) {
            expect(existsSync(join(REPO, src)), `${file}: COPY ${src} (from the repository root, the build context)`).toBe(true);
            expect(ignore, `${file}: ${src} is excluded by the ignore file`).not.toContain(src.replace(/\/$/, ""));
          }
        }
      }
    }
  });

  it("copy from the build stage only what it copied in or npm ci produced (dist/ from cmd/ and internal/)", () => {
    for (const [image, file] of Object.entries(DOCKERFILES) as [Image, string][]) {
      const [build, runtime] = stages[image];
      if (!build || !runtime) throw new Error(`${file}: two stages expected`);
      const inBuild = new Set<string>();
      for (const c of build.instructions.filter((i) => i.op === "COPY")) {
        const { sources, dest } = copyParts(c.args);
        const to = posix.resolve(build.workdir, dest);
        for (const s of sources) inBuild.add(dest.endsWith("/") ? posix.join(to, posix.basename(s)) : to);
      }
      for (const c of runtime.instructions.filter((i) => i.op === "COPY")) {
        const { from, sources } = copyParts(c.args);
        if (!from) continue;
        expect(from, file).toBe("build");
        for (const src of sources) {
          const rel = posix.relative(build.workdir, src);
          const produced = rel === "node_modules" || rel === "dist" || rel.startsWith("dist/");
          const copiedIn = [...inBuild].some((d) => src === d || src.startsWith(`${d}/`));
          expect(copiedIn || produced, `${file}: COPY --from=build ${src}`).toBe(true);
          if (!produced && rel !== "package.json") {
            // Besides dist/ and node_modules, only files read at run time: never the TypeScript sources.
            expect(["cmd", "internal"], `${file}: COPY --from=build ${src} copies a whole source tree`).not.toContain(rel.replace(/\/$/, ""));
            expect(rel, file).not.toMatch(/\.ts$/);
          }
          if (rel.startsWith("dist/")) {
            // tsc's outDir mirrors the sources (rootDir "."): dist/X exists when X is compiled.
            const source = rel.slice("dist/".length);
            expect(existsSync(join(REPO, source)) && statSync(join(REPO, source)).isDirectory(), `${file}: ${src} has no source folder ${source}`).toBe(true);
            expect(inBuild.has(posix.join(build.workdir, source.split("/")[0] ?? "")), `${file}: ${source} is not copied into the build stage`).toBe(true);
          }
        }
      }
    }
  });

  it("start the package's own bin script, which the runtime stage holds", () => {
    for (const [image, file] of Object.entries(DOCKERFILES) as [Image, string][]) {
      const runtime = stages[image][1];
      if (!runtime) throw new Error(`${file}: no runtime stage`);
      const entry = runtime.instructions.filter((i) => i.op === "ENTRYPOINT");
      expect(entry, file).toHaveLength(1);
      const argv = execForm(entry[0]?.args ?? "[]");
      expect(argv[0], file).toBe("node");
      const script = posix.relative(runtime.workdir, argv[1] ?? "");
      expect(script, file).toBe(bin[BINS[image]]);
      // The compiled file comes from the TypeScript one...
      expect(existsSync(join(REPO, script.replace(/^dist\//, "").replace(/\.js$/, ".ts"))), `${file}: source of ${script}`).toBe(true);
      // ...and lies in a folder the runtime stage copies.
      const copiedTo = runtime.instructions
        .filter((i) => i.op === "COPY")
        .map((i) => posix.relative(runtime.workdir, posix.resolve(runtime.workdir, copyParts(i.args).dest)));
      expect(copiedTo.some((d) => script === d || script.startsWith(`${d}/`)), `${file}: ${script} not copied`).toBe(true);
    }
  });

  it("hold the files the code reads from its source tree at run time (packageFile(...): dashboard, OpenAPI)", async () => {
    const files = (await readdir(join(REPO, "internal"), { recursive: true })).filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts"));
    const assets: string[] = [];
    for (const f of files) {
      const text = await readFile(join(REPO, "internal", f), "utf8");
      for (const m of text.matchAll(/packageFile\(\s*import\.meta\.url\s*,\s*join\(([^)]*)\)\s*\)/g)) {
        const parts = [...(m[1] ?? "").matchAll(/"([^"]+)"/g)].map((p) => p[1] ?? "");
        assets.push(posix.join(...parts));
      }
    }
    for (const asset of assets) {
      expect(existsSync(join(REPO, asset)), `packageFile names ${asset}, which is not in the repository`).toBe(true);
      // The hub reads these; the daemon image needs none of them.
      for (const [image, file] of (Object.entries(DOCKERFILES) as [Image, string][]).filter(([image]) => image === "hub" || !asset.startsWith("internal/hub/"))) {
        const runtime = stages[image][1];
        const copiedTo = (runtime?.instructions ?? [])
          .filter((i) => i.op === "COPY")
          .map((i) => posix.relative(runtime?.workdir ?? "/", posix.resolve(runtime?.workdir ?? "/", copyParts(i.args).dest)));
        expect(copiedTo.some((d) => asset === d || asset.startsWith(`${d}/`)), `${file}: the runtime stage lacks ${asset} (read beside dist/ at run time)`).toBe(true);
      }
    }
  });

  it("run the hub as a non-root user on IPv4 listeners, with a health check", () => {
    const runtime = stages.hub[1];
    const user = runtime?.instructions.filter((i) => i.op === "USER").at(-1)?.args;
    expect(user).toBeDefined();
    expect(["root", "0", "0:0"]).not.toContain(user);
    const argv = execForm(runtime?.instructions.find((i) => i.op === "ENTRYPOINT")?.args ?? "[]");
    expect(argv.join(" ")).toContain("-grpc-listen 0.0.0.0:8443");
    expect(argv.join(" ")).toContain("-http-listen 0.0.0.0:8080");
    expect(runtime?.instructions.some((i) => i.op === "HEALTHCHECK" && i.args.includes("/healthz"))).toBe(true);
  });

  it("never put the daemon's key in the image, an env var or a command line", async () => {
    const argv = execForm(stages.daemon[1]?.instructions.find((i) => i.op === "ENTRYPOINT")?.args ?? "[]");
    expect(argv.slice(2)).toEqual(["-private-key-file", "/run/secrets/wallet.key"]);
    for (const image of Object.keys(DOCKERFILES) as Image[]) {
      expect(texts[image], image).not.toMatch(/PRIVATE_KEY\s*=|(^|\s)--?private-key(\s|=|")/m);
    }
    // The documented docker run line: the host's socket, GPUs, state at its host path, the key read-only.
    const readme = await readFile(join(DEPLOY, "README.md"), "utf8");
    const lines = readme.split("\n");
    const first = lines.findIndex((l) => l.startsWith("docker run -d --name node-daemon"));
    expect(first, "README.md: no `docker run -d --name node-daemon` line").toBeGreaterThanOrEqual(0);
    let end = first;
    while ((lines[end] ?? "").endsWith("\\")) end++;
    const runLine = lines.slice(first, end + 1).join("\n");
    expect(runLine).toContain("-v /var/run/docker.sock:/var/run/docker.sock");
    expect(runLine).toContain("--gpus all");
    expect(runLine).toContain("-v /var/lib/node-daemon:/var/lib/node-daemon");
    expect(runLine).toMatch(/-v \S+wallet\.key:\/run\/secrets\/wallet\.key:ro/);
    expect(runLine).not.toMatch(/-e \S*PRIVATE_KEY|-private-key /);
    expect(texts.daemon).toMatch(/STATE_DIRECTORY=\/var\/lib\/node-daemon/);
  });

  describe("compose.yaml", () => {
    let compose: Record<string, unknown>;
    let services: Record<string, unknown>;
    const composeDir = DEPLOY;

    beforeAll(async () => {
      compose = await loadCompose();
      services = obj(compose.services, "services");
    });

    it("runs postgres:16 with a volume and a health check, and the hub after it is healthy", () => {
      const pg = obj(services.postgres, "postgres");
      expect(pg.image).toBe("postgres:16");
      const volumes = obj(compose.volumes, "volumes");
      const pgVolume = (pg.volumes as string[]).find((v) => v.endsWith(":/var/lib/postgresql/data"))?.split(":")[0];
      expect(pgVolume && pgVolume in volumes, "postgres data on a named volume").toBe(true);
      expect((obj(pg.healthcheck, "postgres.healthcheck").test as string[]).join(" ")).toContain("pg_isready");
      const hub = obj(services.hub, "hub");
      expect(obj(obj(hub.depends_on, "hub.depends_on").postgres, "depends_on.postgres").condition).toBe("service_healthy");
    });

    it("hands the database password and URL over as secret files, never in an environment or on a command line", async () => {
      const hub = obj(services.hub, "hub");
      const pg = obj(services.postgres, "postgres");
      expect(hub.secrets).toEqual(["database_url"]);
      expect((hub.command as string[]).join(" ")).toContain("-database-url-file /run/secrets/database_url");
      expect(pg.secrets).toEqual(["postgres_password"]);
      expect(obj(pg.environment, "postgres.environment").POSTGRES_PASSWORD_FILE).toBe("/run/secrets/postgres_password");
      const text = JSON.stringify(compose);
      expect(text).not.toMatch(/DATABASE_URL"|POSTGRES_PASSWORD"|postgres:\/\//);
      expect((await readFile(join(REPO, ".gitignore"), "utf8")).split("\n")).toContain("deploy/secrets/");
    });

    it("make-secrets.sh writes the secrets compose names: 0600 files, the URL carrying the password", async () => {
      const dir = await mkdtemp(join(tmpdir(), "make-secrets-"));
      try {
        await copyFile(join(DEPLOY, "make-secrets.sh"), join(dir, "make-secrets.sh"));
        expect((await run("bash", [join(dir, "make-secrets.sh")])).code).toBe(0);
        for (const [name, def] of Object.entries(obj(compose.secrets, "secrets"))) {
          const file = join(dir, String(obj(def, name).file));
          expect(statSync(file).mode & 0o777, file).toBe(0o600);
        }
        const password = (await readFile(join(dir, "secrets", "postgres-password"), "utf8")).trim();
        expect(password).toMatch(/^[0-9a-f]{48}$/);
        expect((await readFile(join(dir, "secrets", "database-url"), "utf8")).trim()).toBe(`postgres://rental_hub:${password}@postgres:5432/rental_hub`);
        // Run again: the secrets stay as they are.
        await run("bash", [join(dir, "make-secrets.sh")]);
        expect((await readFile(join(dir, "secrets", "postgres-password"), "utf8")).trim()).toBe(password);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it("publishes 8443 and 8080 and keeps the hub's data dir (its CA) on a volume", async () => {
      const hub = obj(services.hub, "hub");
      expect(hub.ports).toEqual(expect.arrayContaining(["8443:8443", "8080:8080"]));
      const dataDir = /HUB_DATA_DIR=(\S+)/.exec(texts.hub)?.[1];
      expect(dataDir).toBe("/var/lib/rental-hub");
      const vol = (hub.volumes as string[]).find((v) => v.endsWith(`:${dataDir}`))?.split(":")[0];
      expect(vol && vol in obj(compose.volumes, "volumes"), "hub data on a named volume").toBe(true);
    });

    it("names only files that exist: build context and Dockerfile, env files, secrets, bind mounts", () => {
      const named: string[] = [];
      for (const [name, svc] of Object.entries(services)) {
        const s = obj(svc, name);
        if (s.build !== undefined) {
          const build = typeof s.build === "string" ? { context: s.build } : obj(s.build, `${name}.build`);
          const context = resolve(composeDir, String(build.context ?? "."));
          named.push(context, resolve(context, String(build.dockerfile ?? "Dockerfile")));
          expect(context, `${name}: build context is the repository root`).toBe(resolve(REPO));
        }
        for (const f of ([] as unknown[]).concat(s.env_file ?? [])) named.push(resolve(composeDir, typeof f === "string" ? f : String(obj(f, "env_file").path)));
        for (const v of (s.volumes as unknown[] | undefined) ?? []) {
          const source = typeof v === "string" ? v.split(":")[0] ?? "" : String(obj(v, "volume").source ?? "");
          if (source.startsWith(".") || source.startsWith("/")) named.push(resolve(composeDir, source));
        }
      }
      // Secret files are the operator's to make (make-secrets.sh, tested above); configs ship with the repository.
      for (const [name, def] of Object.entries(compose.configs === undefined ? {} : obj(compose.configs, "configs"))) {
        const file = obj(def, name).file;
        if (typeof file === "string") named.push(resolve(composeDir, file));
      }
      expect(named.length).toBeGreaterThan(0);
      for (const p of named) expect(existsSync(p), `compose.yaml names ${p}`).toBe(true);
    });

    it("uses only variables that deploy/env.example documents", async () => {
      const text = await readFile(join(composeDir, "compose.yaml"), "utf8");
      const used = new Set([...text.matchAll(/\$\{(\w+)/g)].map((m) => m[1] ?? ""));
      const template = await readFile(join(dirname(join(composeDir, "compose.yaml")), "env.example"), "utf8");
      const documented = new Set([...template.matchAll(/^(\w+)=/gm)].map((m) => m[1] ?? ""));
      expect(used.size).toBeGreaterThan(0);
      for (const v of used) expect(documented.has(v), `\${${v}} is not in env.example`).toBe(true);
    });
  });
});
