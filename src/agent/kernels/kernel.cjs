'use strict';
// isol8 session kernel for Node.js and Bun (docs/sessions.md).
//
// One long-lived interpreter per session: every run is a script evaluated
// in the same global context, so top-level var/let/const/function/class
// declarations and globalThis persist between runs. Code that needs module
// syntax (import/export, top-level await) runs as a module instead: its
// top-level names are its own, globalThis is shared.
//
// A run is over when the event loop has nothing left to do ('beforeExit'),
// exactly as for `node main.js`. Protocol: see kernel.py (fd 3 requests,
// fd 4 replies; fds 1 and 2 are the agent's pipes for the kernel's life).
const fs = require('fs');
const path = require('path');
const vm = require('vm');
const { createRequire } = require('module');
const { Readable } = require('stream');
const { pathToFileURL } = require('url');

const CTL = 3;
const REPLY = 4;
let pending = Buffer.alloc(0);
let nonce = null; // the run's, from its request
let failed = false;
let stdinFd = -1;
let stdin = null;
let secrets = [];

function field() {
  const chunk = Buffer.alloc(65536);
  for (;;) {
    const i = pending.indexOf(0);
    if (i >= 0) {
      const value = pending.subarray(0, i).toString();
      pending = pending.subarray(i + 1);
      return value;
    }
    let n;
    try {
      n = fs.readSync(CTL, chunk, 0, chunk.length, null);
    } catch (e) {
      if (e.code === 'EAGAIN' || e.code === 'EINTR') continue;
      throw e;
    }
    if (n === 0) process.reallyExit(0); // the agent is gone
    pending = Buffer.concat([pending, chunk.subarray(0, n)]);
  }
}

function report(e) {
  failed = true;
  let text = e instanceof Error && e.stack ? e.stack : `Uncaught ${e}`;
  // The stack ends where this kernel called the user's code.
  const lines = text.split('\n');
  const ours = lines.findIndex((l) => /\((node:vm:|.*kernel\.cjs:)|at runInThisContext /.test(l));
  if (ours > 0) text = lines.slice(0, ours).join('\n');
  try {
    fs.writeSync(2, `${text}\n`);
  } catch {
    // stderr is gone: the exit code still says it failed
  }
}

// Each run's stdin is a fresh stream over that run's FIFO, which is fd 0
// too (for readFileSync(0) and child processes). The kernel owns the fd:
// a run ends only when the loop is empty, so no read is pending then.
Object.defineProperty(process, 'stdin', {
  configurable: true,
  enumerable: true,
  get() {
    if (stdin === null) {
      stdin = new Readable({
        read(size) {
          fs.read(stdinFd, Buffer.alloc(Math.max(size, 65536)), 0,
            Math.max(size, 65536), null, (err, n, buf) => {
              if (err) this.destroy(err);
              else this.push(n > 0 ? buf.subarray(0, n) : null);
            });
        },
      });
      stdin.fd = stdinFd;
    }
    return stdin;
  },
});

function start() {
  for (;;) {
    const kind = field();
    nonce = field();
    if (kind !== 'P') break;
    fs.writeSync(REPLY, `I ${nonce}\n`); // the agent's idle check
  }
  const stdinPath = field();
  const argv = Array.from({ length: Number(field()) }, field);
  const env = Array.from({ length: Number(field()) }, field);
  secrets = Array.from({ length: Number(field()) }, field);
  for (const kv of env) {
    const eq = kv.indexOf('=');
    process.env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  fs.closeSync(0); // so that the FIFO becomes fd 0
  stdinFd = fs.openSync(stdinPath, 'r');
  fs.writeSync(REPLY, `S ${nonce}\n`);

  const file = argv[1];
  failed = false;
  process.exitCode = undefined;
  process.argv = [process.execPath, file, ...argv.slice(2)];
  globalThis.require = createRequire(path.join(process.cwd(), '/'));
  globalThis.__filename = file;
  globalThis.__dirname = path.dirname(file);
  let source = fs.readFileSync(file, 'utf8');
  if (typeof Bun !== 'undefined' && /\.tsx?$/.test(file)) {
    try { // TypeScript: strip the types, keep the script's declarations
      source = new Bun.Transpiler({ loader: 'ts' }).transformSync(source);
    } catch {
      // the module path below reports the syntax error
    }
  }
  let script;
  try {
    script = new vm.Script(source.replace(/^#!.*/, ''), {
      filename: file,
      importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
    });
  } catch (e) {
    if (!(e instanceof SyntaxError)) {
      report(e);
      return;
    }
    import(`${pathToFileURL(file).href}?run=${nonce}`).catch(report);
    return;
  }
  try {
    script.runInThisContext({ displayErrors: true });
  } catch (e) {
    report(e);
  }
}

function finish() {
  const code = failed ? 1 : Number(process.exitCode ?? 0) & 0xff;
  process.exitCode = undefined;
  if (stdin !== null) stdin.destroy();
  stdin = null;
  fs.closeSync(stdinFd);
  fs.openSync('/dev/null', 'r'); // fd 0 again
  for (const key of secrets) delete process.env[key]; // the run's only
  fs.writeSync(REPLY, `D ${nonce} ${code}\n`);
}

process.on('uncaughtException', report);
process.on('unhandledRejection', report);
// The loop is empty: the run (if any) is over. The next one starts from
// an immediate, so that the loop stays alive whatever that run schedules.
process.on('beforeExit', () => setImmediate(() => {
  if (nonce !== null) finish();
  start();
}));
