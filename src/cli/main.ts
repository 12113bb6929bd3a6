/** The `quantlens` command line: parses arguments with commander, runs a command, maps errors to exit codes. */
import { Command, CommanderError } from 'commander';
import { isQuantLensError } from '../core/errors';
import { ortBackend } from '../core/runtime/ort-backend';
import { COMMANDS } from './commands';
import { CliIO, EXIT, EXIT_CODES_HELP, formatBytes, processIO } from './context';

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

if (require.main === module) {
  runCli(process.argv.slice(2)).then((code) => { process.exitCode = code; });
}
