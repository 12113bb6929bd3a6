// `npm run bench:load`: memory of loading a large model. Builds a ~500 MB ONNX model (five 5000x5000 float
// Gemm weights), then loads it in fresh child processes side by side: QuantLens' loader (weights stay views on
// the file's bytes) and a naive loader that copies every weight out of the file buffer. Prints the resident
// memory added by each, as a multiple of the file size (the target: about 1x, not 2x).
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { GraphBuilder } from '../src/core/onnx/builder';
import { Graph } from '../src/core/onnx/graph';
import { buildInventory } from '../src/core/onnx/inventory';
import { allTensors, loadModelFile, saveModelFile } from '../src/core/onnx/model-file';
import { DataType } from '../src/core/onnx/proto';

const LAYERS = 5;
const SIZE = 5000;

function buildLargeModel(file: string): void {
  const b = new GraphBuilder('large');
  let x = b.input('x', DataType.FLOAT, ['N', SIZE]);
  for (let i = 0; i < LAYERS; i++) {
    const w = new Float32Array(SIZE * SIZE);
    for (let k = 0; k < w.length; k += 97) w[k] = ((k * 2654435761) % 1000) / 1000 - 0.5;
    const wn = b.initializer(`w${i}`, { type: DataType.FLOAT, dims: [SIZE, SIZE], data: w });
    x = b.node('Gemm', [x, wn], { transB: 1 }, { name: `/layer${i}/Gemm` });
  }
  b.output(x, DataType.FLOAT, ['N', SIZE]);
  saveModelFile(file, b.model(13));
}

/** Runs in the child: loads the model in one mode and prints the RSS it added (bytes). */
function child(mode: string, file: string): void {
  global.gc?.();
  const before = process.memoryUsage().rss;
  const model = loadModelFile(file);
  if (mode === 'copy') for (const t of allTensors(model.graph!)) if (t.raw_data) t.raw_data = Uint8Array.from(t.raw_data);
  const layers = buildInventory(new Graph(model, file));
  global.gc?.();
  const after = process.memoryUsage().rss;
  process.stdout.write(JSON.stringify({ mode, added: after - before, layers: layers.length }));
}

function main(): void {
  if (process.argv[2] === '--child') return child(process.argv[3], process.argv[4]);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ql-load-'));
  const file = path.join(dir, 'large.onnx');
  try {
    buildLargeModel(file);
    const size = fs.statSync(file).size;
    console.log(`model: ${(size / 1e6).toFixed(0)} MB, ${LAYERS} Gemm layers of ${SIZE}x${SIZE} float weights`);
    for (const mode of ['views', 'copy']) {
      const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', __filename, '--child', mode, file], { encoding: 'utf8', maxBuffer: 1 << 20 });
      const r = JSON.parse(out) as { mode: string; added: number; layers: number };
      const label = mode === 'views' ? 'QuantLens loader (views on the file bytes)' : 'naive loader (weights copied)';
      console.log(`${label.padEnd(44)} RSS +${(r.added / 1e6).toFixed(0)} MB = ${(r.added / size).toFixed(2)}x the file (${r.layers} layers inventoried)`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main();
