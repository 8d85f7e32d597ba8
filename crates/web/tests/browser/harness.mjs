// Starts a Stagecoach server for browser tests: the real binary on a scratch database, on
// a free loopback port; reads the token it prints on first start. The database is a new
// SQLite file, or with STAGECOACH_BROWSER_ENGINE=postgres a new schema on the server that
// STAGECOACH_TEST_POSTGRES_URL names (created and dropped with psql).
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dirname, "../../../..");

/// playwright-core, as `.ci/run` installs it (npm, into target/e2e).
export function playwright() {
  const from = process.env.STAGECOACH_E2E_MODULES || join(ROOT, "target/e2e/");
  return createRequire(from)("playwright-core");
}

/// Debian's chromium, headless, through playwright-core.
export function launchBrowser() {
  return playwright().chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox"],
  });
}

function freePort() {
  return new Promise((done, fail) => {
    const probe = createServer();
    probe.once("error", fail);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => done(port));
    });
  });
}

/// A fresh database: its URL, and how to drop it.
function scratchDatabase(folder) {
  if (process.env.STAGECOACH_BROWSER_ENGINE !== "postgres") {
    return { url: `sqlite://${join(folder, "ui.db")}`, drop: () => {} };
  }
  const base = process.env.STAGECOACH_TEST_POSTGRES_URL;
  if (!base) throw new Error("STAGECOACH_BROWSER_ENGINE=postgres needs STAGECOACH_TEST_POSTGRES_URL");
  const schema = `sc_test_browser_${process.pid}_${Math.floor(Math.random() * 1e9)}`;
  const psql = (sql) => execFileSync("psql", [base, "-v", "ON_ERROR_STOP=1", "-qAtc", sql], { stdio: "pipe" });
  try {
    psql("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public");
  } catch {
    // Another test process installed it meanwhile.
  }
  psql(`CREATE SCHEMA ${schema}`);
  const separator = base.includes("?") ? "&" : "?";
  return {
    url: `${base}${separator}options=-c%20search_path%3D${schema}`,
    drop: () => psql(`DROP SCHEMA IF EXISTS ${schema} CASCADE`),
  };
}

/// `settings.env`: more of the server's environment (its configuration).
export async function startServer(settings = {}) {
  const binary = process.env.STAGECOACH_BIN || join(ROOT, "target/release/stagecoach");
  const folder = mkdtempSync(join(tmpdir(), "stagecoach-browser-"));
  const database = scratchDatabase(folder);
  const port = await freePort();
  const env = {
    ...process.env,
    STAGECOACH_DATABASE_URL: database.url,
    STAGECOACH_SECRET_KEY_FILE: join(folder, "secret.key"),
    RUST_LOG: "warn",
    ...settings.env,
  };
  const child = spawn(binary, ["serve", "--listen", `127.0.0.1:${port}`], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const token = await new Promise((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`no token printed:\n${output}`)), 60_000);
    const read = (chunk) => {
      output += chunk;
      const found = output.match(/sc_[A-Za-z0-9]{40}/);
      if (found) {
        clearTimeout(timer);
        done(found[0]);
      }
    };
    child.stdout.on("data", read);
    child.stderr.on("data", read);
    child.once("exit", (code) => fail(new Error(`the server exited (${code}):\n${output}`)));
  });
  const org = output.match(/created organization ([0-9a-f-]{36})/)?.[1];
  const base = `http://127.0.0.1:${port}`;
  /// The binary's command line on the same database; answers its stdout.
  const cli = (args) => execFileSync(binary, args, { env, encoding: "utf8" }).trim();
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) break;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  const api = async (method, path, body) => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };
  const exited = new Promise((done) => child.once("exit", done));
  const stop = async () => {
    child.kill("SIGTERM");
    await exited;
    database.drop();
    rmSync(folder, { recursive: true, force: true });
  };
  return { base, token, org, api, cli, stop };
}
