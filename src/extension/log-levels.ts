/** The level of each line the engine writes to stderr, for the QuantLens output channel. Pure; no vscode import. */
import { ENGINE_STEP_PREFIX } from '../shared/protocol';

/** A LogOutputChannel level. */
export type LogLevel = 'trace' | 'info' | 'warn' | 'error';

/**
 * Job steps (the crash-report lines) are traces; ONNX Runtime's `[E:` / `[W:` lines and stack traces are errors and
 * warnings; everything else the engine prints is information (the language client would tag all of stderr `[error]`).
 */
export function engineLineLevel(line: string): LogLevel {
  if (line.startsWith(ENGINE_STEP_PREFIX)) return 'trace';
  if (/\[E:onnxruntime|^\s*(Uncaught|Unhandled|Error\b|TypeError|RangeError)|^\s+at \S+ \(/.test(line)) return 'error';
  if (/\[W:onnxruntime|^\s*(Warning|warning)\b|\bDeprecationWarning\b/.test(line)) return 'warn';
  return 'info';
}
