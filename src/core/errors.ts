/** The one error type QuantLens throws for bad user input; `file` names the file at fault. */
export class QuantLensError extends Error {
  constructor(
    /** A stable machine-readable code, e.g. `model-corrupt`, `external-data-escape`. */
    readonly code: string,
    message: string,
    /** The file the problem is in, when there is one. */
    readonly file?: string,
  ) {
    super(file ? `${file}: ${message}` : message);
    this.name = 'QuantLensError';
  }
}

/** True when `e` is a QuantLensError (also across bundles, by name and code). */
export function isQuantLensError(e: unknown): e is QuantLensError {
  return e instanceof QuantLensError || (e instanceof Error && e.name === 'QuantLensError' && 'code' in e);
}
