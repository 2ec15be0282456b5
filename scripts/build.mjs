#!/usr/bin/env node
// `npm run build`: dist/ for the package and the sidecar.
//
//   1. tsc (tsconfig.build.json): the library as modules, with declarations — what
//      `import 'elexirion'` and `import 'elexirion/sidecar'` load. tsc is TypeScript 7, the
//      native compiler (devDependency `typescript-7`): a third of TypeScript 5's CPU time, the
//      same JavaScript. TypeScript 5.9 (`typescript`) stays for what needs the compiler's
//      JavaScript API, which TypeScript 7 does not have yet: typedoc and the API audit test.
//   2. esbuild: the `elexirion` CLI (the sidecar is `elexirion serve`) bundled into dist/bin/, and
//      dist/cli.js, the launcher that loads it.
//
// Why a bundle for the CLI: unbundled, a sidecar loads about 160 modules before it answers
// `initialize` and a few hundred more for its first run (zod alone is 95 files), and resolving,
// reading and compiling them was half of a sidecar's CPU time. Bundled (and with zod imported as
// a namespace, so its unused parts are left out), a sidecar answers on a little over half the CPU
// (bench/startup.bench.mjs). The code is the same: esbuild compiles src/ one file at a time, as
// vitest does for the unit suites (tsconfig sets isolatedModules, so no file depends on another's
// types to compile). Everything lands flat in dist/bin/, two levels below package.json as src/x/
// and dist/x/ are, so the paths the code resolves from its own URL (package.json, the YAML
// worker) hold in all three layouts.
//
// The exit status is tsc's: its type errors fail `npm run build`, though JavaScript is still
// emitted and the bundle still written.
//
// --if-stale: builds only when dist/cli.js is older than an input (or missing), and exits
// non-zero only when dist/ is still out of date afterwards. The test suites call it so that a
// suite run alone never starts an out-of-date sidecar; a type error elsewhere in the tree does
// not stop them, the tests judge the result. Concurrent callers wait on a lock, and one builds.
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const launcher = join(dist, 'cli.js');
const bundleDir = join(dist, 'bin');

/** Newest modification time of the files under `dir` whose names pass `keep`. */
function newestMtime(dir, keep) {
  let max = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) max = Math.max(max, newestMtime(path, keep));
    else if (keep(entry.name)) max = Math.max(max, statSync(path).mtimeMs);
  }
  return max;
}

/** dist/ is older than a source file, a compiler setting or this script, or missing. */
export function buildIsStale() {
  if (!existsSync(launcher)) return true;
  const inputs = Math.max(
    newestMtime(join(root, 'src'), (name) => name.endsWith('.ts')),
    ...['tsconfig.json', 'tsconfig.build.json', 'package.json', 'scripts/build.mjs'].map((f) => statSync(join(root, f)).mtimeMs),
  );
  return inputs > statSync(launcher).mtimeMs;
}

/**
 * Runs tsc; resolves to its exit status. Asynchronous, so the bundle is built meanwhile.
 * `--singleThreaded`: tsc 7 otherwise checks on several threads that each redo part of the
 * work; on two cores shared with esbuild it took more wall time and twice the CPU.
 */
function tsc() {
  const child = spawn(process.execPath, [join(root, 'node_modules/typescript-7/bin/tsc'), '-p', 'tsconfig.build.json', '--singleThreaded'], {
    cwd: root,
    stdio: 'inherit',
  });
  return new Promise((resolve) => {
    child.on('error', () => resolve(1));
    child.on('close', (code) => resolve(code ?? 1));
  });
}

async function bundle() {
  const esbuild = await import('esbuild');
  // Written beside the old bundle and swapped in whole, so a sidecar starting meanwhile loads
  // either bundle, never a mix of the two.
  const fresh = `${bundleDir}.new-${process.pid}`;
  rmSync(fresh, { recursive: true, force: true });
  await esbuild.build({
    absWorkingDir: root,
    entryPoints: { cli: 'src/cli.ts', yaml_worker: 'src/pipeline/yaml_worker.ts' },
    outdir: fresh,
    bundle: true,
    splitting: true, // `serve` and `report` load only their own code, as the modules did
    format: 'esm',
    platform: 'node',
    target: 'node20',
    sourcemap: 'linked',
    sourcesContent: false, // the maps point at src/ and node_modules/ rather than carry them
    chunkNames: 'chunk-[hash]',
    // The CommonJS dependencies (pino, vscode-jsonrpc) call require() for Node's built-ins.
    banner: { js: "import { createRequire as __elexirionCreateRequire } from 'node:module'; const require = __elexirionCreateRequire(import.meta.url);" },
    logLevel: 'warning',
  });
  const old = `${bundleDir}.old-${process.pid}`;
  if (existsSync(bundleDir)) renameSync(bundleDir, old);
  renameSync(fresh, bundleDir);
  rmSync(old, { recursive: true, force: true });
}

/**
 * The bin: a stable path (package.json `bin`, the Elixir client's default script) that loads
 * the bundle. Written last: its mtime is what --if-stale compares.
 */
function writeLauncher() {
  const tmp = `${launcher}.tmp-${process.pid}`;
  writeFileSync(tmp, "#!/usr/bin/env node\n// The elexirion CLI; its code is bundled in ./bin (scripts/build.mjs).\nimport './bin/cli.js';\n");
  chmodSync(tmp, 0o755);
  renameSync(tmp, launcher);
}

/** The pid that holds `lock`, or undefined while it is being taken (no pid written yet). */
function lockOwner(lock) {
  try {
    return Number(readFileSync(join(lock, 'pid'), 'utf8'));
  } catch {
    return undefined;
  }
}

function lockAgeMs(lock) {
  try {
    return Date.now() - statSync(lock).mtimeMs;
  } catch {
    return 0;
  }
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

/**
 * Runs `fn` holding dist/.build-lock. A build killed before it could remove the lock (kill -9,
 * a closed terminal) leaves it behind: a lock whose owner is gone is taken over rather than
 * waited on for minutes.
 */
async function withLock(fn) {
  const lock = join(dist, '.build-lock');
  mkdirSync(dist, { recursive: true });
  const started = Date.now();
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'pid'), String(process.pid));
      break;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
      const owner = lockOwner(lock);
      // No pid a few seconds after the lock was made: left by a build killed between the two
      // steps, or by an earlier version of this script that wrote none.
      const orphaned = owner === undefined ? lockAgeMs(lock) > 5_000 : !alive(owner);
      if (orphaned) {
        // Renamed away before removal: the lock path is free again at once. Two waiters that
        // see the same dead owner at the same moment can both go on to build; each swaps in a
        // whole bundle, so the worst case is a build done twice.
        const stale = `${lock}.stale-${process.pid}`;
        try {
          renameSync(lock, stale);
          rmSync(stale, { recursive: true, force: true });
        } catch {}
        continue;
      }
      if (Date.now() - started > 180_000) throw new Error(`timed out waiting for the build lock ${lock} (held by pid ${owner})`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  // Ctrl-C or SIGTERM during the build: remove the lock on the way out.
  const release = () => rmSync(lock, { recursive: true, force: true });
  const onSignal = (sig) => {
    release();
    process.kill(process.pid, sig);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await fn();
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    release();
  }
}

/** tsc and the bundle side by side (neither reads the other's output), then the launcher. */
async function build() {
  const [status] = await Promise.all([tsc(), bundle()]);
  writeLauncher();
  return status;
}

async function main() {
  if (!process.argv.includes('--if-stale')) return withLock(build);
  if (!buildIsStale()) return 0;
  await withLock(async () => {
    if (!buildIsStale()) return; // built by whoever held the lock
    process.stdout.write('dist/ is missing or older than src/: building it (scripts/build.mjs)\n');
    await build();
  });
  return buildIsStale() ? 1 : 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = await main();
}
