/** What every CLI command gets: output streams, exit codes, and small formatting helpers. */

/** Exit codes of the quantlens command. */
export const EXIT = {
  /** Success. */
  OK: 0,
  /** Bad input: a model, data or recipe file QuantLens cannot use (the message names the file). */
  BAD_INPUT: 1,
  /** Usage error: unknown command or option, missing argument. */
  USAGE: 2,
  /** Internal error: a bug in QuantLens (please report it with QUANTLENS_DEBUG=1 output). */
  INTERNAL: 3,
} as const;

/** The help text that documents the exit codes (shown by `quantlens --help` and each command's help). */
export const EXIT_CODES_HELP = `
Exit codes:
  0  success
  1  bad input: a model, data or recipe file that cannot be used (the message names the file)
  2  usage error: unknown command or option, missing or invalid argument
  3  internal error (set QUANTLENS_DEBUG=1 to print the stack)`;

/** Where a command writes: stdout for results, stderr for progress and messages. */
export interface CliIO {
  out(text: string): void;
  err(text: string): void;
  /** The stream progress bars draw on (a TTY gets a redrawn line). */
  progressStream: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
}

let pipeGuard = false;

/** The process's own streams (a closed stdout pipe, as with `| head`, ends the process quietly). */
export function processIO(): CliIO {
  if (!pipeGuard) {
    pipeGuard = true;
    process.stdout.on('error', (e: NodeJS.ErrnoException) => { if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0); else throw e; });
  }
  return {
    out: (t) => { process.stdout.write(t.endsWith('\n') ? t : `${t}\n`); },
    err: (t) => { process.stderr.write(t.endsWith('\n') ? t : `${t}\n`); },
    progressStream: process.stderr,
  };
}

/** Bytes as `1.23 MB` (decimal units). */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n / 1000;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) { v /= 1000; u++; }
  return `${v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ${units[u]}`;
}

/** A count as `1.23M`, `45.6k` or `789`. */
export function formatCount(n: number | undefined): string {
  if (n === undefined) return '?';
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return String(n);
}

/** A plain-text table with left-aligned text columns and right-aligned numeric ones. */
export function formatTable(header: string[], rows: string[][], numeric: boolean[] = []): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (numeric[i] ? (c ?? '').padStart(widths[i]) : (c ?? '').padEnd(widths[i]))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}
