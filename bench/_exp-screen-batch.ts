import * as fs from 'fs';
import { analyzeModel } from '../src/core/analysis/analyze';
import { openDataSource } from '../src/core/data/open';
import { Graph } from '../src/core/onnx/graph';
import { loadModelFile, saveModelFile } from '../src/core/onnx/model-file';
import { buildZooModel } from '../test/fixtures/zoo';

function spearman(a: number[], b: number[]): number {
  const rank = (v: number[]) => { const idx = v.map((x, i) => [x, i] as const).sort((p, q) => p[0] - q[0]); const r = new Array(v.length); idx.forEach(([, i], k) => (r[i] = k)); return r; };
  const ra = rank(a), rb = rank(b); const n = a.length; const m = (n - 1) / 2;
  let num = 0, da = 0, db = 0; for (let i = 0; i < n; i++) { num += (ra[i] - m) * (rb[i] - m); da += (ra[i] - m) ** 2; db += (rb[i] - m) ** 2; }
  return num / Math.sqrt(da * db);
}
(async () => {
  const name = process.argv[2]; const sb = Number(process.argv[3]);
  const file = `/tmp/ql-scale-bench/${name}.onnx`;
  fs.mkdirSync('/tmp/ql-scale-bench', { recursive: true });
  if (!fs.existsSync(file)) saveModelFile(file, buildZooModel(name, { scale: 'full', seed: 1 }));
  const model = loadModelFile(file); const graph = new Graph(model, file);
  const data = openDataSource({ kind: 'synthetic' }, graph.inputs, { samples: 16 });
  const r = await analyzeModel({ modelPath: file, model, data, batchSize: 8, measure: 'all', allButOne: false, formats: ['w4a8', 'w8a8'], screeningBatchSize: sb, resume: false } as any);
  const pairs = r.layers.flatMap((l) => Object.entries(l.formats).filter(([, f]) => f.estimate !== undefined && f.isolated).map(([k, f]) => [f.estimate!, f.isolated!.sqnrDb, l.name, k] as const));
  for (const fk of ['w4a8', 'w8a8']) {
    const p = pairs.filter((x) => x[3] === fk);
    const lowE = p.slice().sort((a, b) => a[0] - b[0])[0]?.[2], lowM = p.slice().sort((a, b) => a[1] - b[1])[0]?.[2];
    console.log(name, 'sb', sb, fk, 'n', p.length, 'spearman', spearman(p.map((x) => x[0]), p.map((x) => x[1])).toFixed(3), 'same top', lowE === lowM, lowE, lowM);
  }
  const ph = (r.timings as any).phases?.["screening"] ?? Object.keys((r.timings as any).phases ?? {});
  console.log('screening ms', (r.timings as any).screeningMs?.toFixed(0), JSON.stringify(ph));
})();
