/** Running V8's garbage collector on purpose, where a phase leaves weight-sized garbage behind. */
import * as v8 from 'v8';
import * as vm from 'vm';

let gc: (() => void) | undefined | null = null;

/**
 * Collects garbage now (the `gc` V8 exposes with --expose-gc, enabled at first use). For a phase that read
 * weight-sized buffers and is followed by long native work allocating little in JavaScript: V8 would otherwise keep
 * them (gigabytes of RSS for a 2.4 GB model) until its next allocation-driven collection. No-op when unavailable.
 */
export function collectGarbage(): void {
  if (gc === null) {
    try {
      v8.setFlagsFromString('--expose-gc');
      gc = vm.runInNewContext('gc') as () => void;
    } catch {
      gc = undefined;
    }
  }
  gc?.();
}
