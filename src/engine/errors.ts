/** Turning core failures into JSON-RPC ResponseErrors the client can show (with the file and code). */
import { LSPErrorCodes, ResponseError } from 'vscode-languageserver';
import { isQuantLensError } from '../core/errors';
import { EngineErrorCodes, EngineErrorData } from '../shared/protocol';
import { JobCancelledError } from './jobs';

/** True when `e` means the job was cancelled (our error, an AbortError from the core, or an aborted signal's reason). */
export function isCancellation(e: unknown, signal?: AbortSignal): boolean {
  if (e instanceof JobCancelledError) return true;
  if (e instanceof Error && (e.name === 'AbortError' || e.name === 'JobCancelledError')) return true;
  if (isQuantLensError(e) && e.code === 'cancelled') return true;
  return !!signal?.aborted && (e === signal.reason || !(e instanceof Error) || /abort|cancel/i.test(e.message));
}

/** A ResponseError for a failure: user errors keep their code and file, cancellations use RequestCancelled. */
export function toResponseError(e: unknown, step: string, signal?: AbortSignal): ResponseError<EngineErrorData> {
  if (e instanceof ResponseError) return e as ResponseError<EngineErrorData>;
  if (isCancellation(e, signal)) return new ResponseError(LSPErrorCodes.RequestCancelled, 'cancelled', { code: 'cancelled', step });
  if (isQuantLensError(e)) return new ResponseError(EngineErrorCodes.UserError, e.message, { code: e.code, file: e.file, step });
  const msg = e instanceof Error ? e.message : String(e);
  return new ResponseError(EngineErrorCodes.InternalError, `internal error while ${step}: ${msg}`, { code: 'internal', step, stack: e instanceof Error ? e.stack : undefined });
}
