/** Training checkpoints: step, parameters, optimizer state and scales in one file written atomically. */
import * as fs from 'fs';
import { QuantLensError } from '../errors';
import { writeFileAtomic } from '../onnx/model-file';
import { TrainingLogEntry } from '../../shared/training';

/** What a checkpoint holds. */
export interface Checkpoint {
  step: number;
  seed: number;
  /** Float tensors by name (params, optimizer state, scales). */
  tensors: Map<string, Float32Array>;
  log: TrainingLogEntry[];
}

const MAGIC = 'QLCK1';

/** Writes a checkpoint atomically (temp file + rename). */
export function saveCheckpoint(path: string, c: Checkpoint): void {
  const entries: { name: string; offset: number; length: number }[] = [];
  let offset = 0;
  for (const [name, t] of c.tensors) { entries.push({ name, offset, length: t.length }); offset += t.length; }
  const header = Buffer.from(JSON.stringify({ step: c.step, seed: c.seed, log: c.log, entries }), 'utf8');
  const out = Buffer.alloc(MAGIC.length + 4 + header.length + offset * 4 + 8);
  out.write(MAGIC, 0, 'latin1');
  out.writeUInt32LE(header.length, MAGIC.length);
  header.copy(out, MAGIC.length + 4);
  const dataStart = Math.ceil((MAGIC.length + 4 + header.length) / 4) * 4;
  const data = new Float32Array(out.buffer, out.byteOffset + dataStart, offset);
  for (const e of entries) data.set(c.tensors.get(e.name)!, e.offset);
  writeFileAtomic(path, out.subarray(0, dataStart + offset * 4));
}

/** Reads a checkpoint, or undefined when the file does not exist. */
export function loadCheckpoint(path: string): Checkpoint | undefined {
  if (!fs.existsSync(path)) return undefined;
  const buf = fs.readFileSync(path);
  if (buf.subarray(0, MAGIC.length).toString('latin1') !== MAGIC) throw new QuantLensError('checkpoint-corrupt', 'not a QuantLens training checkpoint', path);
  try {
    const hl = buf.readUInt32LE(MAGIC.length);
    const header = JSON.parse(buf.subarray(MAGIC.length + 4, MAGIC.length + 4 + hl).toString('utf8'));
    const dataStart = Math.ceil((MAGIC.length + 4 + hl) / 4) * 4;
    const copy = new Uint8Array(buf.subarray(dataStart));
    const data = new Float32Array(copy.buffer, 0, copy.byteLength / 4);
    const tensors = new Map<string, Float32Array>();
    for (const e of header.entries as { name: string; offset: number; length: number }[]) tensors.set(e.name, data.slice(e.offset, e.offset + e.length));
    return { step: header.step, seed: header.seed, log: header.log, tensors };
  } catch (e) {
    throw new QuantLensError('checkpoint-corrupt', `the checkpoint cannot be read: ${e instanceof Error ? e.message : e}`, path);
  }
}
