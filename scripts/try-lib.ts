// Pure helpers of `npm run try` (scripts/try.ts): command-line options and the workbench URL that loads the
// extension from source in code-server. No I/O here, so test/unit/try-lib.test.ts can check them.

/** Options of `npm run try`. */
export interface TryOptions {
  /** Port to bind on 127.0.0.1. */
  port: number;
  /** True when the port was asked for (`--port`, `QUANTLENS_TRY_PORT`): then a busy port is an error, not a fallback. */
  portExplicit: boolean;
  /** Sample workspace folder (absolute or relative to the repository). */
  workspace?: string;
  /** Delete and re-create the sample workspace first. */
  reset: boolean;
  /** Launch Chromium on the URL. */
  open: boolean;
  /** Train the small MNIST CNN into the workspace (about 2 s, once). */
  mnist: boolean;
  /** Print usage and exit. */
  help: boolean;
}

/** The port used when none is asked for. */
export const DEFAULT_TRY_PORT = 8080;

/** Usage text of `npm run try -- [options]`. */
export const TRY_USAGE = `Usage: npm run try -- [--port N] [--workspace DIR] [--reset] [--open] [--no-mnist]
  --port N         port on 127.0.0.1 (or QUANTLENS_TRY_PORT; default ${DEFAULT_TRY_PORT}, a free one if that is taken)
  --workspace DIR  sample workspace folder (default .cache/try-workspace)
  --reset          re-create the sample workspace (your edits there are lost)
  --open           launch Chromium on the URL
  --no-mnist       skip training the small MNIST CNN (about 2 s, done once)`;

/** Parses a port number, or throws an Error naming where it came from. */
export function parsePort(text: string, source: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`${source}: '${text}' is not a port (1-65535)`);
  return n;
}

/** Parses `npm run try` arguments and environment (`QUANTLENS_TRY_PORT`); throws an Error on unknown or malformed options. */
export function parseTryOptions(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): TryOptions {
  const o: TryOptions = { port: DEFAULT_TRY_PORT, portExplicit: false, reset: false, open: false, mnist: true, help: false };
  if (env.QUANTLENS_TRY_PORT) { o.port = parsePort(env.QUANTLENS_TRY_PORT, 'QUANTLENS_TRY_PORT'); o.portExplicit = true; }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const eq = a.indexOf('=');
    const [flag, inline] = a.startsWith('--') && eq > 0 ? [a.slice(0, eq), a.slice(eq + 1)] : [a, undefined];
    const value = (): string => {
      if (inline !== undefined) return inline;
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--port': case '-p': o.port = parsePort(value(), '--port'); o.portExplicit = true; break;
      case '--workspace': o.workspace = value(); break;
      case '--reset': o.reset = true; break;
      case '--open': o.open = true; break;
      case '--no-mnist': o.mnist = false; break;
      case '--help': case '-h': o.help = true; break;
      default: throw new Error(`unknown option '${a}'\n${TRY_USAGE}`);
    }
  }
  return o;
}

/** The `payload` query value that makes code-server's workbench load an extension from a folder on the server. */
export function extensionPayload(host: string, port: number, extensionPath: string): string {
  return JSON.stringify([['extensionDevelopmentPath', `vscode-remote://${host}:${port}${toPosix(extensionPath)}`]]);
}

/** The URL that opens `folder` in code-server with the extension at `extensionPath` loaded from source. */
export function workbenchUrl(host: string, port: number, folder: string, extensionPath: string): string {
  return `http://${host}:${port}/?folder=${encodeURIComponent(toPosix(folder))}&payload=${encodeURIComponent(extensionPayload(host, port, extensionPath))}`;
}

function toPosix(p: string): string {
  const s = p.replace(/\\/g, '/');
  return s.startsWith('/') ? s : `/${s}`;
}
