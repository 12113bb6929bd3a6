// `npx tsx bench/qat-first-step.ts` (under `flock /tmp/ql-bench.lock`): where the time to the first QAT step of a zoo
// model goes. Runs QL_STEPS (default 2) steps of one model (QL_MODEL, default mobilenet_v2; batch 8, 224x224, 2 threads,
// the settings of bench:qat-scale) through a backend that logs every session creation and run with its start time,
// duration and model size, and the memory first touched (minor page faults) since the line before; the gaps between
// them are JavaScript (graph building, encoding, scale initialisation).
// Add `--cpu-prof` to node's arguments for a JavaScript profile. Run it with the malloc setting the product uses:
// `GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=268435456`.
import * as fs from 'fs';
import { Graph } from '../src/core/onnx/graph';
import { ortBackend } from '../src/core/runtime/ort-backend';
import { InferenceBackend, RuntimeSession } from '../src/core/runtime/backend';
import { syntheticDataSource } from '../src/core/data/synthetic';
import { readAllSamples } from '../src/core/train/batches';
import { prepareForTraining } from '../src/core/train/export';
import { runQat } from '../src/core/train/qat';
import { zooEntry } from '../test/fixtures/zoo';

/** Minor page faults of this process so far (first touches of fresh memory: about 3 ms a MB on the 2-core VM). */
function minorFaults(): number {
  return Number(fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ')[7]);
}

async function main(): Promise<void> {
  const name = process.env.QL_MODEL ?? 'mobilenet_v2';
  const model = prepareForTraining(zooEntry(name).build({ scale: 'full', seed: 1 }).model);
  const inputs = (await readAllSamples(syntheticDataSource(new Graph(model).inputs, { samples: 16 }))).inputs;
  const inner = ortBackend();
  const t0 = performance.now();
  let last = t0, faults = minorFaults();
  const log = (what: string, start: number, end = performance.now()) => {
    const gap = start - last, now = minorFaults();
    console.log(`${((start - t0) / 1000).toFixed(2).padStart(6)} s  ${(gap > 50 ? `(JS ${(gap / 1000).toFixed(2)} s) ` : '').padEnd(16)}${what.padEnd(44)} ${((end - start) / 1000).toFixed(3)} s  ${(((now - faults) * 4096) / 2 ** 20).toFixed(0).padStart(5)} MB faulted in since the last line`);
    faults = now;
    last = end;
  };
  let k = 0;
  const backend: InferenceBackend = {
    version: inner.version,
    async createSession(m, o) {
      const id = k++, t = performance.now();
      const s = await inner.createSession(m, o);
      log(`session ${id} created (${(m.length / 1e6).toFixed(1)} MB${o?.memoryPattern === false ? ', no mem pattern' : ''}${o?.arena === false ? ', no arena' : ''})`, t);
      let runs = 0;
      const wrapped: RuntimeSession = {
        inputNames: s.inputNames, outputNames: s.outputNames,
        async run(feeds, fetches, into) {
          const t1 = performance.now();
          const r = await s.run(feeds, fetches, into);
          log(`session ${id} run ${runs++}`, t1);
          return r;
        },
        release: () => s.release(),
      };
      return wrapped;
    },
  };
  let steps = 0;
  const result = await runQat({
    model, recipe: { defaults: {}, layers: {} }, data: { inputs }, batchSize: 8, steps: Number(process.env.QL_STEPS ?? 2), lr: 1e-4, threads: 2,
    progressEvery: 1, calibrationSamples: 8, stepsPerRun: process.env.QL_STEPS_PER_RUN ? Number(process.env.QL_STEPS_PER_RUN) : undefined, backend,
    onProgress: () => { const t = performance.now(); log(`progress: step ${++steps}`, t, t); },
  });
  console.log(`${name}: done in ${((performance.now() - t0) / 1000).toFixed(2)} s; losses ${result.log.map((e) => e.loss).join(', ')}`);
}

void main();
