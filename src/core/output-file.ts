/** Checking an output path before a job starts work, and writing outputs with failures named as user errors. */
import * as fs from 'fs';
import * as path from 'path';
import { QuantLensError } from './errors';
import { saveEncodedModel, writeFileAtomic } from './onnx/model-file';

/**
 * Throws a QuantLensError (naming the file) when `file` cannot be an output: an existing folder or special file
 * (device, /proc entry), a parent that is a file, or a nearest existing folder the process cannot write into.
 */
export function checkOutputFile(file: string, what = 'output'): string {
  const abs = path.resolve(file);
  let st: fs.Stats | undefined;
  try { st = fs.statSync(abs); } catch { /* does not exist yet: fine */ }
  if (st?.isDirectory()) throw new QuantLensError('output-is-folder', `the ${what} is a folder; give a file name inside it`, abs);
  if (st && !st.isFile()) throw new QuantLensError('output-not-file', `the ${what} exists and is not a regular file (a device, pipe or system file); give a new file name`, abs);
  if (abs.startsWith('/proc/') || abs.startsWith('/sys/') || abs.startsWith('/dev/')) throw new QuantLensError('output-not-file', `the ${what} is inside a system folder (/proc, /sys, /dev); give a file in a normal folder`, abs);
  let dir = path.dirname(abs);
  for (;;) {
    let ds: fs.Stats | undefined;
    try { ds = fs.statSync(dir); } catch { /* look further up */ }
    if (ds) {
      if (!ds.isDirectory()) throw new QuantLensError('output-parent-not-folder', `the ${what}'s parent ${dir} is a file, not a folder`, abs);
      try { fs.accessSync(dir, fs.constants.W_OK); } catch { throw new QuantLensError('output-not-writable', `the folder ${dir} is not writable`, abs); }
      return abs;
    }
    const up = path.dirname(dir);
    if (up === dir) return abs;
    dir = up;
  }
}

/**
 * Writes an output atomically (temp file + rename); file-system failures become QuantLensErrors naming the file.
 * Model bytes from encodeModelProto that refer to external data are saved with it (see saveEncodedModel).
 * Returns the bytes written (model file plus external data file).
 */
export function writeOutputFile(file: string, data: Uint8Array | string, what = 'output'): number {
  const abs = checkOutputFile(file, what);
  try {
    if (typeof data !== 'string') return saveEncodedModel(abs, data);
    writeFileAtomic(abs, data);
    return Buffer.byteLength(data);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (!code) throw e;
    const why = code === 'ENOSPC' ? 'the disk is full' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'EROFS' ? 'the file system is read-only' : code;
    throw new QuantLensError('output-unwritable', `the ${what} cannot be written (${why})`, abs);
  }
}
