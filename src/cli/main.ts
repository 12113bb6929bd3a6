/** The `quantlens` command line: parses arguments with commander, runs a command, maps errors to exit codes. */
import { spawn } from 'child_process';
import { Worker } from 'worker_threads';
import * as os from 'os';
import { Command, CommanderError } from 'commander';
import { isQuantLensError } from '../core/errors';
import { ortBackend } from '../core/runtime/ort-backend';
import { COMMANDS } from './commands';
import { CliIO, EXIT, EXIT_CODES_HELP, formatBytes, processIO } from './context';
import { mallocSettled, withMallocTuning } from '../shared/malloc-env';

const VERSION = '0.1.0';

/** Builds the commander program with every command registered, writing through `io`. */
export function buildProgram(io: CliIO): Command {
  const program = new Command('quantlens');
  program
    .description('Per-layer quantization sensitivity analysis, mixed precision and QDQ export for ONNX models (onnxruntime-node).')
    .version(VERSION, '-V, --version')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.replace(/\n$/, '')), writeErr: (s) => io.err(s.replace(/\n$/, '')) })
    .showHelpAfterError('(add --help for usage)')
    .addHelpText('after', EXIT_CODES_HELP);
  for (const register of COMMANDS) register(program, io);
  return program;
}

/** Runs the CLI on `argv` (without node and script) and returns the exit code; never throws. */
export async function runCli(argv: string[], io: CliIO = processIO()): Promise<number> {
  const program = buildProgram(io);
  // big models take seconds to load in ONNX Runtime: say so, so that a long silence is not taken for a hang
  // (once a model of that size loaded in under 2 s, its later loads are not announced)
  const quick = new Set<number>();
  ortBackend().onBigModelLoad = (e) => {
    if (quick.has(e.bytes)) return;
    if (e.phase === 'done' && e.seconds! < 2) quick.add(e.bytes);
    io.progressStream.write(e.phase === 'start' ? `Loading the model in ONNX Runtime (${formatBytes(e.bytes)})...\n` : `Loaded in ${e.seconds!.toFixed(1)} s\n`);
  };
  if (argv.length === 0) {
    program.outputHelp();
    return EXIT.USAGE;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    return EXIT.OK;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    if (isQuantLensError(e)) {
      io.err(`quantlens: ${e.message}`);
      return EXIT.BAD_INPUT;
    }
    const err = e instanceof Error ? e : new Error(String(e));
    io.err(`quantlens: internal error: ${err.message}`);
    if (process.env.QUANTLENS_DEBUG) io.err(err.stack ?? '');
    else io.err('(set QUANTLENS_DEBUG=1 to print the stack trace, and please report it)');
    return EXIT.INTERNAL;
  }
}

/**
 * Runs the CLI as this process's command. On Linux without the malloc settings of withMallocTuning it first restarts
 * itself once with them (they only take effect at a process's start), passes SIGTERM and SIGHUP on and its exit code
 * or signal back; the restarted process ends when this one is killed.
 */
export function runCliProcess(argv: string[]): void {
  if (mallocSettled(process.env)) {
    // the restarted CLI goes with its parent when that one is killed outright (SIGKILL, a CI timeout); watched from a
    // thread of its own, since the analysis keeps the main thread busy for seconds at a time
    const parent = Number(process.env.QUANTLENS_CLI_PARENT);
    if (parent && process.ppid !== parent) process.kill(process.pid, 'SIGKILL'); // gone before this one started
    if (parent) new Worker(PARENT_WATCH, { eval: true, workerData: parent }).unref();
    runCli(argv).then((code) => { process.exitCode = code; });
    return;
  }
  // `qat` adds transparent huge pages: its step session's first run touches about a GB of fresh memory (see malloc-env.ts)
  const env = { ...withMallocTuning(process.env, process.platform, { hugePages: argv[0] === 'qat' }), QUANTLENS_CLI_PARENT: String(process.pid) };
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1], ...argv], { stdio: 'inherit', env });
  // Ctrl-C reaches the child from the terminal itself (a QAT run stops after its step): passing it on would be a second one
  const onInt = () => {};
  process.on('SIGINT', onInt);
  const forward = (sig: NodeJS.Signals) => () => child.kill(sig);
  process.on('SIGTERM', forward('SIGTERM'));
  process.on('SIGHUP', forward('SIGHUP'));
  child.on('error', () => { // could not start it: run here, as before
    process.removeListener('SIGINT', onInt);
    runCli(argv).then((code) => { process.exitCode = code; });
  });
  child.on('exit', (code, signal) => {
    process.exitCode = code ?? (signal ? 128 + (os.constants.signals[signal] ?? 0) : 1);
    process.removeListener('SIGINT', onInt);
  });
}

/** The restarted CLI's watch on its parent (a worker's code): gone, it ends the whole process as the parent was. */
const PARENT_WATCH = `const { workerData } = require('worker_threads');
setInterval(() => { if (process.ppid !== workerData) process.kill(process.pid, 'SIGKILL'); }, 250);`;

// run as a script (tests, benches, `tsx src/cli/main.ts`): no restart; the installed command (bin/quantlens.js) restarts
if (require.main === module) runCli(process.argv.slice(2)).then((code) => { process.exitCode = code; });
