/** Folder listing and file reading for the data readers, with clear errors naming the path. */
import * as fs from 'fs';
import * as path from 'path';
import { QuantLensError } from '../errors';

/** Compares file names in natural order (`2.npy` before `10.npy`), the order samples are read in. */
export const naturalCompare = (a: string, b: string): number => a.localeCompare(b, 'en', { numeric: true, sensitivity: 'variant' });

/** The entries of a data folder (files and folders), sorted in natural order; errors name the folder. */
export function listFolder(dir: string): { files: string[]; dirs: string[] } {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'the data folder does not exist' : code === 'ENOTDIR' ? 'this is a file, not a data folder' : `the data folder cannot be read (${code ?? e})`;
    throw new QuantLensError(code === 'ENOENT' ? 'data-missing' : 'data-unreadable', why, dir);
  }
  const files: string[] = [];
  const dirs: string[] = [];
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    let isDir = e.isDirectory();
    let isFile = e.isFile();
    if (e.isSymbolicLink()) {
      try { const st = fs.statSync(path.join(dir, e.name)); isDir = st.isDirectory(); isFile = st.isFile(); } catch { isFile = true; }
    }
    if (isDir) dirs.push(e.name);
    else if (isFile) files.push(e.name);
  }
  return { files: files.sort(naturalCompare), dirs: dirs.sort(naturalCompare) };
}

/** Reads a data file; a missing or unreadable file gives a QuantLensError naming it. */
export function readDataFile(file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new QuantLensError('data-unreadable', code === 'ENOENT' ? 'the data file does not exist' : `the data file cannot be read (${code ?? e})`, file);
  }
}

/** The lower-case extension of a file name without the dot. */
export function extOf(name: string): string {
  return path.extname(name).slice(1).toLowerCase();
}
